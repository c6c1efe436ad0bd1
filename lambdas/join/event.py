"""Parse the EventBridge "EC2 Instance Launch Successful" event into a `Launch`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DETAIL_TYPE = "EC2 Instance Launch Successful"
SOURCE = "aws.autoscaling"

# EC2 instance ids are "i-" followed by 8 (old) or 17 hexadecimal characters.
_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_REQUIRED = ("AutoScalingGroupName", "EC2InstanceId")


class MalformedEventError(ValueError):
    """The event is not an instance launch this function can act on."""


@dataclass(frozen=True)
class Launch:
    """One instance that Auto Scaling launched into one group."""

    group_name: str
    instance_id: str


def parse_launch_event(event: Any) -> Launch:
    """Return the launch the event describes, or raise `MalformedEventError` saying what is wrong.

    The fields are those of the example event in the Auto Scaling user guide ("Amazon EC2 Auto Scaling event
    reference", EC2 Instance Launch Successful): `detail.AutoScalingGroupName` and `detail.EC2InstanceId`.
    """
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
    instance_id = detail["EC2InstanceId"]
    if not _INSTANCE_ID.match(instance_id):
        raise MalformedEventError(f"EC2InstanceId {instance_id!r} is not an EC2 instance id")
    return Launch(group_name=detail["AutoScalingGroupName"], instance_id=instance_id)
