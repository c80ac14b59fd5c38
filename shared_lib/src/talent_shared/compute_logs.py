"""Step logs in S3 under one prefix per team, so a team's IAM role can write only its own.

Dagster's ``S3ComputeLogManager`` keys every log under one instance-wide prefix
(``<prefix>/storage/<run id>/compute_logs/<step>.err``), so every team's role had to be allowed to
write anywhere under it: one team could overwrite, or plant, the logs the UI shows for another's
runs. :class:`TeamS3ComputeLogManager` puts the team (the code location's name) after the prefix,
``<prefix>/<location>/storage/...``, and Terraform's ``team_iam`` grants each team's role
``PutObject`` on ``<prefix>/<team>/*`` alone (the platform's role reads the whole prefix).

Which team a key belongs to:

* in a team's own pods (code server, run and step pods) it is ``TALENT_CODE_LOCATION``, which the
  code-location chart sets to the location's name: the only prefix that pod's role may write;
* elsewhere (the webserver showing logs) it is the code location of the run the key names, read
  from the run storage; a key that names no run (a sensor's or schedule's tick) is looked for under
  each location of ``locations`` in turn.

The IAM policy, not the variable, is the boundary: a pod that names another team writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import Array, Field, StringSource
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

LOCATION_ENV = "TALENT_CODE_LOCATION"
OWNERS_REMEMBERED = 10_000  # run ids whose location the webserver keeps (a run's never changes)


# The run tag Dagster sets to the run's code location (dagster._core.storage.tags.CODE_LOCATION_TAG,
# not exported publicly; shared_lib/tests/test_compute_logs.py fails if Dagster changes it).
CODE_LOCATION_TAG = "dagster/code_location"


class TeamS3ComputeLogManager(S3ComputeLogManager):
    """``S3ComputeLogManager`` with the code location between the prefix and ``storage``."""

    def __init__(
        self,
        bucket: str,
        locations: Sequence[str] = (),
        inst_data: Any = None,  # Dagster's ConfigurableClassData (dagster._serdes, not public)
        **kwargs: Any,
    ):
        super().__init__(bucket, inst_data=inst_data, **kwargs)
        self._locations = list(locations)
        self._owner: dict[str, str] = {}  # first namespace element (a run id) -> its location

    @classmethod
    def config_type(cls) -> dict:
        return {
            **super().config_type(),
            "locations": Field(Array(StringSource), is_required=False, default_value=[]),
        }

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> TeamS3ComputeLogManager:
        return cls(inst_data=inst_data, **config_value)

    def location_of(self, namespace: Sequence[str]) -> str | None:
        """The location a log key's namespace belongs to; None when it cannot be told."""
        own = os.environ.get(LOCATION_ENV)
        if own:
            return own
        if not namespace:
            return None
        head = namespace[0]
        if head in self._owner:
            return self._owner[head]
        location = self._run_location(head) or self._probe(namespace)
        if location is not None:  # a tick's log not uploaded yet is looked for again next time
            if len(self._owner) >= OWNERS_REMEMBERED:
                self._owner.clear()
            self._owner[head] = location
        return location

    def _run_location(self, run_id: str) -> str | None:
        if not self.has_instance:
            return None
        run = self._instance.get_run_by_id(run_id)
        if run is None:
            return None
        if run.tags.get(CODE_LOCATION_TAG):
            return run.tags[CODE_LOCATION_TAG]
        return run.remote_job_origin.location_name if run.remote_job_origin is not None else None

    def _probe(self, namespace: Sequence[str]) -> str | None:
        for location in self._locations:
            listing = self._s3_session.list_objects_v2(
                Bucket=self._s3_bucket,
                Prefix="/".join([self._s3_prefix, location, "storage", *namespace, ""]),
                MaxKeys=1,
            )
            if listing.get("KeyCount"):
                return location
        return None

    def _resolve_path_for_namespace(self, namespace: Sequence[str]) -> list[str]:
        location = self.location_of(namespace)
        return [self._s3_prefix, *([location] if location else []), "storage", *namespace]

    def delete_logs(self, log_key: Sequence[str] | None = None, prefix: Sequence[str] | None = None) -> None:
        if prefix and not log_key:
            self.local_manager.delete_logs(prefix=prefix)
            s3_prefix = "/".join([*self._resolve_path_for_namespace(prefix), ""])
            matching = self._s3_session.list_objects(Bucket=self._s3_bucket, Prefix=s3_prefix)
            keys = [{"Key": obj["Key"]} for obj in matching.get("Contents", [])]
            if keys:
                self._s3_session.delete_objects(Bucket=self._s3_bucket, Delete={"Objects": keys})
            return
        super().delete_logs(log_key=log_key, prefix=prefix)
