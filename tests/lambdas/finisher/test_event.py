"""The finisher's two triggers: a deployment that ended, and the sweep's schedule; anything else is refused."""

from __future__ import annotations

from typing import Any

import pytest
from finisher.event import MalformedEventError, parse_trigger

from tests.lambdas.finisher.conftest import SCHEDULED_EVENT, deployment_event


def test_a_deployment_event_names_its_group_deployment_and_state() -> None:
    trigger = parse_trigger(deployment_event("d-ABC123", "FAILURE"))
    assert (trigger.kind, trigger.deployment_id, trigger.state) == ("deployment", "d-ABC123", "FAILURE")
    assert trigger.deployment_group == "BlueGreenApp-group"


def test_the_schedule_is_a_sweep() -> None:
    assert parse_trigger(SCHEDULED_EVENT).kind == "sweep"


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {"source": "aws.autoscaling", "detail-type": "EC2 Instance Launch Successful", "detail": {}},
        {**deployment_event("d-1", "SUCCESS"), "detail": "not an object"},
        {**deployment_event("d-1", "SUCCESS"), "detail": {"application": "a", "deploymentGroup": "g"}},
    ],
)
def test_anything_else_is_refused_with_the_reason(event: Any) -> None:
    with pytest.raises(MalformedEventError):
        parse_trigger(event)
