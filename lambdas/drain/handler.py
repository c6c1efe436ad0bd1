"""Lambda entry point: parse the event, build the adapter, run the decision, log it.

Error policy, chosen so that a bad event can never become a retry loop:
- a malformed event is logged (with a `MalformedEvents` metric) and answered normally: retrying cannot repair it,
  and the hook, if there is one, still ends with its default result CONTINUE when its heartbeat runs out;
- every failure while draining is absorbed by the decision (it waits to the bound and completes anyway);
- only a CompleteLifecycleAction that keeps failing, or a broken function configuration, raises: that reaches the
  bounded async retries and then the dead-letter queue, where an operator sees it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from drain import aws
from drain.decision import CompletionFailedError, DrainPorts, DrainSettings, drain
from drain.event import MalformedEventError, parse_lifecycle_event
from drain.telemetry import decision_record, emit, malformed_record

# Leave this much of the invocation for CompleteLifecycleAction and its retries (backoff 0.5+1+2+4+5 s, plus calls).
INVOCATION_MARGIN_SECONDS = 20.0


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid (a deployment bug, not an event problem)."""


@dataclass(frozen=True)
class FunctionConfig:
    """What the construct passes through the environment."""

    settings: DrainSettings
    target_group_arn: str
    in_flight_command: str
    metric_namespace: str


def config_from_env(environ: Mapping[str, str]) -> FunctionConfig:
    """Read the configuration the construct set; raise `ConfigError` naming what is missing or wrong."""
    try:
        return FunctionConfig(
            settings=DrainSettings(
                app_port=int(environ["APP_PORT"]),
                deregistration_delay=float(environ["DEREGISTRATION_DELAY_SECONDS"]),
                heartbeat_timeout=float(environ["HEARTBEAT_TIMEOUT_SECONDS"]),
                poll_interval=float(environ["POLL_INTERVAL_SECONDS"]),
            ),
            target_group_arn=environ["TARGET_GROUP_ARN"],
            in_flight_command=environ["IN_FLIGHT_COMMAND"],
            metric_namespace=environ.get("METRIC_NAMESPACE", "BlueGreen/Drain"),
        )
    except KeyError as exc:
        raise ConfigError(f"environment variable {exc.args[0]} is not set") from exc
    except ValueError as exc:
        raise ConfigError(f"invalid number in the environment: {exc}") from exc


def handle(
    event: Any,
    *,
    config: FunctionConfig,
    ports: Callable[[], DrainPorts],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    remaining_seconds: float | None = None,
) -> dict[str, Any]:
    """Handle one event; `ports` is called only for a well-formed event, so a bad event makes no AWS client."""
    now_ms = int(time.time() * 1000)
    try:
        action = parse_lifecycle_event(event)
    except MalformedEventError as exc:
        emit(malformed_record(str(exc), event, namespace=config.metric_namespace, timestamp_ms=now_ms))
        return {"status": "rejected", "reason": str(exc)}
    hard_deadline = None if remaining_seconds is None else clock() + remaining_seconds - INVOCATION_MARGIN_SECONDS
    try:
        outcome = drain(action, config.settings, ports(), clock=clock, sleep=sleep, hard_deadline=hard_deadline)
    except CompletionFailedError as exc:
        if exc.outcome is not None:
            record = decision_record(action, exc.outcome, namespace=config.metric_namespace, timestamp_ms=now_ms)
            emit({**record, "error": str(exc), "cause": str(exc.__cause__)})
        raise
    emit(decision_record(action, outcome, namespace=config.metric_namespace, timestamp_ms=now_ms))
    return {
        "status": str(outcome.completion),
        "signal": str(outcome.signal),
        "instance_id": action.instance_id,
        "drain_seconds": outcome.drain_seconds,
    }


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The function's handler (`drain.handler.lambda_handler`)."""
    config = config_from_env(os.environ)

    def real_ports() -> DrainPorts:
        return aws.AwsDrainPorts(
            autoscaling=aws.client("autoscaling"),
            elbv2=aws.client("elbv2"),
            ssm=aws.client("ssm"),
            target_group_arn=config.target_group_arn,
            in_flight_command=config.in_flight_command,
            clock=time.monotonic,
            sleep=time.sleep,
            poll_interval=config.settings.poll_interval,
        )

    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    return handle(
        event, config=config, ports=real_ports, clock=time.monotonic, sleep=time.sleep, remaining_seconds=remaining
    )
