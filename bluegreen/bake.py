"""The bake window's record in AWS: one small JSON object next to the release lease, shared by the release tool
(`release.bake`) and the AWS-side finisher (`lambdas/finisher`), so the window's end does not depend on the process
that opened it.

Plain Python (no boto3): the S3 client is passed in. The object is `leases/<application>/<group>.bake.json` in the
artifact bucket (the lease's prefix, so the finisher's grant names exactly two keys). Every change of state after the
window opened is an S3 conditional write (`IfMatch` the ETag read, docs/decisions.md F56), so of two actors racing
(the watching run ending the window at its deadline, `deploy.py rollback` asking for a rollback a second before it)
exactly one wins and the other reads the winner's state again:

    open ──► rollback-requested ──► rolling-back ──► rolled-back      (traffic back on the old slot)
      │                                  └─────────► open             (the old slot never became healthy)
      ├───► end-requested ─────────────────────────► closed           (a new release ends the window early)
      └────────────────────────────────────────────► closed           (the deadline passed: the old slot is emptied)

A request made before the deadline wins over the deadline: whoever ends the window reads the object first, and a
write that lost the race sees the request.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from bluegreen.lease import CONFLICT_CODES, GONE_CODES, aws_error_code, group_object_key

OPEN = "open"
ROLLBACK_REQUESTED = "rollback-requested"
ROLLING_BACK = "rolling-back"
ROLLED_BACK = "rolled-back"
END_REQUESTED = "end-requested"
CLOSED = "closed"
# States in which the old slot must be kept: the window runs, or a rollback onto it was asked for or is under way.
KEEPS_OLD_SLOT = frozenset({OPEN, ROLLBACK_REQUESTED, ROLLING_BACK, END_REQUESTED})


class WindowChanged(Exception):
    """Another actor changed the window between our read and our write; read it again."""


def window_key(application: str, group: str) -> str:
    """The window object's key in the artifact bucket, beside the release lease."""
    return group_object_key(application, group, "bake")


@dataclass(frozen=True)
class Window:
    """One bake window: the release and deployment that opened it, the slots, the deadline and its state.

    `old_slot` is the slot that served before the release (kept out of traffic), `new_slot` the one that serves now.
    Times are aware UTC datetimes; `requested_at`/`requested_by`/`reason` describe the last request or decision.
    """

    release_id: str
    deployment_id: str
    old_slot: str
    new_slot: str
    opened: datetime
    deadline: datetime
    state: str = OPEN
    reason: str = ""
    requested_by: str = ""
    requested_at: datetime | None = None
    etag: str | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the deadline has passed at `now`."""
        return now >= self.deadline

    def with_state(self, state: str, *, reason: str, by: str = "", at: datetime | None = None) -> Window:
        """A copy in `state`, with why, and who and when when given (else the last request's are kept)."""
        return replace(
            self, state=state, reason=reason, requested_by=by or self.requested_by, requested_at=at or self.requested_at
        )

    def to_json(self) -> bytes:
        """The stored form (ISO times, no ETag)."""
        data = asdict(self)
        data.pop("etag")
        for name in ("opened", "deadline", "requested_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return json.dumps(data).encode()

    @classmethod
    def parse(cls, raw: bytes, etag: str | None) -> Window | None:
        """The stored window, or None when the object is not one (then it is ignored)."""
        try:
            data = json.loads(raw)
            requested = data.get("requested_at")
            return cls(
                release_id=str(data["release_id"]),
                deployment_id=str(data["deployment_id"]),
                old_slot=str(data["old_slot"]),
                new_slot=str(data["new_slot"]),
                opened=datetime.fromisoformat(data["opened"]),
                deadline=datetime.fromisoformat(data["deadline"]),
                state=str(data["state"]),
                reason=str(data.get("reason", "")),
                requested_by=str(data.get("requested_by", "")),
                requested_at=datetime.fromisoformat(requested) if requested else None,
                etag=etag,
            )
        except (ValueError, KeyError, TypeError):
            return None


def read_window(s3: Any, bucket: str, key: str, *, denied_means_absent: bool = False) -> Window | None:
    """The window stored at `key` (with its ETag), or None when there is none.

    `denied_means_absent`: for a caller allowed GetObject on `key` but not ListBucket, S3 answers a missing key with
    403 AccessDenied (docs/decisions.md F86), which then means "no window".
    """
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = aws_error_code(exc)
        if code in GONE_CODES or (denied_means_absent and code in ("AccessDenied", "403")):
            return None
        raise
    return Window.parse(answer["Body"].read(), str(answer["ETag"]))


def open_window(s3: Any, bucket: str, key: str, window: Window) -> Window:
    """Store a new window (the caller holds the release lease, so the previous object, if any, is over)."""
    answer = s3.put_object(Bucket=bucket, Key=key, Body=window.to_json(), ContentType="application/json")
    return replace(window, etag=str(answer["ETag"]))


def change(s3: Any, bucket: str, key: str, window: Window) -> Window:
    """Write `window` only if the stored object is still the one read (`window.etag`); `WindowChanged` otherwise."""
    if window.etag is None:
        raise WindowChanged("the window was never read")
    try:
        answer = s3.put_object(
            Bucket=bucket, Key=key, Body=window.to_json(), ContentType="application/json", IfMatch=window.etag
        )
    except Exception as exc:
        if aws_error_code(exc) in CONFLICT_CODES | GONE_CODES:
            raise WindowChanged(f"s3://{bucket}/{key} changed meanwhile ({aws_error_code(exc)})") from exc
        raise
    return replace(window, etag=str(answer["ETag"]))
