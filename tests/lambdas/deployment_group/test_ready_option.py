"""The promotion gate reaches CodeDeploy as the blue/green group's deployment-ready option (docs/decisions.md F80).

The requests go through botocore's Stubber, which validates them against the CodeDeploy model; the expected values
are the ready option the gate means: STOP_DEPLOYMENT with its wait, or CONTINUE_DEPLOYMENT with none.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from deployment_group import handler
from deployment_group.group import GroupSpec, PropertyError, update_request

from tests.lambdas.deployment_group.test_handler import APP, GROUP, PROPERTIES, event, no_sleep

GATED = {**PROPERTIES, "DeploymentReadyAction": "STOP_DEPLOYMENT", "DeploymentReadyWaitMinutes": "60"}


def _update(event_body: dict[str, Any], ready_option: dict[str, Any]) -> dict[str, Any]:
    """Run the provider on `event_body` against a Stubber that expects UpdateDeploymentGroup with the ungated group's
    settings except for `ready_option` (a different request fails the call), then the read of the group."""
    client = boto3.client("codedeploy", region_name="eu-west-1")
    with Stubber(client) as stubber:
        _expect_update_then_read(stubber, ready_option)
        response = handler.handle(event_body, client, no_sleep)
        stubber.assert_no_pending_responses()
    return response


def _expect_update_then_read(stubber: Stubber, ready_option: dict[str, Any]) -> None:
    expected = update_request(GroupSpec.from_properties(PROPERTIES))
    blue_green = dict(expected["blueGreenDeploymentConfiguration"])
    blue_green["deploymentReadyOption"] = ready_option
    stubber.add_response(
        "update_deployment_group",
        {"hooksNotCleanedUp": []},
        {**expected, "blueGreenDeploymentConfiguration": blue_green},
    )
    stubber.add_response(
        "get_deployment_group",
        {"deploymentGroupInfo": {"applicationName": APP, "deploymentGroupName": GROUP, "deploymentGroupId": "0f1e"}},
        {"applicationName": APP, "deploymentGroupName": GROUP},
    )


def test_turning_the_gate_on_updates_the_group_to_stop_before_rerouting_and_wait() -> None:
    # Given a deployed group that continues at once, and the stack now declaring the gate with a 60-minute wait
    # When CloudFormation sends the Update
    # Then (checked by the stub on the call) the group's deployments stop once installed and wait 60 minutes
    response = _update(
        event("Update", GATED, old=PROPERTIES), {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 60}
    )

    assert response["PhysicalResourceId"] == f"{APP}:{GROUP}"


def test_turning_the_gate_off_sends_continue_without_a_wait() -> None:
    # Given a gated group and the stack declaring the gate off again
    # When CloudFormation sends the Update
    # Then (checked by the stub on the call) the ready option says continue, and no stale wait is carried over
    response = _update(event("Update", PROPERTIES, old=GATED), {"actionOnTimeout": "CONTINUE_DEPLOYMENT"})

    assert response["PhysicalResourceId"] == f"{APP}:{GROUP}"


@pytest.mark.parametrize("minutes", ["0", "2881"])
def test_a_ready_wait_outside_codedeploys_48_hours_is_refused(minutes: str) -> None:
    with pytest.raises(PropertyError, match=r"DeploymentReadyWaitMinutes must be 1\.\.2880"):
        GroupSpec.from_properties({**GATED, "DeploymentReadyWaitMinutes": minutes})


def test_the_longest_ready_wait_codedeploy_allows_is_accepted() -> None:
    spec = GroupSpec.from_properties({**GATED, "DeploymentReadyWaitMinutes": "2880"})
    assert spec.blue_green is not None and spec.blue_green.deployment_ready_wait_minutes == 2880


def test_a_wait_without_the_stop_action_is_refused_as_meaningless() -> None:
    with pytest.raises(PropertyError, match="applies only to DeploymentReadyAction STOP_DEPLOYMENT"):
        GroupSpec.from_properties({**PROPERTIES, "DeploymentReadyWaitMinutes": "60"})
