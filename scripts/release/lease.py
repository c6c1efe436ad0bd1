"""The release lease as the release tool holds it: `bluegreen.lease` (one implementation, shared with the AWS-side
finisher), plus renewal while the run waits and the tool's exit-5 errors (docs/decisions.md F56).

Checking for a deployment in flight is a check-then-act: two runs started together both pass it, and each one's
cleanup then scales a slot the other is using. So every `release`/`rollback` run first takes the deployment group's
exclusive lease (`bluegreen.lease`: an object `leases/<application>/<deployment group>.json` in the artifact bucket,
S3 conditional writes) and touches nothing without it:

* acquire: before anything is written; a valid lease held by another run (or by the finisher, for the seconds it
  converges) refuses the run with `LeaseHeld` (exit 5).
* renew: every `RENEW_SECONDS` while waiting (the `Runtime` sleep) and right before every scaling call (`ensure`).
  A lease taken over by another run after ours expired raises `LeaseLost`: this run scales nothing any more.
* release: on every exit. A run killed outright leaves its lease to expire after `TTL_SECONDS`; the finisher then
  takes it and completes what the run left (README, "If the runner dies").

S3 conditional writes: Amazon S3 User Guide, "How to prevent object overwrites with conditional writes" (If-None-Match
and If-Match on PutObject, 412 Precondition Failed). The pipeline role already has s3:GetObject and s3:PutObject on the
bucket (docs/pipelines.md).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from bluegreen import lease as shared
from bluegreen.lease import LEASE_PREFIX, SKEW_SECONDS, TTL_SECONDS, Holder, lease_key
from release.errors import LeaseHeld, LeaseLost
from release.retry import AWS_ERRORS, error_code, is_transient
from release.runtime import Runtime

RENEW_SECONDS = 60.0

__all__ = ["LEASE_PREFIX", "RENEW_SECONDS", "SKEW_SECONDS", "TTL_SECONDS", "Holder", "Lease", "lease_key"]


def default_owner() -> str:
    """Who holds the lease, for the refusal message of the run that cannot get it."""
    return f"{socket.gethostname()} pid {os.getpid()}"


class Lease(shared.S3Lease):
    """The deployment group's release lease for one run of the tool (see the module docstring)."""

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
        super().__init__(
            s3, bucket, key, release_id=release_id, command=command, owner=owner or default_owner(), now=runtime.now
        )
        self._runtime = runtime

    def acquire(self) -> str | None:
        """Take the lease, or raise `LeaseHeld` (exit 5); returns a note when an expired lease was taken over."""
        try:
            return super().acquire()
        except shared.LeaseUnavailable as exc:
            raise LeaseHeld(f"{exc}; this run touched nothing") from exc

    def renew(self, *, force: bool = False) -> None:
        """Extend the lease when due (or now, with `force`); `LeaseLost` when another run took it over."""
        renewed = self.renewed
        due = force or renewed is None or (self._runtime.now() - renewed).total_seconds() >= RENEW_SECONDS
        if self.held and not due:
            return
        try:
            super().renew()
        except shared.LeaseTaken as exc:
            raise LeaseLost(f"{exc}; this run scales nothing any more") from exc

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

    def renewing_sleep(self, sleep: Callable[[float], None], log: Callable[[str], None]) -> Callable[[float], None]:
        """`sleep`, renewing the lease first when due; a transient renewal error is noted and retried next time."""

        def wrapped(seconds: float) -> None:
            if self.held:
                try:
                    self.renew()
                except AWS_ERRORS as exc:
                    if not is_transient(exc):
                        raise
                    log(f"renewing the release lease failed ({error_code(exc)}); trying again at the next poll")
            sleep(seconds)

        return wrapped
