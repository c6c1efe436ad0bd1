"""Whole releases that must trust the load balancer (issue 9 §3) and bootstrap a first release in place (§4).

moto holds S3, the slots and the target group; CodeDeploy is the scripted fake (validated against botocore's model),
extended here with the stack's second, in-place bootstrap group.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from release.cli import EXIT_CODES
from release.errors import ExitCode
from release.operations import StatusClients, print_status
from release.orchestrate import Clients, Release
from release.record import ReleaseRecord

from bluegreen.timing import REGISTRATION_SECONDS
from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy, Script, _validated
from tests.release.support import APP, BUCKET, GROUP, REGION, SLOT_A, SLOT_B, World

BOOT = "BlueGreenApp-bootstrap"
TERMINAL = ("Succeeded", "Failed", "Stopped")


class TwoGroupCodeDeploy(FakeCodeDeploy):
    """The scripted CodeDeploy with the stack's bootstrap group (IN_PLACE, WITH_TRAFFIC_CONTROL) next to the B/G one."""

    def __init__(
        self,
        listed: Iterable[str],
        *,
        script: Script | None = None,
        boot_listed: Iterable[str] = (),
        boot_last: str | None = None,
    ) -> None:
        super().__init__(APP, GROUP, None, script=script)
        self.listed = list(listed)
        self.boot_listed = list(boot_listed)
        self.boot_last: tuple[str, str] | None = ("d-boot-earlier", boot_last) if boot_last else None
        self.boot_updates: list[list[str]] = []
        self.order: list[str] = []

    def get_deployment_group(self, **params: Any) -> dict[str, Any]:
        if params["deploymentGroupName"] != BOOT:
            return super().get_deployment_group(**params)
        self.calls.append(("get_deployment_group", params))
        info: dict[str, Any] = {
            "applicationName": APP,
            "deploymentGroupName": BOOT,
            "deploymentConfigName": "CodeDeployDefault.OneAtATime",
            "autoScalingGroups": [{"name": name, "hook": "CodeDeploy-managed-hook"} for name in self.boot_listed],
            "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "computePlatform": "Server",
        }
        if self.boot_last:
            info["lastAttemptedDeployment"] = {"deploymentId": self.boot_last[0], "status": self.boot_last[1]}
        return _validated("GetDeploymentGroup", params, {"deploymentGroupInfo": info})

    def update_deployment_group(self, **params: Any) -> dict[str, Any]:
        if params["currentDeploymentGroupName"] != BOOT:
            self.order.append(f"blue/green {params.get('autoScalingGroups')}")
            return super().update_deployment_group(**params)
        self.calls.append(("update_deployment_group", params))
        self.order.append(f"bootstrap {params['autoScalingGroups']}")
        self.boot_updates.append(list(params["autoScalingGroups"]))
        self.boot_listed = list(params["autoScalingGroups"])
        return _validated("UpdateDeploymentGroup", params, {"hooksNotCleanedUp": []})

    def list_deployments(self, **params: Any) -> dict[str, Any]:
        answer = super().list_deployments(**params)
        group = params.get("deploymentGroupName")
        answer["deployments"] = [
            d for d in answer["deployments"] if self.deployments[d]["deploymentGroupName"] == group
        ]
        return answer

    def create_deployment(self, **params: Any) -> dict[str, Any]:
        self.order.append(f"create in {params['deploymentGroupName']}")
        return super().create_deployment(**params)

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        before = self.last_successful
        answer = super().get_deployment(**params)
        info = answer["deploymentInfo"]
        if info["deploymentGroupName"] == BOOT:
            # The bootstrap group's history is its own: it never becomes the blue/green group's last success.
            self.last_successful = before
            if info["status"] in TERMINAL:
                self.boot_last = (info["deploymentId"], info["status"])
        return answer


@dataclass
class Site:
    """The world plus a target group (moto ELBv2) that the release reads."""

    world: World
    elbv2: Any
    arn: str

    def instances(self, slot: str) -> list[str]:
        return [item["InstanceId"] for item in self.world.slot(slot)["Instances"]]

    def register(self, slot: str) -> None:
        self.elbv2.register_targets(TargetGroupArn=self.arn, Targets=[{"Id": i} for i in self.instances(slot)])

    def registered(self) -> set[str]:
        answer = self.elbv2.describe_target_health(TargetGroupArn=self.arn)
        return {item["Target"]["Id"] for item in answer["TargetHealthDescriptions"]}

    def release(self, codedeploy: FakeCodeDeploy, *, bootstrap: str | None = BOOT, **options: Any) -> ReleaseRecord:
        world = self.world
        clients = Clients(s3=world.s3, autoscaling=world.autoscaling, codedeploy=codedeploy, elbv2=self.elbv2)
        targets = dataclasses.replace(world.targets(BUCKET), target_group_arn=self.arn, bootstrap_group=bootstrap)
        view, stream = world.view()
        record = Release(clients, targets, world.options(**options), world.runtime(), view).run()
        self.output = stream.getvalue()
        return record


@pytest.fixture
def site(world: World) -> Site:
    elbv2 = boto3.client("elbv2", region_name=REGION)
    vpc = world.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
    arn = elbv2.create_target_group(Name="site", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    return Site(world, elbv2, arn)


# --- §3: the live slot is what the load balancer serves ---------------------------------------------------------------


def test_a_registered_slot_the_group_does_not_list_is_never_emptied_and_the_release_exits_2(site: Site) -> None:
    # Given the group lists A (its last success went to A), but B's instances are the registered targets
    world = site.world
    world.scale(SLOT_A, 2)
    world.scale(SLOT_B, 2)
    site.register(SLOT_B)
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A)
    # When releasing (today B would be emptied as a leftover idle slot: an outage)
    record = site.release(codedeploy)
    # Then it refuses before uploading or scaling anything, naming what it saw
    assert record.exit_code == ExitCode.BAD_INPUT
    assert "cannot tell which slot is live" in record.error.message and SLOT_B in record.error.message
    assert world.objects() == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 2
    assert codedeploy.called("create_deployment") == []


def test_a_stale_last_success_does_not_move_the_live_slot_off_the_one_the_load_balancer_serves(site: Site) -> None:
    # Given A listed and registered, while the last successful release went to B (a hand-made rollback since)
    world = site.world
    world.scale(SLOT_A, 2)
    site.register(SLOT_A)
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B)
    # When releasing
    record = site.release(codedeploy)
    # Then A stays the live slot (today it would "finish the switch" to B and empty A) and B receives the release
    assert record.exit_code == ExitCode.RELEASED
    assert record.live_before == SLOT_A
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_B]}


def test_a_group_listing_both_slots_is_resolved_by_the_load_balancer_and_the_last_success(site: Site) -> None:
    # Given the group lists both slots; only B is registered and the last successful release went to B
    world = site.world
    world.scale(SLOT_B, 2)
    site.register(SLOT_B)
    codedeploy = TwoGroupCodeDeploy([SLOT_A, SLOT_B], script=scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B)
    # When releasing
    record = site.release(codedeploy)
    # Then B was taken as live, the group pointed at B alone first, and the release went to A
    assert record.exit_code == ExitCode.RELEASED
    assert record.live_before == SLOT_B
    assert codedeploy.order[0] == f"blue/green {[SLOT_B]}"
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_A]}


def test_a_group_listing_no_slot_while_a_slot_serves_is_resolved_by_the_last_success(site: Site) -> None:
    # Given the group lists nothing, B serves and the last successful release went to B
    world = site.world
    world.scale(SLOT_B, 2)
    site.register(SLOT_B)
    codedeploy = TwoGroupCodeDeploy([], script=scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B)
    # When releasing (today A would be "the empty live slot" and B, serving, emptied as idle)
    record = site.release(codedeploy)
    # Then B is live and A receives the release
    assert record.live_before == SLOT_B
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_A]}


def test_a_failed_release_leaves_a_slot_the_target_group_still_holds(site: Site) -> None:
    # Given A serves, and the deployment registers B's instances before failing; its rollback "succeeds" but B's
    # instances stay registered
    world = site.world
    world.scale(SLOT_A, 2)
    site.register(SLOT_A)
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.traffic_then_failure())
    original = codedeploy.create_deployment

    def registering(**params: Any) -> dict[str, Any]:
        site.register(SLOT_B)
        return original(**params)

    codedeploy.create_deployment = registering  # type: ignore[method-assign]
    # When releasing
    record = site.release(codedeploy)
    # Then it fails, and B is not emptied while the load balancer still sends it requests
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert world.slot(SLOT_B)["DesiredCapacity"] == 2
    assert "registered with the target group" in site.output


# --- §4: the first release goes in place through the bootstrap group --------------------------------------------------


def test_a_first_release_deploys_in_place_through_the_bootstrap_group_and_hands_the_slot_over(site: Site) -> None:
    # Given a fresh stack: the group lists A, both slots are empty and nothing is registered
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success())
    # When releasing
    record = site.release(codedeploy)
    # Then B was listed on the bootstrap group, deployed in place there, then handed to the blue/green group, and
    # the bootstrap group let go of it last
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.order == [
        f"bootstrap {[SLOT_B]}",
        f"create in {BOOT}",
        f"blue/green {[SLOT_B]}",
        "bootstrap []",
    ]
    (create,) = codedeploy.called("create_deployment")
    assert "targetInstances" not in create
    assert codedeploy.listed == [SLOT_B] and codedeploy.boot_listed == []
    assert record.live_after == SLOT_B
    assert site.world.slot(SLOT_B)["DesiredCapacity"] == 2


def test_a_failed_first_release_clears_the_bootstrap_group_and_empties_the_slot(site: Site) -> None:
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.failure_at_after_install(rollback=False))
    record = site.release(codedeploy)
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert codedeploy.boot_listed == [] and codedeploy.listed == [SLOT_A]
    assert site.world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_a_first_release_that_times_out_is_stopped_with_rollback_and_cleaned_up(site: Site) -> None:
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.never_ending())
    record = site.release(codedeploy, timeout_seconds=60.0)
    assert record.exit_code == ExitCode.TIMED_OUT
    assert codedeploy.called("stop_deployment")[0]["autoRollbackEnabled"] is True
    assert codedeploy.boot_listed == []
    assert site.world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_a_crash_after_a_successful_bootstrap_is_finished_by_the_next_run(site: Site) -> None:
    # Given a run that crashed after its bootstrap deployment succeeded on B: the bootstrap group still lists B,
    # B serves, and the blue/green group still lists A
    world = site.world
    world.scale(SLOT_B, 2)
    site.register(SLOT_B)
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success(), boot_listed=[SLOT_B], boot_last="Succeeded")
    # When releasing
    record = site.release(codedeploy)
    # Then B is live: the blue/green group is pointed at B, the bootstrap group cleared, and A gets a blue/green release
    assert record.exit_code == ExitCode.RELEASED
    assert record.live_before == SLOT_B
    assert codedeploy.order[:2] == [f"blue/green {[SLOT_B]}", "bootstrap []"]
    assert codedeploy.called("create_deployment")[0]["deploymentGroupName"] == GROUP


def test_a_crash_during_a_failed_bootstrap_is_cleaned_up_and_the_first_release_retried(site: Site) -> None:
    # Given a run that crashed while its bootstrap deployment on B failed: the bootstrap group lists B, nothing serves
    world = site.world
    world.scale(SLOT_B, 2)
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success(), boot_listed=[SLOT_B], boot_last="Failed")
    # When releasing
    record = site.release(codedeploy)
    # Then the list is cleared first, B's leftovers replaced, and the first release goes through the bootstrap again
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.boot_updates == [[], [SLOT_B], []]
    assert any("bootstrap group" in note for note in record.recovered)


def test_an_older_stack_without_a_bootstrap_group_keeps_the_blue_green_first_release_with_a_note(site: Site) -> None:
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success())
    record = site.release(codedeploy, bootstrap=None)
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_B]}
    assert "BootstrapDeploymentGroupName" in site.output


def test_a_deployment_in_flight_in_the_bootstrap_group_is_refused_with_exit_5(site: Site) -> None:
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success())
    running = codedeploy.add_deployment(status="InProgress", minutes_ago=2)
    codedeploy.deployments[running]["deploymentGroupName"] = BOOT
    record = site.release(codedeploy)
    assert record.exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert running in record.error.message
    assert site.world.objects() == []


# --- agent readiness --------------------------------------------------------------------------------------------------


def test_a_slot_that_never_becomes_ready_names_the_agent_and_the_boot_budget(site: Site) -> None:
    # Given instances that never leave Pending (as when the agent-ready hook is never completed)
    world = site.world
    world.scale(SLOT_A, 2)
    site.register(SLOT_A)
    original = world.autoscaling.update_auto_scaling_group

    def unhealthy(**params: Any) -> Any:
        answer = original(**params)
        for item in world.slot(params["AutoScalingGroupName"])["Instances"]:
            world.autoscaling.set_instance_health(InstanceId=item["InstanceId"], HealthStatus="Unhealthy")
        return answer

    world.autoscaling.update_auto_scaling_group = unhealthy
    # When releasing with a 300 s scale-up budget
    record = site.release(TwoGroupCodeDeploy([SLOT_A], script=scenarios.success()), scale_timeout_seconds=300.0)
    # Then the timeout says InService means the agent runs, and the hint budgets launch, boot and agent start
    assert record.exit_code == ExitCode.TIMED_OUT
    assert "CodeDeploy agent running" in record.error.message
    assert "--scale-timeout, 300 s" in record.error.hint and "agentReadyTimeoutSeconds" in record.error.hint
    assert "CodeDeploy agent" in site.output


def test_the_exit_codes_document_the_live_slot_refusal() -> None:
    assert "live slot" in EXIT_CODES.split("  2  ")[1].split("  3  ")[0]


# --- status -----------------------------------------------------------------------------------------------------------


def test_status_shows_each_slots_targets_and_the_live_slot_a_release_would_refuse(site: Site) -> None:
    # Given the group lists A while only B's instances are registered, with no deployment to explain it
    world = site.world
    world.scale(SLOT_B, 1)
    site.register(SLOT_B)
    codedeploy = TwoGroupCodeDeploy([SLOT_A])
    targets = dataclasses.replace(world.targets(BUCKET), target_group_arn=site.arn, bootstrap_group=BOOT)
    stream = io.StringIO()
    # When asking for the status
    print_status(StatusClients(codedeploy, world.autoscaling, world.s3, site.elbv2), targets, stream, last=3)
    # Then it says the next release would stop, and shows where the load balancer's targets are
    out = stream.getvalue()
    assert "live slot         unclear, the next release stops with exit 2" in out
    assert f"{SLOT_A}: desired 0" in out and "registered: none" in out
    (b_instance,) = site.instances(SLOT_B)
    assert f"registered: {b_instance} healthy" in out


# --- the release-time model the report shows (issue 13) ---------------------------------------------------------------


def _serving_from_a(site: Site) -> TwoGroupCodeDeploy:
    """Slot A live with two registered instances and the last success on A; a deployment that succeeds."""
    site.world.scale(SLOT_A, 2)
    site.register(SLOT_A)
    codedeploy = TwoGroupCodeDeploy([SLOT_A], script=scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A)
    return codedeploy


def test_the_release_models_itself_with_its_target_groups_own_health_check_and_delay(site: Site) -> None:
    # Given a target group checked every 10 s, healthy after 3, deregistering in 20 s, and A live and registered
    site.elbv2.modify_target_group(TargetGroupArn=site.arn, HealthCheckIntervalSeconds=10, HealthyThresholdCount=3)
    site.elbv2.modify_target_group_attributes(
        TargetGroupArn=site.arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "20"}]
    )
    # When releasing
    record = site.release(_serving_from_a(site))
    # Then AllowTraffic is registration + one 10 s interval per instance, one at a time (bound 3 x 10 + 10), and
    # BlockTraffic the 20 s delay (bound 40 + 20)
    phases = {phase.name: phase for phase in record.model.phases}
    allow, block = phases["AllowTraffic"], phases["BlockTraffic"]
    assert (allow.seconds, block.seconds) == (2 * (REGISTRATION_SECONDS + 10), 20)
    assert (allow.bound_seconds, block.bound_seconds) == (2 * 40, 40 + 20)


def test_a_target_group_that_cannot_be_read_for_the_model_does_not_stop_the_release(site: Site) -> None:
    # Given A live and registered, and DescribeTargetGroups failing (only the model reads it: --timeout is given)
    codedeploy = _serving_from_a(site)

    def unreachable(**params: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://elasticloadbalancing.eu-west-1.amazonaws.com/")

    site.elbv2.describe_target_groups = unreachable
    # When releasing
    record = site.release(codedeploy)
    # Then it released without a model, and said why
    assert (record.exit_code, record.model) == (ExitCode.RELEASED, None)
    assert "no release-time model in the report" in site.output
