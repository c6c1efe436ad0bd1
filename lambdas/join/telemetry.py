"""One structured JSON log line per decision, doubling as a CloudWatch Embedded Metric Format (EMF) record.

CloudWatch extracts the `Joins` count (dimension `Decision`) from any JSON line carrying an `_aws` block (EMF
specification), so an alarm can watch registrations and refusals without an API call or extra permission. Lines go
straight to stdout: Lambda's `logging` handler prefixes each line, which would break the JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from join.decision import Decision, JoinOutcome
from join.event import Launch

JOIN_METRIC = "Joins"
MALFORMED_METRIC = "MalformedEvents"
# Decisions that leave an instance of a listed slot out of the target group: an operator should look.
_WARNINGS = frozenset({Decision.BOTH_SLOTS_LISTED, Decision.NOT_IN_SERVICE})


def _emf(namespace: str, timestamp_ms: int, metric: str, dimensions: list[list[str]]) -> dict[str, Any]:
    return {
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {"Namespace": namespace, "Dimensions": dimensions, "Metrics": [{"Name": metric, "Unit": "Count"}]}
        ],
    }


def decision_record(launch: Launch, outcome: JoinOutcome, *, namespace: str, timestamp_ms: int) -> dict[str, Any]:
    """The log line for one decision: which instance, which group, what the deployment group listed, what we did."""
    return {
        "level": "WARNING" if outcome.decision in _WARNINGS else "INFO",
        "message": f"launched instance {outcome.decision}",
        "instance_id": launch.instance_id,
        "AutoScalingGroupName": launch.group_name,
        "Decision": str(outcome.decision),
        "lifecycle_state": outcome.lifecycle_state,
        "live_groups": list(outcome.live_groups),
        "waited_seconds": round(outcome.waited_seconds, 3),
        JOIN_METRIC: 1,
        "_aws": _emf(namespace, timestamp_ms, JOIN_METRIC, [["Decision"]]),
    }


def failure_record(launch: Launch, error: Exception) -> dict[str, Any]:
    """The log line for a launch that could not be decided (an AWS call failed, or the instance is still Pending)."""
    return {
        "level": "ERROR",
        "message": f"launched instance not decided, left to Lambda's retry: {error}",
        "instance_id": launch.instance_id,
        "AutoScalingGroupName": launch.group_name,
        "error": type(error).__name__,
        "reason": getattr(error, "reason", str(error)),
    }


def malformed_record(reason: str, event: Any, *, namespace: str, timestamp_ms: int) -> dict[str, Any]:
    """The log line for an event that cannot be acted on, with a count metric an alarm can watch."""
    return {
        "level": "ERROR",
        "message": f"malformed launch event ignored: {reason}",
        "event": event if isinstance(event, Mapping | list | str | int | float | bool | None) else repr(event),
        MALFORMED_METRIC: 1,
        "_aws": _emf(namespace, timestamp_ms, MALFORMED_METRIC, [[]]),
    }


def emit(record: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Write the record as one JSON line."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    out.flush()
