"""Landing zones: a local folder (the default) or an S3 prefix (production).

Both list ``.json`` and ``.jsonl`` files under ``<landing>/<entity folder>/`` with a fingerprint
that changes when the file does (size and mtime locally, the ETag on S3), so a sensor reads a file
again only when it changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

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
        return (self.root / name).read_bytes()


class S3Landing:
    def __init__(self, url: str, *, endpoint_url: str | None = None, client: object | None = None):
        parsed = urlparse(url)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client

    def list(self, entity: str) -> Iterator[LandedFile]:
        paginator = self.client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{FOLDERS[entity]}/"):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith(SUFFIXES):
                    yield LandedFile(key[len(self.prefix) :], f"{obj['Size']}:{obj['ETag'].strip(chr(34))}")

    def read(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()  # type: ignore[attr-defined]


def landing_zone(location: str, *, endpoint_url: str | None = None) -> LandingZone:
    if location.startswith("s3://"):
        return S3Landing(location, endpoint_url=endpoint_url)
    return LocalLanding(Path(location))
