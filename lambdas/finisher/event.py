"""The two events that invoke the finisher: a CodeDeploy deployment that ended, and the sweep's schedule.

Deployment state-change events (EventBridge, source `aws.codedeploy`, docs/decisions.md F59) carry `detail.application`,
`detail.deploymentGroup`, `detail.deploymentId` and `detail.state` (START, SUCCESS, FAILURE, STOP, READY, ...); the
rule lets through only SUCCESS, FAILURE and STOP of this stack's blue/green group. A scheduled rule's event has source
`aws.events` and detail-type `Scheduled Event` (docs/decisions.md F61).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEPLOYMENT_STATE_CHANGE = "CodeDeploy Deployment State-change Notification"
SCHEDULED_EVENT = "Scheduled Event"
ENDED_STATES = ("SUCCESS", "FAILURE", "STOP")
# The most characters of one event field a log line or an error message quotes: an event is the caller's input, and a
# 10 MB field copied into the log line would cost more than the invocation.
FIELD_CHARS = 200


def short(value: Any) -> str:
    """`value` quoted for a log line in at most about `FIELD_CHARS` characters, without ever recursing into it.

    Strings and scalars are shown (a string cut at `FIELD_CHARS`, with its full length); a container only by its type
    and size, since `repr` of a deeply nested one raises RecursionError.
    """
    if isinstance(value, str):
        return repr(value) if len(value) <= FIELD_CHARS else f"{value[:FIELD_CHARS]!r}... ({len(value)} characters)"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        # An int's digits count too, and past 4300 of them Python refuses to print it at all.
        return repr(value) if abs(value) < 10**FIELD_CHARS else f"<int of {value.bit_length()} bits>"
    if isinstance(value, Mapping | list | tuple):
        return f"<{type(value).__name__} of {len(value)} items>"
    return f"<{type(value).__name__}>"


class MalformedEventError(ValueError):
    """The event is neither a deployment's end nor the sweep's schedule: nothing to act on, nothing to retry."""


@dataclass(frozen=True)
class Trigger:
    """Why the finisher runs: `deployment` (with its group, id and state) or `sweep`."""

    kind: str
    application: str = ""
    deployment_group: str = ""
    deployment_id: str = ""
    state: str = ""


def parse_trigger(event: Any) -> Trigger:
    """The trigger of one invocation; `MalformedEventError` naming what is wrong."""
    if not isinstance(event, Mapping):
        raise MalformedEventError(f"the event is a {type(event).__name__}, not an object")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == "aws.events" and detail_type == SCHEDULED_EVENT:
        return Trigger("sweep")
    if source != "aws.codedeploy" or detail_type != DEPLOYMENT_STATE_CHANGE:
        raise MalformedEventError(f"unexpected event: source {short(source)}, detail-type {short(detail_type)}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEventError("the deployment event has no detail object")
    fields = {key: detail.get(key) for key in ("application", "deploymentGroup", "deploymentId", "state")}
    missing = sorted(key for key, value in fields.items() if not isinstance(value, str) or not value)
    if missing:
        raise MalformedEventError(f"the deployment event's detail lacks {', '.join(missing)}")
    return Trigger(
        "deployment",
        application=str(fields["application"]),
        deployment_group=str(fields["deploymentGroup"]),
        deployment_id=str(fields["deploymentId"]),
        state=str(fields["state"]),
    )
