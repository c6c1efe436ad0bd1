"""Lambda entry point: parse the trigger, converge the group, log the decision.

Error policy (as the drain and join functions):
- an event that is not a deployment's end (SUCCESS, FAILURE, STOP) of this group nor the sweep is logged and answered
  normally: retrying cannot change it. The handler checks the state itself rather than trusting the EventBridge rule
  alone, and logs such an event only as a bounded summary (a few fields, each cut to `FIELD_CHARS`);
- an AWS error, or a step that failed after the others were tried, is logged and raised: Lambda retries the
  invocation twice (asynchronous invocation, docs/decisions.md F63), then the event goes to the dead-letter queue,
  which an alarm watches. Every step sets a value, so a retry never does harm.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from finisher import aws
from finisher.converge import AWS_ERRORS, Clients, FinishIncompleteError, Stack, converge
from finisher.event import ENDED_STATES, MalformedEventError, Trigger, parse_trigger, short
from finisher.telemetry import emit, failure_record, ignored_record, outcome_record


class ConfigError(ValueError):
    """The function's environment is incomplete or invalid (a deployment bug, not an event problem)."""


@dataclass(frozen=True)
class FunctionConfig:
    """What the construct passes through the environment."""

    stack: Stack
    owner: str


# The variables that must name something (an empty value is as wrong as a missing one).
_REQUIRED = ("APPLICATION_NAME", "DEPLOYMENT_GROUP_NAME", "ARTIFACT_BUCKET", "TARGET_GROUP_ARN", "SLOT_NAMES")


def config_from_env(environ: Mapping[str, str]) -> FunctionConfig:
    """Read the configuration the construct set; raise `ConfigError` naming what is missing or wrong: a required
    variable unset or empty, or SLOT_NAMES not two different Auto Scaling group names."""
    for name in _REQUIRED:
        if not environ.get(name, "").strip():
            raise ConfigError(f"environment variable {name} is {'empty' if name in environ else 'not set'}")
    slots = tuple(name.strip() for name in environ["SLOT_NAMES"].split(",") if name.strip())
    if len(slots) != 2 or slots[0] == slots[1]:
        raise ConfigError(f"SLOT_NAMES must name two different Auto Scaling groups, not {environ['SLOT_NAMES']!r}")
    stack = Stack(
        application=environ["APPLICATION_NAME"],
        deployment_group=environ["DEPLOYMENT_GROUP_NAME"],
        bootstrap_group=environ.get("BOOTSTRAP_GROUP_NAME") or None,
        slots=(slots[0], slots[1]),
        bucket=environ["ARTIFACT_BUCKET"],
        target_group_arn=environ["TARGET_GROUP_ARN"],
    )
    return FunctionConfig(stack=stack, owner=f"finisher Lambda {environ.get('AWS_LAMBDA_FUNCTION_NAME', '?')}")


def _not_ours(trigger: Trigger, stack: Stack) -> str | None:
    """Why a deployment event is not for this function to act on, or None (the sweep always is)."""
    if trigger.kind != "deployment":
        return None
    if trigger.application != stack.application or trigger.deployment_group != stack.deployment_group:
        # The rule filters on this group; anything else (the bootstrap group's first release) is the tool's.
        return f"deployment group {short(trigger.application)}/{short(trigger.deployment_group)} is not this finisher's"
    if trigger.state not in ENDED_STATES:
        # The rule passes only the ends; the handler holds to that itself, so that a rule edited by hand (or a test
        # event) cannot have it converge while the deployment still runs (START, READY, ...).
        return f"deployment state {short(trigger.state)} is not an end ({', '.join(ENDED_STATES)})"
    return None


def handle(
    event: Any,
    *,
    config: FunctionConfig,
    clients: Callable[[], Clients],
    now: Callable[[], datetime],
    request_id: str,
) -> dict[str, Any]:
    """Handle one invocation; `clients` is called only for an event worth acting on."""
    try:
        trigger = parse_trigger(event)
    except MalformedEventError as exc:
        emit(ignored_record(str(exc), event))
        return {"status": "ignored", "reason": str(exc)}
    reason = _not_ours(trigger, config.stack)
    if reason is not None:
        emit(ignored_record(reason, event))
        return {"status": "ignored", "reason": reason}
    try:
        outcome = converge(clients(), config.stack, now=now, owner=config.owner, request_id=request_id)
    except FinishIncompleteError as exc:
        emit(outcome_record(trigger, exc.outcome, level="ERROR"))
        raise
    except AWS_ERRORS as exc:
        emit(failure_record(trigger, exc))
        raise
    emit(outcome_record(trigger, outcome))
    return {"status": str(outcome.action), "reason": outcome.reason, "deployment_id": outcome.deployment_id}


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The function's handler (`finisher.handler.lambda_handler`)."""
    config = config_from_env(os.environ)

    def real_clients() -> Clients:
        return Clients(
            codedeploy=aws.client("codedeploy"),
            autoscaling=aws.client("autoscaling"),
            elbv2=aws.client("elbv2"),
            s3=aws.client("s3"),
        )

    request_id = getattr(context, "aws_request_id", None) or "local"
    return handle(event, config=config, clients=real_clients, now=lambda: datetime.now(UTC), request_id=request_id)
