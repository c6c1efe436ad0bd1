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

APP = "BlueGreenApp-Application"
GROUP = "BlueGreenApp-blue-green"
PHYSICAL_ID = f"{APP}:{GROUP}"
SLOT_A = "BlueGreenApp-FleetSlotA-XYZ"
SLOT_B = "BlueGreenApp-FleetSlotB-XYZ"
# As CloudFormation delivers them: every scalar a string.
SHARED = {
    "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:provider",
    "ApplicationName": APP,
    "ServiceRoleArn": "arn:aws:iam::123456789012:role/BlueGreenApp-DeploymentServiceRole",
    "DeploymentOption": "WITH_TRAFFIC_CONTROL",
    "TargetGroupName": "BlueGr-LoadB-1A2B3C4D5E6F",
    "TerminationHookEnabled": "false",
    "IgnorePollAlarmFailure": "false",
    "OutdatedInstancesStrategy": "UPDATE",
}
PROPERTIES = {
    **SHARED,
    "DeploymentGroupName": GROUP,
    "DeploymentType": "BLUE_GREEN",
    "DeploymentConfigName": "CodeDeployDefault.OneAtATime",
    "AutoRollbackEvents": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
    "AlarmNames": ["BlueGreenApp-Target5xx", "BlueGreenApp-UnhealthyHosts"],
    "InitialAutoScalingGroup": SLOT_A,
    "GreenFleetProvisioning": "DISCOVER_EXISTING",
    "BlueInstanceTermination": "KEEP_ALIVE",
    "DeploymentReadyAction": "CONTINUE_DEPLOYMENT",
}
BOOTSTRAP = {
    **SHARED,
    "DeploymentGroupName": "BlueGreenApp-bootstrap",
    "DeploymentType": "IN_PLACE",
    "DeploymentConfigName": "CodeDeployDefault.AllAtOnce",
    "AutoRollbackEvents": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"],
    "AlarmNames": [],
}
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:BlueGreenApp-NotificationsTopic-1A2B"
TRIGGER = {
    "TriggerName": "BlueGreenApp-deployments",
    "TriggerTargetArn": TOPIC_ARN,
    "TriggerEvents": [
        "DeploymentStart",
        "DeploymentSuccess",
        "DeploymentFailure",
        "DeploymentStop",
        "DeploymentRollback",
    ],
}
IN_FLIGHT = {
    "applicationName": APP,
    "deploymentGroupName": GROUP,
    "includeOnlyStatuses": list(handler.IN_FLIGHT_STATUSES),
}


@pytest.fixture
def codedeploy() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codedeploy", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_sleep(_seconds: float) -> None:
    return None


def spec(properties: dict[str, Any] = PROPERTIES) -> GroupSpec:
    return GroupSpec.from_properties(properties)


def event(
    request_type: str,
    properties: dict[str, Any] | None = None,
    *,
    old: dict[str, Any] | None = None,
    physical_id: str = PHYSICAL_ID,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "RequestType": request_type,
        "LogicalResourceId": "DeploymentGroup",
        "ResourceProperties": properties or PROPERTIES,
    }
    if old is not None:
        body["OldResourceProperties"] = old
    if request_type != "Create":
        body["PhysicalResourceId"] = physical_id
    return body


def expect_get(stubber: Stubber, app: str = APP, name: str = GROUP, slots: tuple[str, ...] = ()) -> None:
    info: dict[str, Any] = {"applicationName": app, "deploymentGroupName": name, "deploymentGroupId": "0f1e"}
    if slots:
        info["autoScalingGroups"] = [{"name": slot, "hook": f"CodeDeploy-hook-{slot}"} for slot in slots]
    stubber.add_response(
        "get_deployment_group", {"deploymentGroupInfo": info}, {"applicationName": app, "deploymentGroupName": name}
    )


def expect_no_deployments(stubber: Stubber) -> None:
    stubber.add_response("list_deployments", {"deployments": []}, IN_FLIGHT)


# --- create ----------------------------------------------------------------------------------------------------


def test_create_makes_the_blue_green_group_the_properties_describe_on_slot_a(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    stubber.add_response(
        "create_deployment_group",
        {"deploymentGroupId": "0f1e"},
        {
            "applicationName": APP,
            "deploymentGroupName": GROUP,
            "autoScalingGroups": [SLOT_A],
            "serviceRoleArn": PROPERTIES["ServiceRoleArn"],
            "deploymentConfigName": "CodeDeployDefault.OneAtATime",
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "blueGreenDeploymentConfiguration": {
                "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
                "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
            },
            "loadBalancerInfo": {"targetGroupInfoList": [{"name": "BlueGr-LoadB-1A2B3C4D5E6F"}]},
            "autoRollbackConfiguration": {
                "enabled": True,
                "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
            },
            "alarmConfiguration": {
                "enabled": True,
                "ignorePollAlarmFailure": False,
                "alarms": [{"name": "BlueGreenApp-Target5xx"}, {"name": "BlueGreenApp-UnhealthyHosts"}],
            },
            "outdatedInstancesStrategy": "UPDATE",
            "terminationHookEnabled": False,
            "triggerConfigurations": [],
        },
    )

    response = handler.handle(event("Create"), client, no_sleep)

    assert response == {
        "PhysicalResourceId": PHYSICAL_ID,
        "Data": {"DeploymentGroupName": GROUP, "DeploymentGroupId": "0f1e"},
    }


def test_create_of_the_bootstrap_group_is_in_place_with_traffic_control_and_no_auto_scaling_groups(
    codedeploy: tuple[Any, Stubber],
) -> None:
    client, stubber = codedeploy
    stubber.add_response(
        "create_deployment_group",
        {"deploymentGroupId": "b007"},
        {
            "applicationName": APP,
            "deploymentGroupName": "BlueGreenApp-bootstrap",
            "autoScalingGroups": [],
            "serviceRoleArn": SHARED["ServiceRoleArn"],
            "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
            "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "loadBalancerInfo": {"targetGroupInfoList": [{"name": "BlueGr-LoadB-1A2B3C4D5E6F"}]},
            "autoRollbackConfiguration": {
                "enabled": True,
                "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"],
            },
            "alarmConfiguration": {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []},
            "outdatedInstancesStrategy": "UPDATE",
            "terminationHookEnabled": False,
            "triggerConfigurations": [],
        },
    )

    response = handler.handle(event("Create", BOOTSTRAP), client, no_sleep)

    assert response["PhysicalResourceId"] == f"{APP}:BlueGreenApp-bootstrap"


def test_create_sends_the_declared_blue_green_settings_not_built_in_ones(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    declared = {**PROPERTIES, "DeploymentReadyAction": "STOP_DEPLOYMENT", "DeploymentReadyWaitMinutes": "30"}
    declared.update({"TerminationHookEnabled": "true", "AutoRollbackEvents": [], "AlarmNames": []})
    stubber.add_response(
        "create_deployment_group", {"deploymentGroupId": "0f1e"}, create_request(spec(declared), [SLOT_A])
    )

    handler.handle(event("Create", declared), client, no_sleep)

    request = create_request(spec(declared), [SLOT_A])
    assert request["blueGreenDeploymentConfiguration"]["deploymentReadyOption"] == {
        "actionOnTimeout": "STOP_DEPLOYMENT",
        "waitTimeInMinutes": 30,
    }
    assert request["terminationHookEnabled"] is True
    assert request["autoRollbackConfiguration"] == {"enabled": False, "events": []}
    assert request["alarmConfiguration"]["enabled"] is False


def test_create_waits_for_a_new_service_role_to_become_assumable(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    slept: list[float] = []
    stubber.add_client_error("create_deployment_group", service_error_code="InvalidRoleException", http_status_code=400)
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "0f1e"})

    handler.handle(event("Create"), client, slept.append)

    assert slept == [handler.ROLE_PROPAGATION_DELAY_SECONDS]


def test_create_gives_up_on_a_role_that_never_becomes_assumable(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    for _ in range(handler.ROLE_PROPAGATION_ATTEMPTS):
        stubber.add_client_error(
            "create_deployment_group", service_error_code="InvalidRoleException", http_status_code=400
        )

    with pytest.raises(ClientError, match="InvalidRoleException"):
        handler.handle(event("Create"), client, no_sleep)


def test_retried_create_adopts_an_existing_group_without_touching_its_slot(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    stubber.add_client_error(
        "create_deployment_group", service_error_code="DeploymentGroupAlreadyExistsException", http_status_code=400
    )
    stubber.add_response("update_deployment_group", {}, update_request(spec()))
    expect_get(stubber)

    handler.handle(event("Create"), client, no_sleep)

    assert "autoScalingGroups" not in update_request(spec())


def test_other_codedeploy_errors_fail_the_request_for_cloudformation(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    stubber.add_client_error(
        "create_deployment_group", service_error_code="InvalidTargetGroupPairException", http_status_code=400
    )

    with pytest.raises(ClientError, match="InvalidTargetGroupPairException"):
        handler.handle(event("Create"), client, no_sleep)


# --- update ----------------------------------------------------------------------------------------------------


def test_update_applies_every_changed_setting_in_place_and_leaves_the_live_slot_alone(
    codedeploy: tuple[Any, Stubber],
) -> None:
    client, stubber = codedeploy
    new = {
        **PROPERTIES,
        "DeploymentConfigName": "CodeDeployDefault.HalfAtATime",
        "AutoRollbackEvents": ["DEPLOYMENT_FAILURE"],
        "IgnorePollAlarmFailure": "true",
        "InitialAutoScalingGroup": "BlueGreenApp-FleetSlotA-NEW",
    }
    expected = update_request(spec(new))
    stubber.add_response("update_deployment_group", {}, expected)
    expect_get(stubber)

    response = handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert response["PhysicalResourceId"] == PHYSICAL_ID
    assert "autoScalingGroups" not in expected
    assert "newDeploymentGroupName" not in expected
    assert expected["currentDeploymentGroupName"] == GROUP
    assert expected["autoRollbackConfiguration"] == {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    assert expected["alarmConfiguration"]["ignorePollAlarmFailure"] is True


def test_update_to_another_application_creates_a_group_on_the_old_groups_live_slot(
    codedeploy: tuple[Any, Stubber],
) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "ApplicationName": "Other"}
    expect_get(stubber, slots=(SLOT_B,))
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "9a9a"}, create_request(spec(new), [SLOT_B]))

    response = handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert response["PhysicalResourceId"] == f"Other:{GROUP}"
    assert response["Data"]["DeploymentGroupId"] == "9a9a"


def test_a_renamed_group_is_a_new_group_so_a_rollback_can_delete_it_and_keep_the_old_one(
    codedeploy: tuple[Any, Stubber],
) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "DeploymentGroupName": "renamed"}
    expect_get(stubber, slots=(SLOT_B,))
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "9a9a"}, create_request(spec(new), [SLOT_B]))

    response = handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert response["PhysicalResourceId"] == f"{APP}:renamed"


def test_replacement_of_a_group_that_is_gone_starts_with_no_slot_rather_than_slot_a(
    codedeploy: tuple[Any, Stubber],
) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "ApplicationName": "Other"}
    stubber.add_client_error("get_deployment_group", service_error_code="DeploymentGroupDoesNotExistException")
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "9a9a"}, create_request(spec(new), []))

    handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)


def test_replacement_onto_an_existing_group_gives_it_the_old_groups_live_slot(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "ApplicationName": "Other"}
    expect_get(stubber, slots=(SLOT_B,))
    stubber.add_client_error(
        "create_deployment_group", service_error_code="DeploymentGroupAlreadyExistsException", http_status_code=400
    )
    stubber.add_response("update_deployment_group", {}, update_request(spec(new), [SLOT_B]))
    expect_get(stubber, app="Other", slots=(SLOT_B,))

    response = handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert response["PhysicalResourceId"] == f"Other:{GROUP}"


def test_rollback_of_a_replacement_returns_to_the_old_group_with_the_newest_live_slot(
    codedeploy: tuple[Any, Stubber],
) -> None:
    client, stubber = codedeploy
    # CloudFormation's rollback Update: back to the old properties, from the replacement's physical id.
    replacement = {**PROPERTIES, "ApplicationName": "Other"}
    expect_get(stubber, app="Other", slots=(SLOT_B,))
    stubber.add_client_error(
        "create_deployment_group", service_error_code="DeploymentGroupAlreadyExistsException", http_status_code=400
    )
    stubber.add_response("update_deployment_group", {}, update_request(spec(), [SLOT_B]))
    expect_get(stubber, slots=(SLOT_B,))

    response = handler.handle(
        event("Update", PROPERTIES, old=replacement, physical_id=f"Other:{GROUP}"), client, no_sleep
    )

    assert response["PhysicalResourceId"] == PHYSICAL_ID


# --- delete ----------------------------------------------------------------------------------------------------


def test_delete_removes_the_group_and_reports_the_hooks_codedeploy_left(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    expect_no_deployments(stubber)
    stubber.add_response(
        "delete_deployment_group",
        {"hooksNotCleanedUp": [{"name": SLOT_A, "hook": "CodeDeploy-managed-automatic-launch-deployment-hook"}]},
        {"applicationName": APP, "deploymentGroupName": GROUP},
    )

    response = handler.handle(event("Delete"), client, no_sleep)

    assert response == {
        "PhysicalResourceId": PHYSICAL_ID,
        "Data": {
            "StoppedDeployments": "",
            "HooksNotCleanedUp": f"{SLOT_A}:CodeDeploy-managed-automatic-launch-deployment-hook",
        },
    }


def test_delete_stops_deployments_in_flight_with_rollback_and_waits_for_them(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    slept: list[float] = []
    stubber.add_response("list_deployments", {"deployments": ["d-1", "d-2"]}, IN_FLIGHT)
    stubber.add_response("stop_deployment", {"status": "Pending"}, {"deploymentId": "d-1", "autoRollbackEnabled": True})
    stubber.add_client_error(
        "stop_deployment",
        service_error_code="DeploymentAlreadyCompletedException",
        expected_params={"deploymentId": "d-2", "autoRollbackEnabled": True},
    )
    stubber.add_response("list_deployments", {"deployments": ["d-3"]}, IN_FLIGHT)  # the rollback, waited for
    expect_no_deployments(stubber)
    stubber.add_response("delete_deployment_group", {}, {"applicationName": APP, "deploymentGroupName": GROUP})

    response = handler.handle(event("Delete"), client, slept.append)

    assert response["Data"]["StoppedDeployments"] == "d-1,d-2"
    assert slept == [handler.STOP_WAIT_DELAY_SECONDS]


def test_delete_names_the_group_by_physical_id_never_by_properties(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    # A cleanup Delete for the old group may carry properties that describe the new one.
    old_id = f"OldApp:{GROUP}"
    stubber.add_response("list_deployments", {"deployments": []}, {**IN_FLIGHT, "applicationName": "OldApp"})
    stubber.add_response("delete_deployment_group", {}, {"applicationName": "OldApp", "deploymentGroupName": GROUP})

    response = handler.handle(event("Delete", PROPERTIES, physical_id=old_id), client, no_sleep)

    assert response["PhysicalResourceId"] == old_id


@pytest.mark.parametrize(
    "physical_id",
    ["AWSCDK::CustomResourceProviderFramework::CREATE_FAILED", "6e0c1f3a-request-id", ""],
)
def test_delete_of_an_id_that_names_no_group_succeeds_without_calls(
    codedeploy: tuple[Any, Stubber], physical_id: str
) -> None:
    client, _ = codedeploy

    response = handler.handle(event("Delete", {"ApplicationName": "x"}, physical_id=physical_id), client, no_sleep)

    assert response == {"PhysicalResourceId": physical_id}


@pytest.mark.parametrize("code", ["DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"])
def test_delete_of_a_group_already_gone_succeeds(codedeploy: tuple[Any, Stubber], code: str) -> None:
    client, stubber = codedeploy
    stubber.add_client_error("list_deployments", service_error_code=code, http_status_code=400)

    response = handler.handle(event("Delete"), client, no_sleep)

    assert response == {"PhysicalResourceId": PHYSICAL_ID}


def test_delete_failure_other_than_gone_fails_the_request(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    expect_no_deployments(stubber)
    stubber.add_client_error("delete_deployment_group", service_error_code="ThrottlingException", http_status_code=400)

    with pytest.raises(ClientError, match="ThrottlingException"):
        handler.handle(event("Delete"), client, no_sleep)


# --- triggers ----------------------------------------------------------------------------------------------------


def test_create_sends_the_declared_trigger_to_the_notifications_topic(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    declared = {**PROPERTIES, "TriggerConfigurations": [TRIGGER]}
    expected = create_request(spec(declared), [SLOT_A])
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "0f1e"}, expected)

    handler.handle(event("Create", declared), client, no_sleep)

    assert expected["triggerConfigurations"] == [
        {
            "triggerName": "BlueGreenApp-deployments",
            "triggerTargetArn": TOPIC_ARN,
            "triggerEvents": [
                "DeploymentStart",
                "DeploymentSuccess",
                "DeploymentFailure",
                "DeploymentStop",
                "DeploymentRollback",
            ],
        }
    ]


def test_update_that_adds_a_trigger_applies_it_in_place(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    new = {**PROPERTIES, "TriggerConfigurations": [TRIGGER]}
    expected = update_request(spec(new))
    stubber.add_response("update_deployment_group", {}, expected)
    expect_get(stubber)

    handler.handle(event("Update", new, old=PROPERTIES), client, no_sleep)

    assert expected["triggerConfigurations"][0]["triggerTargetArn"] == TOPIC_ARN
    assert "autoScalingGroups" not in expected


def test_update_that_turns_notifications_off_sends_an_empty_trigger_list(codedeploy: tuple[Any, Stubber]) -> None:
    client, stubber = codedeploy
    # An empty list removes the triggers; omitting the field would leave the old one publishing.
    stubber.add_response("update_deployment_group", {}, {**update_request(spec()), "triggerConfigurations": []})
    expect_get(stubber)

    handler.handle(event("Update", PROPERTIES, old={**PROPERTIES, "TriggerConfigurations": [TRIGGER]}), client)


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({**TRIGGER, "TriggerEvents": ["DeploymentExploded"]}, r"TriggerConfigurations\[0\]\.TriggerEvents must list"),
        ({**TRIGGER, "TriggerEvents": []}, r"TriggerConfigurations\[0\]\.TriggerEvents must list"),
        ({**TRIGGER, "TriggerTargetArn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "must be an SNS topic ARN"),
        ({**TRIGGER, "TriggerName": ""}, r"TriggerConfigurations\[0\]\.TriggerName is missing"),
    ],
)
def test_a_malformed_trigger_is_refused_before_any_call(trigger: dict[str, Any], message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        GroupSpec.from_properties({**PROPERTIES, "TriggerConfigurations": [trigger]})


def test_more_triggers_than_codedeploy_holds_are_refused() -> None:
    triggers = [{**TRIGGER, "TriggerName": f"t{index}"} for index in range(11)]

    with pytest.raises(PropertyError, match="at most 10 triggers"):
        GroupSpec.from_properties({**PROPERTIES, "TriggerConfigurations": triggers})


# --- properties and routing ------------------------------------------------------------------------------------


def test_every_invalid_property_is_named_in_one_failure() -> None:
    broken = {**PROPERTIES, "ServiceRoleArn": "", "DeploymentType": None, "TerminationHookEnabled": "maybe"}

    with pytest.raises(PropertyError) as failure:
        GroupSpec.from_properties(broken)

    assert "ServiceRoleArn is missing" in str(failure.value)
    assert "DeploymentType must be one of BLUE_GREEN, IN_PLACE" in str(failure.value)
    assert "TerminationHookEnabled must be true or false" in str(failure.value)


def test_blue_green_settings_have_no_defaults_in_the_provider() -> None:
    missing = {key: value for key, value in PROPERTIES.items() if key != "BlueInstanceTermination"}

    with pytest.raises(PropertyError, match="BlueInstanceTermination must be one of KEEP_ALIVE"):
        GroupSpec.from_properties(missing)


@pytest.mark.parametrize(
    ("key", "value"),
    [("GreenFleetProvisioning", "COPY_AUTO_SCALING_GROUP"), ("BlueInstanceTermination", "TERMINATE")],
)
def test_blue_green_shapes_that_would_bypass_the_slots_are_refused(key: str, value: str) -> None:
    with pytest.raises(PropertyError, match=key):
        GroupSpec.from_properties({**PROPERTIES, key: value})


def test_an_in_place_group_refuses_blue_green_settings() -> None:
    with pytest.raises(PropertyError, match="GreenFleetProvisioning: only for DeploymentType BLUE_GREEN"):
        GroupSpec.from_properties({**BOOTSTRAP, "GreenFleetProvisioning": "DISCOVER_EXISTING"})


def test_traffic_control_needs_a_target_group() -> None:
    with pytest.raises(PropertyError, match="TargetGroupName is required WITH_TRAFFIC_CONTROL"):
        GroupSpec.from_properties({**PROPERTIES, "TargetGroupName": ""})


def test_a_ready_timeout_that_stops_needs_its_wait() -> None:
    with pytest.raises(PropertyError, match="DeploymentReadyWaitMinutes is required"):
        GroupSpec.from_properties({**PROPERTIES, "DeploymentReadyAction": "STOP_DEPLOYMENT"})


def test_update_with_bad_new_properties_fails_before_any_call(codedeploy: tuple[Any, Stubber]) -> None:
    client, _ = codedeploy

    with pytest.raises(PropertyError):
        handler.handle(event("Update", {**PROPERTIES, "AutoRollbackEvents": ["SOMETIMES"]}, old=PROPERTIES), client)


def test_unknown_request_type_is_rejected(codedeploy: tuple[Any, Stubber]) -> None:
    client, _ = codedeploy

    with pytest.raises(ValueError, match="unknown RequestType 'Replace'"):
        handler.handle(event("Replace"), client, no_sleep)


def test_client_is_created_lazily_once() -> None:
    handler.codedeploy.cache_clear()
    first = handler.codedeploy()
    assert handler.codedeploy() is first
    handler.codedeploy.cache_clear()
