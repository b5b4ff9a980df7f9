"""The artifact store in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…), when one is configured: each artifact
is the object `<prefix><task>/<name>` with its SHA-256 in the object's metadata, checked when it is read. Which
tasks finished when (for retention) is read from the database. Credentials come from boto3's usual places
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, an instance role); none of them reaches a sandbox."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from core.errors import DockhandError
from core.models import Task, utcnow
from core.store.artifacts import ArtifactTooLargeError, check_name, move_in
from core.store.database import Database

DIGEST_KEY = "sha256"
PRUNE_WINDOW = timedelta(days=30)


class BucketArtifacts:
    def __init__(
        self,
        client: Any,
        bucket: str,
        db: Database,
        *,
        prefix: str = "",
        max_bytes: int,
        legacy_dir: Path | None = None,
    ) -> None:
        """`client`: a boto3 S3 client (its endpoint, region and credentials set by whoever made it)."""
        self.client = client
        self.bucket = bucket
        self.db = db
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.legacy_dir = legacy_dir

    def _key(self, task_id: str, name: str) -> str:
        return f"{self.prefix}{task_id}/{check_name(name)}"

    def put(self, task_id: str, name: str, data: bytes) -> str:
        if len(data) > self.max_bytes:
            raise ArtifactTooLargeError(
                f"{name} is {len(data)} bytes, over the {self.max_bytes}-byte limit (DOCKHAND_ARTIFACT_MAX_BYTES)"
            )
        digest = hashlib.sha256(data).hexdigest()
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(task_id, name), Body=data, Metadata={DIGEST_KEY: digest}
            )
        except Exception as exc:  # botocore's errors: said as dockhand's
            raise DockhandError(f"could not store artifact {name} in bucket {self.bucket}: {exc}") from None
        return digest

    def get(self, task_id: str, name: str) -> bytes | None:
        key = self._key(task_id, name)
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return move_in(self, self.legacy_dir, task_id, name)
        except Exception as exc:
            raise DockhandError(f"could not read artifact {name} from bucket {self.bucket}: {exc}") from None
        data: bytes = found["Body"].read()
        if hashlib.sha256(data).hexdigest() != found.get("Metadata", {}).get(DIGEST_KEY):
            raise DockhandError(f"artifact {name} of task {task_id} is damaged (its bytes do not match its hash)")
        return data

    def names(self, task_id: str, prefix: str = "") -> list[str]:
        under = f"{self.prefix}{task_id}/"
        return sorted(key.removeprefix(under) for key in self._keys(under + prefix))

    def delete(self, task_id: str, prefix: str = "") -> int:
        keys = self._keys(f"{self.prefix}{task_id}/{prefix}")
        for start in range(0, len(keys), 1000):  # the most one request deletes
            objects = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        return len(keys)

    def prune(self, older_than: timedelta) -> int:
        """Remove the artifacts of tasks that finished longer ago than `older_than` (a waiting task keeps its own);
        it runs hourly, so it looks at the tasks that finished in the 30 days before the cut-off."""
        cutoff = utcnow() - older_than
        with self.db.read() as session:
            finished = session.exec(
                select(Task.id).where(col(Task.finished_at) >= cutoff - PRUNE_WINDOW, col(Task.finished_at) < cutoff)
            ).all()
        return sum(self.delete(task_id) for task_id in finished)

    def _keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
