"""Parse the EventBridge "EC2 Instance-terminate Lifecycle Action" event into a `LifecycleAction`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DETAIL_TYPE = "EC2 Instance-terminate Lifecycle Action"
SOURCE = "aws.autoscaling"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"

# EC2 instance ids are "i-" followed by 8 (old) or 17 hexadecimal characters.
_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_REQUIRED = ("AutoScalingGroupName", "LifecycleHookName", "EC2InstanceId")


class MalformedEventError(ValueError):
    """The event is not a termination lifecycle action this function can act on."""


@dataclass(frozen=True)
class LifecycleAction:
    """One instance waiting in Terminating:Wait on one hook.

    `token` is optional: CompleteLifecycleAction accepts the instance id instead (Auto Scaling API reference).
    """

    group_name: str
    hook_name: str
    instance_id: str
    token: str | None = None


def parse_lifecycle_event(event: Any) -> LifecycleAction:
    """Return the lifecycle action the event describes, or raise `MalformedEventError` saying what is wrong."""
    if not isinstance(event, dict):
        raise MalformedEventError(f"event is a {type(event).__name__}, not a JSON object")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise MalformedEventError(
            f"expected source {SOURCE!r} and detail-type {DETAIL_TYPE!r}, "
            f"got {event.get('source')!r} and {event.get('detail-type')!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEventError("event has no 'detail' object")
    missing = [key for key in _REQUIRED if not isinstance(detail.get(key), str) or not detail[key]]
    if missing:
        raise MalformedEventError(f"event detail lacks {', '.join(missing)}")
    transition = detail.get("LifecycleTransition", TERMINATING)
    if transition != TERMINATING:
        raise MalformedEventError(f"lifecycle transition is {transition!r}, not {TERMINATING!r}")
    instance_id = detail["EC2InstanceId"]
    if not _INSTANCE_ID.match(instance_id):
        raise MalformedEventError(f"EC2InstanceId {instance_id!r} is not an EC2 instance id")
    token = detail.get("LifecycleActionToken")
    return LifecycleAction(
        group_name=detail["AutoScalingGroupName"],
        hook_name=detail["LifecycleHookName"],
        instance_id=instance_id,
        token=token if isinstance(token, str) and token else None,
    )
