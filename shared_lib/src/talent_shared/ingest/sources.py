"""Landing zones: a local folder (the default) or an S3 prefix (production).

Both list ``.json`` and ``.jsonl`` files under ``<landing>/<entity folder>/`` with a fingerprint
that changes when the file does (size and mtime locally, the ETag on S3), so a sensor reads a file
again only when it changed. A read that fails (the object vanished, S3 throttled) is an
:class:`OSError`, which the sensor logs and retries next tick; a read never returns more than
``MAX_FILE_BYTES + 1`` bytes, enough for the parser to reject a huge file without holding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from talent_shared.ingest.parse import MAX_FILE_BYTES

FOLDERS = {"candidate": "candidates", "job": "jobs"}
SUFFIXES = (".json", ".jsonl")


@dataclass(frozen=True)
class LandedFile:
    name: str  # what rejects and logs show: relative to the landing zone, no bucket secrets
    fingerprint: str


class LandingZone(Protocol):
    def list(self, entity: str) -> Iterator[LandedFile]: ...

    def read(self, name: str) -> bytes: ...


class LocalLanding:
    def __init__(self, root: Path):
        self.root = Path(root)

    def list(self, entity: str) -> Iterator[LandedFile]:
        folder = self.root / FOLDERS[entity]
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                stat = path.stat()
                yield LandedFile(str(path.relative_to(self.root)), f"{stat.st_size}:{stat.st_mtime_ns}")

    def read(self, name: str) -> bytes:
        with (self.root / name).open("rb") as file:
            return file.read(MAX_FILE_BYTES + 1)


class S3Landing:
    """``s3://bucket/prefix``; ``endpoint_url`` for S3-compatible servers (MinIO, moto in tests).

    Listing goes through the ``list_objects_v2`` paginator (1000 keys a page unless ``page_size``
    says fewer), so any number of objects is seen. botocore addresses custom endpoints path-style.
    """

    def __init__(
        self, url: str, *, endpoint_url: str | None = None, client: object | None = None, page_size: int | None = None
    ):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.page_size = page_size
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client: Any = client

    def list(self, entity: str) -> Iterator[LandedFile]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=f"{self.prefix}{FOLDERS[entity]}/",
            PaginationConfig={"PageSize": self.page_size} if self.page_size else {},
        )
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith(SUFFIXES):
                    yield LandedFile(key[len(self.prefix) :], f"{obj['Size']}:{obj['ETag'].strip(chr(34))}")

    def read(self, name: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.prefix + name
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return body.read(MAX_FILE_BYTES + 1)
            finally:
                body.close()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"{name}: no longer in the landing zone") from None
            raise OSError(f"{name}: S3 {code or 'error'}") from None
        except BotoCoreError as exc:
            raise OSError(f"{name}: {type(exc).__name__}") from None


def landing_zone(location: str, *, endpoint_url: str | None = None) -> LandingZone:
    if location.startswith("s3://"):
        return S3Landing(location, endpoint_url=endpoint_url)
    return LocalLanding(Path(location))
