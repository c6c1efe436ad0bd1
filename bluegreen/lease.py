"""The deployment group's release lease: one actor at a time, held in the artifact bucket with S3 conditional writes
(docs/decisions.md F56).

Plain Python (no boto3, no botocore): the S3 client is passed in, so the release tool (`release.lease`) and the
AWS-side finisher (`lambdas/finisher`) take the very same lease, by the same rules:

* acquire: PutObject with `IfNoneMatch="*"` creates `leases/<application>/<deployment group>.json` only if no object
  has that key; otherwise S3 answers 412 Precondition Failed (409 ConditionalRequestConflict when two writes race).
  The lease that is there is read (GetObject, with its ETag): one released or expired (plus `SKEW_SECONDS` for
  clocks) is taken over with `IfMatch=<ETag>`, which succeeds for exactly one of several actors trying; one still
  valid raises `LeaseUnavailable`.
* renew: `IfMatch` the ETag of our own last write. A 412 means another actor took the lease over after ours expired:
  `LeaseTaken` is raised and the holder must touch nothing any more.
* release: an `IfMatch` write marking the lease released (not a delete: in the versioned artifact bucket a write
  keeps the key's current version an object, so the next actor always takes the same takeover path). An actor killed
  outright leaves its lease to expire after `TTL_SECONDS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

LEASE_PREFIX = "leases"
# Long enough to cover the longest step of a release that does not sleep (the upload of a large bundle), short
# enough that a run killed outright (SIGKILL, a vanished runner) blocks the next one, and the finisher, for minutes.
TTL_SECONDS = 600.0
# Clocks of two runners (or a runner and Lambda) may disagree: a lease is taken over only this long after its expiry.
SKEW_SECONDS = 60.0
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
GONE_CODES = frozenset({"NoSuchKey", "404"})


class LeaseUnavailable(Exception):
    """Another actor holds a valid lease (or won the race for an expired one); the caller touched nothing."""


class LeaseTaken(Exception):
    """The lease this actor held was taken over by another after it expired; the caller must touch nothing more."""


def aws_error_code(exc: BaseException) -> str:
    """The error code of a botocore `ClientError` (read from its `response`), else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


def group_object_key(application: str, group: str, kind: str = "") -> str:
    """`leases/<application>/<group>[.<kind>].json`: the key of one of a deployment group's objects beside its lease
    in the artifact bucket (the lease itself without `kind`; "bake" for the bake window, "check" for the check mark)."""
    return f"{LEASE_PREFIX}/{application}/{group}{'.' + kind if kind else ''}.json"


def lease_key(application: str, group: str) -> str:
    """The lease object's key in the artifact bucket."""
    return group_object_key(application, group)


@dataclass(frozen=True)
class Holder:
    """The lease as stored: who holds it, for which release, until when."""

    release_id: str
    owner: str
    command: str
    expires: datetime
    released: bool

    @classmethod
    def parse(cls, raw: bytes) -> Holder | None:
        """The stored lease, or None when the object is not one (then it is treated as expired)."""
        try:
            data = json.loads(raw)
            return cls(
                release_id=str(data["release_id"]),
                owner=str(data["owner"]),
                command=str(data.get("command", "release")),
                expires=datetime.fromisoformat(data["expires"]),
                released=bool(data.get("released", False)),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def free_at(self, now: datetime) -> bool:
        """Whether another actor may take the lease over at `now`."""
        return self.released or now >= self.expires + timedelta(seconds=SKEW_SECONDS)

    def describe(self) -> str:
        """`release 1a2b… (release by host pid 42) until 2026-01-01 12:00:00Z`."""
        return f"release {self.release_id} ({self.command} by {self.owner}) until {self.expires:%Y-%m-%d %H:%M:%SZ}"


class S3Lease:
    """One actor's hold on the release lease of one deployment group (see the module docstring).

    `s3` is a boto3 S3 client (or anything with its `put_object`/`get_object`); `now` gives aware UTC datetimes.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        release_id: str,
        command: str,
        owner: str,
        now: Callable[[], datetime],
    ) -> None:
        """Nothing is called until `acquire`."""
        self._s3, self.bucket, self.key = s3, bucket, key
        self.release_id, self.command, self.owner = release_id, command, owner
        self._now = now
        self._etag: str | None = None
        self._renewed: datetime | None = None

    @property
    def held(self) -> bool:
        """Whether this actor holds the lease (as far as its last write knows)."""
        return self._etag is not None

    @property
    def renewed(self) -> datetime | None:
        """When this actor last wrote the lease."""
        return self._renewed

    def _body(self, *, released: bool = False) -> bytes:
        expires = self._now() + timedelta(seconds=TTL_SECONDS)
        return json.dumps(
            {
                "release_id": self.release_id,
                "owner": self.owner,
                "command": self.command,
                "expires": expires.isoformat(),
                "released": released,
            }
        ).encode()

    def _put(self, condition: dict[str, str], *, released: bool = False) -> str:
        answer = self._s3.put_object(
            Bucket=self.bucket,
            Key=self.key,
            Body=self._body(released=released),
            ContentType="application/json",
            **condition,
        )
        return str(answer["ETag"])

    def acquire(self) -> str | None:
        """Take the lease, or raise `LeaseUnavailable`; returns a note when an expired lease was taken over.

        Any other S3 error goes up unchanged (the caller decides whether it is worth asking again).
        """
        try:
            self._etag = self._put({"IfNoneMatch": "*"})
            self._renewed = self._now()
            return None
        except Exception as exc:
            if aws_error_code(exc) not in CONFLICT_CODES:
                raise
        answer = self._s3.get_object(Bucket=self.bucket, Key=self.key)
        holder = Holder.parse(answer["Body"].read())
        now = self._now()
        if holder is not None and not holder.free_at(now):
            raise LeaseUnavailable(
                f"another run holds the release lease of {self.key.removeprefix(LEASE_PREFIX + '/')}: "
                f"{holder.describe()}"
            )
        try:
            self._etag = self._put({"IfMatch": str(answer["ETag"])})
        except Exception as exc:
            if aws_error_code(exc) not in CONFLICT_CODES:
                raise
            raise LeaseUnavailable(
                f"another run took the release lease s3://{self.bucket}/{self.key} at the same moment"
            ) from exc
        self._renewed = now
        if holder is None or holder.released:
            return None
        return f"took over the expired release lease of {holder.describe()}"

    def renew(self) -> None:
        """Extend the lease now; `LeaseTaken` when another actor took it over (or this one no longer holds it)."""
        if self._etag is None:
            raise LeaseTaken(f"{self.release_id} no longer holds the release lease s3://{self.bucket}/{self.key}")
        try:
            self._etag = self._put({"IfMatch": self._etag})
        except Exception as exc:
            if aws_error_code(exc) not in CONFLICT_CODES | GONE_CODES:
                raise
            self._etag = None
            raise LeaseTaken(
                f"release {self.release_id} lost its lease s3://{self.bucket}/{self.key}: another run took it over "
                "after this one stalled past its expiry"
            ) from exc
        self._renewed = self._now()

    def release(self) -> str | None:
        """Mark the lease released; returns a note when that failed (the lease then expires after `TTL_SECONDS`)."""
        if self._etag is None:
            return None
        try:
            self._put({"IfMatch": self._etag}, released=True)
        except Exception as exc:
            return f"the release lease could not be released ({aws_error_code(exc)}); it expires in {TTL_SECONDS:.0f} s"
        finally:
            self._etag = None
        return None
