"""Lambda entry point: parse the event, build the adapter, run the decision, log it.

Error policy:
- a malformed event is logged (with a `MalformedEvents` metric) and answered normally: retrying cannot repair it;
- an AWS call that fails, or an instance still Pending when the invocation's time runs out, is logged and raised:
  Lambda retries the event a bounded number of times, then puts it in the dead-letter queue, where an operator sees
  it. Every step is safe to repeat (RegisterTargets is idempotent), so a retry can never do harm.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from join import aws
from join.decision import JoinPorts, PortError, StillPendingError, join
from join.event import MalformedEventError, parse_launch_event
from join.telemetry import decision_record, emit, failure_record, malformed_record

# Leave this much of the invocation for the last calls (GetDeploymentGroup, RegisterTargets, with their retries).
INVOCATION_MARGIN_SECONDS = 30.0
# Without a Lambda context (tests, local runs), wait this long for a Pending instance.
DEFAULT_WAIT_SECONDS = 60.0


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid (a deployment bug, not an event problem)."""


@dataclass(frozen=True)
class FunctionConfig:
    """What the construct passes through the environment."""

    target_group_arn: str
    application_name: str
    deployment_group_name: str
    poll_interval: float
    metric_namespace: str


def config_from_env(environ: Mapping[str, str]) -> FunctionConfig:
    """Read the configuration the construct set; raise `ConfigError` naming what is missing or wrong."""
    try:
        return FunctionConfig(
            target_group_arn=environ["TARGET_GROUP_ARN"],
            application_name=environ["APPLICATION_NAME"],
            deployment_group_name=environ["DEPLOYMENT_GROUP_NAME"],
            poll_interval=float(environ.get("POLL_INTERVAL_SECONDS", "10")),
            metric_namespace=environ.get("METRIC_NAMESPACE", "BlueGreen/Join"),
        )
    except KeyError as exc:
        raise ConfigError(f"environment variable {exc.args[0]} is not set") from exc
    except ValueError as exc:
        raise ConfigError(f"invalid number in the environment: {exc}") from exc


def handle(
    event: Any,
    *,
    config: FunctionConfig,
    ports: Callable[[], JoinPorts],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    remaining_seconds: float | None = None,
) -> dict[str, Any]:
    """Handle one event; `ports` is called only for a well-formed event, so a bad event makes no AWS client."""
    now_ms = int(time.time() * 1000)
    try:
        launch = parse_launch_event(event)
    except MalformedEventError as exc:
        emit(malformed_record(str(exc), event, namespace=config.metric_namespace, timestamp_ms=now_ms))
        return {"status": "rejected", "reason": str(exc)}
    budget = DEFAULT_WAIT_SECONDS if remaining_seconds is None else remaining_seconds - INVOCATION_MARGIN_SECONDS
    try:
        outcome = join(
            launch, ports(), clock=clock, sleep=sleep, deadline=clock() + budget, poll_interval=config.poll_interval
        )
    except (PortError, StillPendingError) as exc:
        emit(failure_record(launch, exc))
        raise
    emit(decision_record(launch, outcome, namespace=config.metric_namespace, timestamp_ms=now_ms))
    return {"status": str(outcome.decision), "instance_id": launch.instance_id, "group": launch.group_name}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The function's handler (`join.handler.lambda_handler`)."""
    config = config_from_env(os.environ)

    def real_ports() -> JoinPorts:
        return aws.AwsJoinPorts(
            autoscaling=aws.client("autoscaling"),
            elbv2=aws.client("elbv2"),
            codedeploy=aws.client("codedeploy"),
            target_group_arn=config.target_group_arn,
            application_name=config.application_name,
            deployment_group_name=config.deployment_group_name,
        )

    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    return handle(
        event, config=config, ports=real_ports, clock=time.monotonic, sleep=time.sleep, remaining_seconds=remaining
    )
