"""The release lease: one run at a time per deployment group, held in the artifact bucket with S3 conditional writes
(docs/decisions.md F56).

Checking for a deployment in flight is a check-then-act: two runs started together both pass it, and each one's
cleanup then scales a slot the other is using. So every `release`/`rollback` run first takes an exclusive lease, an
object `leases/<application>/<deployment group>.json` in the artifact bucket, and touches nothing without it:

* acquire: PutObject with `If-None-Match: *` creates the object only if no object has that key; otherwise S3
  answers 412 Precondition Failed (409 ConditionalRequestConflict when two writes race). The lease that is there is
  read (GetObject, with its ETag): one released or expired (plus `SKEW_SECONDS` for clocks) is taken over with
  `If-Match: <ETag>`, which succeeds for exactly one of several runs trying; one still valid refuses the run (exit 5).
* renew: `If-Match` the ETag of our own last write, every `RENEW_SECONDS` while waiting (the `Runtime` sleep) and
  right before every scaling call (`ensure`). A 412 means another run took the lease over after ours expired: this
  run raises `LeaseLost` and scales nothing any more.
* release: on every exit, an `If-Match` write marking the lease released (not a delete: in the versioned artifact
  bucket a write keeps the key's current version an object, so the next run always takes the same takeover path).
  A run killed outright leaves its lease to expire after `TTL_SECONDS`.

S3 conditional writes: Amazon S3 User Guide, "How to prevent object overwrites with conditional writes" (If-None-Match
and If-Match on PutObject, 412 Precondition Failed); PutObject `IfMatch` (SDK reference: "If a conflicting operation
occurs during the upload S3 returns a 409 ConditionalRequestConflict response"). The pipeline role already has
s3:GetObject and s3:PutObject on the bucket (docs/pipelines.md).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from release.errors import LeaseHeld, LeaseLost
from release.retry import AWS_ERRORS, error_code, is_transient
from release.runtime import Runtime

LEASE_PREFIX = "leases"
# Long enough to cover the longest step that does not sleep (the upload of a large bundle), short enough that a run
# killed outright (SIGKILL, a vanished runner) blocks the next one only for minutes.
TTL_SECONDS = 600.0
RENEW_SECONDS = 60.0
# Clocks of two runners may disagree: a lease is taken over only this long after its holder's own expiry.
SKEW_SECONDS = 60.0
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


def lease_key(application: str, group: str) -> str:
    """The lease object's key in the artifact bucket."""
    return f"{LEASE_PREFIX}/{application}/{group}.json"


def default_owner() -> str:
    """Who holds the lease, for the refusal message of the run that cannot get it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


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
        """Whether another run may take the lease over at `now`."""
        return self.released or now >= self.expires + timedelta(seconds=SKEW_SECONDS)

    def describe(self) -> str:
        """`release 1a2b… (release by host pid 42) until 12:00:00Z`."""
        return f"release {self.release_id} ({self.command} by {self.owner}) until {self.expires:%Y-%m-%d %H:%M:%SZ}"


class Lease:
    """The deployment group's release lease for one run (see the module docstring)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        release_id: str,
        command: str,
        runtime: Runtime,
        owner: str | None = None,
    ) -> None:
        """Nothing is called until `acquire`."""
        self._s3, self.bucket, self.key = s3, bucket, key
        self.release_id, self.command, self.owner = release_id, command, owner or default_owner()
        self._runtime = runtime
        self._etag: str | None = None
        self._renewed: datetime | None = None

    @property
    def held(self) -> bool:
        """Whether this run holds the lease (as far as its last write knows)."""
        return self._etag is not None

    def _body(self, *, released: bool = False) -> bytes:
        expires = self._runtime.now() + timedelta(seconds=TTL_SECONDS)
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
        """Take the lease, or raise `LeaseHeld` (exit 5); returns a note when an expired lease was taken over."""
        try:
            self._etag = self._put({"IfNoneMatch": "*"})
            self._renewed = self._runtime.now()
            return None
        except ClientError as exc:
            if error_code(exc) not in CONFLICT_CODES:
                raise
        answer = self._s3.get_object(Bucket=self.bucket, Key=self.key)
        holder = Holder.parse(answer["Body"].read())
        now = self._runtime.now()
        if holder is not None and not holder.free_at(now):
            raise LeaseHeld(
                f"another run holds the release lease of {self.key.removeprefix(LEASE_PREFIX + '/')}: "
                f"{holder.describe()}; this run touched nothing"
            )
        try:
            self._etag = self._put({"IfMatch": str(answer["ETag"])})
        except ClientError as exc:
            if error_code(exc) not in CONFLICT_CODES:
                raise
            raise LeaseHeld(
                f"another run took the release lease s3://{self.bucket}/{self.key} at the same moment; "
                "this run touched nothing"
            ) from exc
        self._renewed = now
        if holder is None or holder.released:
            return None
        return f"took over the expired release lease of {holder.describe()}"

    def renew(self, *, force: bool = False) -> None:
        """Extend the lease when due (or now, with `force`); `LeaseLost` when another run took it over."""
        if self._etag is None:
            raise LeaseLost(f"this run no longer holds the release lease s3://{self.bucket}/{self.key}")
        now = self._runtime.now()
        if not force and self._renewed is not None and (now - self._renewed).total_seconds() < RENEW_SECONDS:
            return
        try:
            self._etag = self._put({"IfMatch": self._etag})
        except ClientError as exc:
            if error_code(exc) not in CONFLICT_CODES and error_code(exc) not in ("NoSuchKey", "404"):
                raise
            self._etag = None
            raise LeaseLost(
                f"release {self.release_id} lost its lease s3://{self.bucket}/{self.key}: another run took it over "
                "after this one stalled past its expiry; this run scales nothing any more"
            ) from exc
        self._renewed = now

    def ensure(self, log: Callable[[str], None]) -> None:
        """Right before scaling: renew now, retrying a transient error twice; `LeaseLost` when it is someone else's."""
        for attempt in range(3):
            try:
                self.renew(force=True)
                return
            except AWS_ERRORS as exc:
                if attempt == 2 or not is_transient(exc):
                    raise
                log(f"renewing the release lease failed ({error_code(exc)}); trying again")
                self._runtime.sleep(2.0 * (attempt + 1))

    def release(self) -> str | None:
        """Mark the lease released; returns a note when that failed (the lease then expires after `TTL_SECONDS`)."""
        if self._etag is None:
            return None
        try:
            self._put({"IfMatch": self._etag}, released=True)
        except AWS_ERRORS as exc:
            return f"the release lease could not be released ({error_code(exc)}); it expires in {TTL_SECONDS:.0f} s"
        finally:
            self._etag = None
        return None

    def renewing_sleep(self, sleep: Callable[[float], None], log: Callable[[str], None]) -> Callable[[float], None]:
        """`sleep`, renewing the lease first when due; a transient renewal error is noted and retried next time."""

        def wrapped(seconds: float) -> None:
            if self._etag is not None:
                try:
                    self.renew()
                except AWS_ERRORS as exc:
                    if not is_transient(exc):
                        raise
                    log(f"renewing the release lease failed ({error_code(exc)}); trying again at the next poll")
            sleep(seconds)

        return wrapped
