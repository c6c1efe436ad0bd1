"""The deployment-group provider sends CodeDeploy requests that validate against botocore's service model.

moto has no UpdateDeploymentGroup, so every call goes through botocore's Stubber, which validates each request's
parameter names, types and enums against the CodeDeploy model before checking the expected values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from deployment_group import handler
from deployment_group.group import GroupSpec, PropertyError, create_request, update_request

PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
    "ApplicationName": "BlueGreenApp-Application",
    "DeploymentGroupName": "BlueGreenApp-blue-green",
    "ServiceRoleArn": "arn:aws:iam::123456789012:role/BlueGreenApp-DeploymentServiceRole",
    "TargetGroupName": "BlueGr-LoadB-1A2B3C4D5E6F",
    "DeploymentConfigName": "CodeDeployDefault.OneAtATime",
    "AlarmNames": ["BlueGreenApp-Target5xx", "BlueGreenApp-UnhealthyHosts"],
    "InitialAutoScalingGroup": "BlueGreenApp-FleetSlotA-XYZ",
}
GROUP_INFO = {"deploymentGroupInfo": {"deploymentGroupName": "BlueGreenApp-blue-green", "deploymentGroupId": "0f1e"}}


@pytest.fixture
def codedeploy() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codedeploy", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_sleep(_seconds: float) -> None:
    return None


def event(request_type: str, properties: dict | None = None, old: dict | None = None) -> dict:
    body: dict[str, Any] = {
        "RequestType": request_type,
        "LogicalResourceId": "DeploymentGroup",
        "ResourceProperties": properties or PROPERTIES,
    }
    if old is not None:
        body["OldResourceProperties"] = old
    if request_type != "Create":
        body["PhysicalResourceId"] = "BlueGreenApp-Application:BlueGreenApp-blue-green"
    return body


def expect_get(stubber: Stubber, name: str = "BlueGreenApp-blue-green") -> None:
    stubber.add_response(
        "get_deployment_group",
        {"deploymentGroupInfo": {"deploymentGroupName": name, "deploymentGroupId": "0f1e"}},
        {"applicationName": "BlueGreenApp-Application", "deploymentGroupName": name},
    )


def test_create_makes_a_blue_green_group_that_discovers_the_initial_slot(codedeploy) -> None:
    client, stubber = codedeploy
    expected = create_request(GroupSpec.from_properties(PROPERTIES))
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "0f1e"}, expected)
    expect_get(stubber)

    response = handler.handle(event("Create"), client, no_sleep)

    assert response["PhysicalResourceId"] == "BlueGreenApp-Application:BlueGreenApp-blue-green"
    assert response["Data"] == {"DeploymentGroupName": "BlueGreenApp-blue-green", "DeploymentGroupId": "0f1e"}
    assert expected["autoScalingGroups"] == ["BlueGreenApp-FleetSlotA-XYZ"]
    assert expected["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert expected["blueGreenDeploymentConfiguration"] == {
        "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
    }
    assert expected["autoRollbackConfiguration"]["events"] == [
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
        "DEPLOYMENT_STOP_ON_REQUEST",
    ]
    assert expected["terminationHookEnabled"] is False
    assert expected["alarmConfiguration"]["alarms"] == [
        {"name": "BlueGreenApp-Target5xx"},
        {"name": "BlueGreenApp-UnhealthyHosts"},
    ]


def test_update_changes_settings_in_place_and_leaves_the_live_slot_alone(codedeploy) -> None:
    client, stubber = codedeploy
    new = {
        **PROPERTIES,
        "DeploymentConfigName": "CodeDeployDefault.HalfAtATime",
        "InitialAutoScalingGroup": "BlueGreenApp-FleetSlotA-NEW",
    }
    expected = update_request(GroupSpec.from_properties(PROPERTIES), GroupSpec.from_properties(new))
    stubber.add_response("update_deployment_group", {}, expected)
    expect_get(stubber)

    handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert "autoScalingGroups" not in expected
    assert expected["currentDeploymentGroupName"] == "BlueGreenApp-blue-green"
    assert expected["deploymentConfigName"] == "CodeDeployDefault.HalfAtATime"
    assert "newDeploymentGroupName" not in expected


def test_update_with_a_new_name_renames_the_group_in_place(codedeploy) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "DeploymentGroupName": "renamed"}
    expected = update_request(GroupSpec.from_properties(PROPERTIES), GroupSpec.from_properties(new))
    stubber.add_response("update_deployment_group", {}, expected)
    expect_get(stubber, "renamed")

    response = handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert expected["newDeploymentGroupName"] == "renamed"
    assert response["PhysicalResourceId"] == "BlueGreenApp-Application:renamed"


def test_update_to_another_application_creates_a_new_group(codedeploy) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "ApplicationName": "Other"}
    stubber.add_response(
        "create_deployment_group", {"deploymentGroupId": "0f1e"}, create_request(GroupSpec.from_properties(new))
    )
    stubber.add_response(
        "get_deployment_group",
        GROUP_INFO,
        {"applicationName": "Other", "deploymentGroupName": "BlueGreenApp-blue-green"},
    )

    response = handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert response["PhysicalResourceId"] == "Other:BlueGreenApp-blue-green"


def test_delete_removes_the_group(codedeploy) -> None:
    client, stubber = codedeploy
    stubber.add_response(
        "delete_deployment_group",
        {"hooksNotCleanedUp": []},
        {"applicationName": "BlueGreenApp-Application", "deploymentGroupName": "BlueGreenApp-blue-green"},
    )

    response = handler.handle(event("Delete"), client, no_sleep)

    assert response == {"PhysicalResourceId": "BlueGreenApp-Application:BlueGreenApp-blue-green"}


@pytest.mark.parametrize("code", ["DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"])
def test_delete_of_a_group_already_gone_succeeds(codedeploy, code: str) -> None:
    client, stubber = codedeploy
    stubber.add_client_error("delete_deployment_group", service_error_code=code, http_status_code=400)

    response = handler.handle(event("Delete"), client, no_sleep)

    assert response["PhysicalResourceId"] == "BlueGreenApp-Application:BlueGreenApp-blue-green"


def test_delete_with_unusable_properties_succeeds_because_nothing_was_created(codedeploy) -> None:
    client, _ = codedeploy

    response = handler.handle(event("Delete", {"ApplicationName": "x"}), client, no_sleep)

    assert response == {"PhysicalResourceId": "BlueGreenApp-Application:BlueGreenApp-blue-green"}


def test_create_waits_for_a_new_service_role_to_become_assumable(codedeploy) -> None:
    client, stubber = codedeploy
    slept: list[float] = []
    stubber.add_client_error("create_deployment_group", service_error_code="InvalidRoleException", http_status_code=400)
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "0f1e"})
    expect_get(stubber)

    handler.handle(event("Create"), client, slept.append)

    assert slept == [handler.ROLE_PROPAGATION_DELAY_SECONDS]


def test_create_gives_up_on_a_role_that_never_becomes_assumable(codedeploy) -> None:
    client, stubber = codedeploy
    for _ in range(handler.ROLE_PROPAGATION_ATTEMPTS):
        stubber.add_client_error(
            "create_deployment_group", service_error_code="InvalidRoleException", http_status_code=400
        )

    with pytest.raises(ClientError, match="InvalidRoleException"):
        handler.handle(event("Create"), client, no_sleep)


def test_retried_create_adopts_an_existing_group_without_touching_its_slot(codedeploy) -> None:
    client, stubber = codedeploy
    spec = GroupSpec.from_properties(PROPERTIES)
    stubber.add_client_error(
        "create_deployment_group", service_error_code="DeploymentGroupAlreadyExistsException", http_status_code=400
    )
    stubber.add_response("update_deployment_group", {}, update_request(spec, spec))
    expect_get(stubber)

    handler.handle(event("Create"), client, no_sleep)


def test_other_codedeploy_errors_fail_the_request_for_cloudformation(codedeploy) -> None:
    client, stubber = codedeploy
    stubber.add_client_error(
        "create_deployment_group", service_error_code="InvalidTargetGroupPairException", http_status_code=400
    )

    with pytest.raises(ClientError, match="InvalidTargetGroupPairException"):
        handler.handle(event("Create"), client, no_sleep)


def test_missing_properties_are_named_in_the_failure() -> None:
    with pytest.raises(PropertyError, match="ServiceRoleArn, TargetGroupName"):
        GroupSpec.from_properties({**PROPERTIES, "ServiceRoleArn": "", "TargetGroupName": None})


def test_unknown_request_type_is_rejected(codedeploy) -> None:
    client, _ = codedeploy

    with pytest.raises(ValueError, match="unknown RequestType 'Replace'"):
        handler.handle(event("Replace"), client, no_sleep)


def test_client_is_created_lazily_once() -> None:
    handler.codedeploy.cache_clear()
    first = handler.codedeploy()
    assert handler.codedeploy() is first
    handler.codedeploy.cache_clear()
