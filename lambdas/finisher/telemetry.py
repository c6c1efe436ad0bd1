"""One structured JSON log line per invocation: the trigger, the decision, why, and the steps done or failed.

Lines go straight to stdout as JSON (as the drain and join functions do): Lambda's `logging` handler would prefix
each line and break the JSON that CloudWatch Logs Insights queries.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from finisher.converge import Action, Outcome
from finisher.event import Trigger, short

# The fields of an ignored event that its log line quotes (each through `short`): enough to find it, never the event.
_EVENT_FIELDS = ("source", "detail-type", "id", "time")
_DETAIL_FIELDS = ("application", "deploymentGroup", "deploymentId", "state")

# Decisions an operator should look at: something stays unfinished that the finisher will not finish by itself.
_WARNINGS = frozenset({Action.SLOT_LEFT, Action.LEFT_ALONE, Action.NO_DEPLOYMENT, Action.FAST_ROLLBACK_PENDING})


def _trigger(trigger: Trigger) -> dict[str, Any]:
    if trigger.kind == "sweep":
        return {"trigger": "sweep"}
    return {
        "trigger": "deployment",
        "event_deployment_id": trigger.deployment_id,
        "event_state": trigger.state,
        "event_deployment_group": trigger.deployment_group,
    }


def outcome_record(trigger: Trigger, outcome: Outcome, *, level: str | None = None) -> dict[str, Any]:
    """The log line for one invocation's decision."""
    return {
        "level": level or ("WARNING" if outcome.action in _WARNINGS or outcome.window_note else "INFO"),
        "message": f"finisher: {outcome.action}: {outcome.reason}",
        **_trigger(trigger),
        "action": str(outcome.action),
        "reason": outcome.reason,
        "deployment_id": outcome.deployment_id,
        "done": outcome.done,
        "failed": outcome.failed,
        "lease": outcome.lease_note,
        "window": outcome.window_note,
    }


def failure_record(trigger: Trigger, error: Exception) -> dict[str, Any]:
    """The log line for an invocation an AWS error stopped (left to Lambda's retry, then the dead-letter queue)."""
    return {
        "level": "ERROR",
        "message": f"finisher: not converged, left to Lambda's retry: {error}",
        **_trigger(trigger),
        "error": type(error).__name__,
    }


def event_summary(event: Any) -> dict[str, str]:
    """A bounded summary of `event` for a log line: a few named fields, each quoted by `short`; no recursion."""
    if not isinstance(event, Mapping):
        return {"event": short(event)}
    summary = {key: short(event[key]) for key in _EVENT_FIELDS if key in event}
    detail = event.get("detail")
    if isinstance(detail, Mapping):
        summary.update({f"detail.{key}": short(detail[key]) for key in _DETAIL_FIELDS if key in detail})
    elif "detail" in event:
        summary["detail"] = short(detail)
    return summary


def ignored_record(reason: str, event: Any) -> dict[str, Any]:
    """The log line for an event that is not for this function (answered normally: a retry cannot change it); the
    event appears only as `event_summary`, so a huge or deeply nested one cannot blow the line up or recurse."""
    return {
        "level": "WARNING",
        "message": f"finisher: event ignored: {reason}",
        "event": event_summary(event),
    }


def emit(record: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Write the record as one JSON line."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    out.flush()
