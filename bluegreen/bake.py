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
from datetime import UTC, datetime
from typing import Any

from bluegreen import finish
from bluegreen.lease import CONFLICT_CODES, GONE_CODES, aws_error_code, group_object_key

OPEN = "open"
ROLLBACK_REQUESTED = "rollback-requested"
ROLLING_BACK = "rolling-back"
ROLLED_BACK = "rolled-back"
END_REQUESTED = "end-requested"
CLOSED = "closed"
# States in which the old slot must be kept: the window runs, or a rollback onto it was asked for or is under way.
KEEPS_OLD_SLOT = frozenset({OPEN, ROLLBACK_REQUESTED, ROLLING_BACK, END_REQUESTED})
STATES = KEEPS_OLD_SLOT | {ROLLED_BACK, CLOSED}

# What a record may hold, so that any object read is either a window every reader can act on and print, or
# `WindowUnreadable`: times within these bounds (arithmetic with the clock, `astimezone`, cannot overflow), a body no
# larger than this (the tool writes a few hundred bytes), free text cut to this many characters.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
MAX_BYTES = 64 * 1024
MAX_TEXT = 500


class WindowChanged(Exception):
    """Another actor changed the window between our read and our write; read it again."""


class WindowUnreadable(Exception):
    """The window object exists but is not a window record (corrupt, edited by hand, out of range): whether a window
    keeps the old slot cannot be told from it. `where` names the object (empty when parsed from bytes alone)."""

    def __init__(self, why: str, where: str = "") -> None:
        """Say why the record was refused, and where it is."""
        super().__init__(f"{where}: {why}" if where else why)
        self.why = why
        self.where = where


def printable(text: str) -> str:
    """`text` safe for a terminal or a log line: control characters (ANSI escapes, CR/LF) as Python escapes, and cut
    to `MAX_TEXT` characters."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return shown if len(shown) <= MAX_TEXT else shown[: MAX_TEXT - 1] + "…"


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
    def parse(cls, raw: bytes, etag: str | None) -> Window:
        """The stored window; `WindowUnreadable` when the bytes are not one (see `EARLIEST`, `STATES`)."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise WindowUnreadable(f"not JSON ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise WindowUnreadable(f"a JSON {_json_type(data)}, not an object")
        state = _name(data, "state")
        if state not in STATES:
            raise WindowUnreadable(f"state {printable(state)!r} is none of {', '.join(sorted(STATES))}")
        requested = data.get("requested_at")
        return cls(
            release_id=_name(data, "release_id"),
            deployment_id=_name(data, "deployment_id"),
            old_slot=_name(data, "old_slot"),
            new_slot=_name(data, "new_slot"),
            opened=_time(data, "opened"),
            deadline=_time(data, "deadline"),
            state=state,
            reason=printable(_text(data, "reason")),
            requested_by=printable(_text(data, "requested_by")),
            requested_at=_time(data, "requested_at") if requested is not None and requested != "" else None,
            etag=etag,
        )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {str: "string", int: "number", float: "number", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WindowUnreadable(f"{field} is a JSON {_json_type(value)}, not a string")
    return value


def _name(data: dict[str, Any], field: str) -> str:
    """A required identifier: a non-empty string of printable characters, short enough to show."""
    if field not in data:
        raise WindowUnreadable(f"{field} is missing")
    value = _text(data, field)
    if not value or not value.isprintable() or len(value) > MAX_TEXT:
        raise WindowUnreadable(f"{field} {printable(value)!r} is not a name")
    return value


def _time(data: dict[str, Any], field: str) -> datetime:
    """An ISO 8601 time with its offset, as UTC, between `EARLIEST` and `LATEST`."""
    text = _name(data, field)
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise WindowUnreadable(f"{field} {text!r} has no time zone")
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise WindowUnreadable(f"{field} {text!r} is not an ISO 8601 time") from exc
    if not EARLIEST <= moment < LATEST:
        raise WindowUnreadable(f"{field} {text!r} is outside {EARLIEST.year}-{LATEST.year - 1}")
    return moment


def read_window(s3: Any, bucket: str, key: str, *, denied_means_absent: bool = False) -> Window | None:
    """The window stored at `key` (with its ETag), or None when there is none; `WindowUnreadable` (naming the
    object) when there is one but it is not a window record.

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
    raw = answer["Body"].read(MAX_BYTES + 1)
    try:
        if len(raw) > MAX_BYTES:
            raise WindowUnreadable(f"larger than {MAX_BYTES} bytes")
        return Window.parse(raw, str(answer["ETag"]))
    except WindowUnreadable as exc:
        raise WindowUnreadable(exc.why, f"s3://{bucket}/{key}") from exc


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


def rollback_steps(
    codedeploy: Any, autoscaling: Any, *, application: str, group: str, window: Window
) -> tuple[finish.Step, finish.Step]:
    """Once traffic is back on the window's old slot: point the group at it, then empty the new slot.

    The release's switch (`finish.switch_steps`) with the slots the other way round; the tool's fast rollback and the
    finisher finishing one that was left unfinished both take these steps.
    """
    return finish.switch_steps(
        codedeploy,
        autoscaling,
        application=application,
        group=group,
        new_live=window.old_slot,
        old_live=window.new_slot,
    )
