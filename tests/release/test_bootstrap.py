"""The first release's bootstrap group: its calls (checked by botocore's Stubber against the model) and its route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from release import bootstrap, deployments
from release.bootstrap import Bootstrap, Route, choose_route
from release.deployments import BootstrapGroupInfo
from release.errors import ReleaseInFlight, TargetsError

from tests.release.support import APP, SLOT_A, SLOT_B

PAIR = (SLOT_A, SLOT_B)
BOOT = "BlueGreenApp-bootstrap"
REVISION = {
    "revisionType": "S3",
    "s3Location": {"bucket": "b", "key": "revisions/app/abc.zip", "bundleType": "zip", "eTag": "e"},
}


@pytest.fixture
def stub() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("codedeploy", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _group_info(*, style: tuple[str, str] = ("IN_PLACE", "WITH_TRAFFIC_CONTROL"), **extra: Any) -> dict[str, Any]:
    return {
        "deploymentGroupInfo": {
            "applicationName": APP,
            "deploymentGroupName": BOOT,
            "deploymentConfigName": "CodeDeployDefault.OneAtATime",
            "deploymentStyle": {"deploymentType": style[0], "deploymentOption": style[1]},
            **extra,
        }
    }


def _group(listed: tuple[str, ...] = (), status: str | None = None) -> BootstrapGroupInfo:
    return BootstrapGroupInfo(
        APP, BOOT, listed, "CodeDeployDefault.OneAtATime", "d-1" if status else None, status, None
    )


def _update(slots: list[str]) -> dict[str, Any]:
    return {"applicationName": APP, "currentDeploymentGroupName": BOOT, "autoScalingGroups": slots}


# --- route ------------------------------------------------------------------------------------------------------------


def test_nothing_serving_and_nothing_registered_goes_through_the_bootstrap_group() -> None:
    assert choose_route(live_serving=0, registered={}, bootstrap_group=BOOT) is Route.BOOTSTRAP


def test_a_serving_live_slot_is_an_ordinary_blue_green_release() -> None:
    assert choose_route(live_serving=2, registered={"i-1": "healthy"}, bootstrap_group=BOOT) is Route.BLUE_GREEN


def test_an_older_stack_without_a_bootstrap_group_keeps_the_previous_first_release_and_says_so() -> None:
    route = choose_route(live_serving=0, registered={}, bootstrap_group=None)
    assert route is Route.EMPTY_ORIGINAL
    note = bootstrap.route_note(route, live=SLOT_A, registered={}, bootstrap_group=None)
    assert "BootstrapDeploymentGroupName" in note and "F15" in note


def test_registered_targets_or_an_unknown_target_group_never_take_the_bootstrap_path() -> None:
    assert choose_route(live_serving=0, registered={"i-1": "healthy"}, bootstrap_group=BOOT) is Route.EMPTY_ORIGINAL
    assert choose_route(live_serving=0, registered=None, bootstrap_group=BOOT) is Route.EMPTY_ORIGINAL


def test_a_bootstrap_group_listing_a_slot_after_a_success_witnesses_that_slot() -> None:
    assert _group((SLOT_B,), "Succeeded").succeeded_on(PAIR) == SLOT_B
    assert _group((SLOT_B,), "Failed").succeeded_on(PAIR) is None
    assert _group((), "Succeeded").succeeded_on(PAIR) is None


# --- reading the group ------------------------------------------------------------------------------------------------


def test_the_bootstrap_group_is_read_with_its_list_and_last_deployment(stub) -> None:
    client, stubber = stub
    answer = _group_info(
        autoScalingGroups=[{"name": SLOT_B, "hook": "CodeDeploy-managed-automatic-launch-deployment-hook-x"}],
        lastAttemptedDeployment={"deploymentId": "d-9", "status": "Succeeded"},
        lastSuccessfulDeployment={"deploymentId": "d-9", "status": "Succeeded"},
    )
    stubber.add_response("get_deployment_group", answer, {"applicationName": APP, "deploymentGroupName": BOOT})
    group = deployments.get_bootstrap_group(client, APP, BOOT)
    assert group.listed_slots == (SLOT_B,) and group.succeeded_on(PAIR) == SLOT_B


def test_a_bootstrap_group_that_is_not_in_place_with_traffic_control_is_refused(stub) -> None:
    client, stubber = stub
    stubber.add_response("get_deployment_group", _group_info(style=("BLUE_GREEN", "WITH_TRAFFIC_CONTROL")))
    with pytest.raises(TargetsError, match="not IN_PLACE/WITH_TRAFFIC_CONTROL"):
        deployments.get_bootstrap_group(client, APP, BOOT)


# --- the steps --------------------------------------------------------------------------------------------------------


def test_start_lists_the_idle_slot_then_deploys_in_place_without_target_instances(stub) -> None:
    # Given an empty bootstrap group
    client, stubber = stub
    stubber.add_response("update_deployment_group", {"hooksNotCleanedUp": []}, _update([SLOT_B]))
    stubber.add_response(
        "create_deployment",
        {"deploymentId": "d-BOOT"},
        {
            "applicationName": APP,
            "deploymentGroupName": BOOT,
            "revision": REVISION,
            "description": "release abc (first release, in place)",
        },
    )
    # When the bootstrap starts on slot B
    deployment = Bootstrap(client, _group(), print).start(slot=SLOT_B, revision=REVISION, description="release abc")
    # Then the group listed B before CreateDeployment, which named no targetInstances (Stubber checks the params)
    assert deployment == "d-BOOT"


def test_a_refused_bootstrap_deployment_clears_the_list_again(stub) -> None:
    client, stubber = stub
    stubber.add_response("update_deployment_group", {"hooksNotCleanedUp": []}, _update([SLOT_B]))
    stubber.add_client_error("create_deployment", "DeploymentLimitExceededException", "one at a time")
    stubber.add_response("update_deployment_group", {"hooksNotCleanedUp": []}, _update([]))
    with pytest.raises(ReleaseInFlight):
        Bootstrap(client, _group(), print).start(slot=SLOT_B, revision=REVISION, description="release")


def test_success_points_the_blue_green_group_first_and_then_clears_the_bootstrap_list(stub) -> None:
    # Given a bootstrap that succeeded
    client, stubber = stub
    order: list[str] = []
    stubber.add_response("update_deployment_group", {"hooksNotCleanedUp": []}, _update([]))
    original = client.update_deployment_group

    def spy(**params: Any) -> Any:
        order.append(f"bootstrap {params['autoScalingGroups']}")
        return original(**params)

    client.update_deployment_group = spy
    # When it is finished
    Bootstrap(client, _group((SLOT_B,)), print).succeeded(lambda: order.append("blue/green [B]"))
    # Then the blue/green group took the slot before the bootstrap group let go of it (an empty, non-null list)
    assert order == ["blue/green [B]", "bootstrap []"]


def test_recovery_clears_a_list_left_by_an_interrupted_run(stub) -> None:
    client, stubber = stub
    stubber.add_response("update_deployment_group", {"hooksNotCleanedUp": []}, _update([]))
    note = Bootstrap(client, _group((SLOT_B,), "Failed"), print).recover()
    assert note is not None and SLOT_B in note and "Failed" in note


def test_recovery_does_nothing_when_the_bootstrap_group_lists_no_slot(stub) -> None:
    client, _ = stub
    assert Bootstrap(client, _group(), print).recover() is None


def test_hooks_codedeploy_could_not_remove_are_reported(stub) -> None:
    client, stubber = stub
    leftover = {"hooksNotCleanedUp": [{"name": SLOT_B, "hook": "CodeDeploy-managed-automatic-launch-deployment-hook"}]}
    stubber.add_response("update_deployment_group", leftover, _update([]))
    lines: list[str] = []
    Bootstrap(client, _group((SLOT_B,), "Failed"), lines.append).ended_unsuccessfully()
    assert any("could not remove" in line and SLOT_B in line for line in lines)
