"""One structured JSON log line per decision, doubling as a CloudWatch Embedded Metric Format (EMF) record.

Lambda ships stdout to CloudWatch Logs, and CloudWatch extracts the metric from any JSON line carrying an `_aws`
block (EMF specification), so publishing the drain time costs no API call and no extra permission. The lines are
written straight to stdout because Lambda's `logging` handler prefixes each line, which would break the JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from drain.decision import DrainOutcome, Signal
from drain.event import LifecycleAction

DRAIN_METRIC = "DrainSeconds"
MALFORMED_METRIC = "MalformedEvents"


def _emf(namespace: str, timestamp_ms: int, metric: str, unit: str, dimensions: list[list[str]]) -> dict[str, Any]:
    """The `_aws` metadata block that makes CloudWatch extract `metric` from the same line."""
    return {
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {"Namespace": namespace, "Dimensions": dimensions, "Metrics": [{"Name": metric, "Unit": unit}]}
        ],
    }


def decision_record(
    action: LifecycleAction, outcome: DrainOutcome, *, namespace: str, timestamp_ms: int
) -> dict[str, Any]:
    """The log line for one decision: which instance, which group, how long the drain took, what ended it."""
    level = "ERROR" if outcome.completion == "failed" else ("WARNING" if outcome.errors else "INFO")
    record: dict[str, Any] = {
        "level": level,
        "message": f"lifecycle action {outcome.completion} after {outcome.signal}",
        "instance_id": action.instance_id,
        "AutoScalingGroupName": action.group_name,
        "lifecycle_hook": action.hook_name,
        "Signal": str(outcome.signal),
        "completion": str(outcome.completion),
        DRAIN_METRIC: round(outcome.drain_seconds, 3),
        "ssm_commands": outcome.ssm_commands,
        "status_reads": outcome.status_reads,
        "checks": outcome.checks,
        "in_flight": outcome.in_flight,
        "deregistered_ports": list(outcome.deregistered_ports),
        "errors": dict(outcome.errors),
    }
    # An action found already completed was not drained by us: a zero would skew the drain-time statistics.
    if outcome.signal != Signal.ACTION_NOT_ACTIVE:
        record["_aws"] = _emf(namespace, timestamp_ms, DRAIN_METRIC, "Seconds", [["AutoScalingGroupName"], ["Signal"]])
    return record


def malformed_record(reason: str, event: Any, *, namespace: str, timestamp_ms: int) -> dict[str, Any]:
    """The log line for an event that cannot be acted on, with a count metric an alarm can watch."""
    return {
        "level": "ERROR",
        "message": f"malformed lifecycle event ignored: {reason}",
        "event": event if isinstance(event, Mapping | list | str | int | float | bool | None) else repr(event),
        MALFORMED_METRIC: 1,
        "_aws": _emf(namespace, timestamp_ms, MALFORMED_METRIC, "Count", [[]]),
    }


def emit(record: Mapping[str, Any], stream: TextIO | None = None) -> None:
    """Write the record as one JSON line."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
    out.flush()
