"""`deploy.py status`: one screen (or JSON) with the live slot and its health, the idle slot, suspended processes, the
deployment in flight, the last releases with outcome and duration, and links (issue 18).

moto holds the slots and the target group; CodeDeploy is the scripted fake validated against botocore's model. moto
reports every registered instance healthy, so one target's health is overridden by a thin wrapper to show an
unhealthy one.
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from release import cli
from release.operations import print_status

from tests.release.fakes import T0, FakeCodeDeploy
from tests.release.support import APP, BUCKET, GROUP, REGION, SLOT_A, SLOT_B, World

DASHBOARD = "BlueGreenApp-releases"


class UnhealthyTarget:
    """moto's ELBv2 client, except that DescribeTargetHealth reports `instance` unhealthy (failed health checks)."""

    def __init__(self, elbv2: Any, instance: str) -> None:
        self._elbv2, self._instance = elbv2, instance

    def __getattr__(self, name: str) -> Any:
        return getattr(self._elbv2, name)

    def describe_target_health(self, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._elbv2.describe_target_health(**params)
        for item in answer["TargetHealthDescriptions"]:
            if item["Target"]["Id"] == self._instance:
                item["TargetHealth"] = {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}
        return answer


@dataclasses.dataclass
class Fleet:
    """Slot A live with two registered instances (one unhealthy), slot B idle with its scaling suspended, and a
    deployment in flight onto slot B after two finished releases."""

    world: World
    codedeploy: FakeCodeDeploy
    elbv2: UnhealthyTarget
    arn: str
    healthy: str
    unhealthy: str
    running: str
    succeeded: str
    failed: str


def _finished(codedeploy: FakeCodeDeploy, *, status: str, slot: str, minutes_ago: int, seconds: int) -> str:
    deployment_id = codedeploy.add_deployment(status=status, target_slot=slot, minutes_ago=minutes_ago)
    info = codedeploy.deployments[deployment_id]
    info["completeTime"] = info["createTime"] + timedelta(seconds=seconds)
    return deployment_id


@pytest.fixture
def fleet(world: World) -> Fleet:
    moto_elbv2 = boto3.client("elbv2", region_name=REGION)
    vpc = world.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
    arn = moto_elbv2.create_target_group(Name="site", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    world.scale(SLOT_A, 2)
    first, second = sorted(item["InstanceId"] for item in world.slot(SLOT_A)["Instances"])
    moto_elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": first}, {"Id": second}])
    world.autoscaling.suspend_processes(AutoScalingGroupName=SLOT_B, ScalingProcesses=["Launch", "Terminate"])
    codedeploy = FakeCodeDeploy(APP, GROUP, SLOT_A)
    failed = _finished(codedeploy, status="Failed", slot=SLOT_B, minutes_ago=120, seconds=95)
    succeeded = _finished(codedeploy, status="Succeeded", slot=SLOT_A, minutes_ago=60, seconds=190)
    running = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=2)
    return Fleet(world, codedeploy, UnhealthyTarget(moto_elbv2, second), arn, first, second, running, succeeded, failed)


def _status(fleet: Fleet, *, as_json: bool) -> str:
    targets = dataclasses.replace(fleet.world.targets(BUCKET), target_group_arn=fleet.arn, dashboard_name=DASHBOARD)
    stream = io.StringIO()
    code = print_status(
        fleet.codedeploy,
        fleet.world.autoscaling,
        targets,
        stream,
        last=5,
        elbv2=fleet.elbv2,
        as_json=as_json,
        region=REGION,
        now=T0,
    )
    assert code == 0
    return stream.getvalue()


# --- one screen ------------------------------------------------------------------------------------------------------


def test_the_screen_shows_the_live_slot_with_registered_and_healthy_targets(fleet: Fleet) -> None:
    out = _status(fleet, as_json=False)
    assert f"live slot         {SLOT_A}\n" in out
    (live_line,) = [line for line in out.splitlines() if line.startswith(f"  live  {SLOT_A}:")]
    assert "2 InService" in live_line
    assert "targets 2 registered / 1 healthy" in live_line
    assert f"{fleet.healthy} healthy, {fleet.unhealthy} unhealthy" in live_line


def test_the_screen_shows_the_idle_slot_and_its_suspended_processes(fleet: Fleet) -> None:
    out = _status(fleet, as_json=False)
    (idle_line,) = [line for line in out.splitlines() if line.startswith(f"  idle  {SLOT_B}:")]
    assert "desired 0" in idle_line
    assert "suspended: Launch, Terminate" in idle_line
    assert "targets 0 registered / 0 healthy" in idle_line


def test_the_screen_shows_the_deployment_in_flight_with_its_age_and_slot(fleet: Fleet) -> None:
    out = _status(fleet, as_json=False)
    assert f"in flight         {fleet.running} InProgress for 2 min 00 s, onto {SLOT_B} (created by user)" in out


def test_the_screen_lists_the_last_releases_newest_first_with_outcome_and_duration(fleet: Fleet) -> None:
    out = _status(fleet, as_json=False)
    lines = out.split("deployments:\n")[1].splitlines()
    assert lines[0].startswith(f"  {fleet.running}") and "InProgress" in lines[0]
    assert lines[1].startswith(f"  {fleet.succeeded}") and "Succeeded" in lines[1] and "3 min 10 s" in lines[1]
    assert lines[2].startswith(f"  {fleet.failed}") and "Failed" in lines[2] and "1 min 35 s" in lines[2]


def test_the_screen_links_the_dashboard_and_the_console(fleet: Fleet) -> None:
    out = _status(fleet, as_json=False)
    assert (
        f"dashboard         https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards/dashboard/{DASHBOARD}\n"
    ) in out
    assert (
        f"console           https://{REGION}.console.aws.amazon.com/codesuite/codedeploy/applications/{APP}"
        f"/deployment-groups/{GROUP}?region={REGION}\n"
    ) in out


def test_the_screen_links_the_deployment_in_flight_and_the_last_deployment(fleet: Fleet) -> None:
    # When the status is read in a region, Then the running deployment and the newest one each have their page
    out = _status(fleet, as_json=False)
    page = f"https://{REGION}.console.aws.amazon.com/codesuite/codedeploy/deployments/{fleet.running}?region={REGION}"
    flying = out.split("in flight         ")[1].split("last ")[0]
    assert page in flying
    assert f"last deployment   {page}\n" in out


# --- JSON -----------------------------------------------------------------------------------------------------------


def test_json_names_the_live_and_idle_slot_and_each_targets_health(fleet: Fleet) -> None:
    status = json.loads(_status(fleet, as_json=True))
    assert (status["liveSlot"], status["idleSlot"]) == (SLOT_A, SLOT_B)
    live_slot, idle_slot = status["slots"]
    assert live_slot["role"] == "live" and live_slot["inService"] == 2
    assert live_slot["targets"] == {
        "registered": 2,
        "healthy": 1,
        "states": {fleet.healthy: "healthy", fleet.unhealthy: "unhealthy"},
    }
    assert idle_slot["role"] == "idle" and idle_slot["suspendedProcesses"] == ["Launch", "Terminate"]


def test_json_shows_the_deployment_in_flight_and_the_last_releases(fleet: Fleet) -> None:
    status = json.loads(_status(fleet, as_json=True))
    (flying,) = status["inFlight"]
    assert flying["id"] == fleet.running and flying["status"] == "InProgress"
    assert flying["targetSlot"] == SLOT_B and flying["elapsedSeconds"] == 120.0
    assert [(item["id"], item["status"], item["durationSeconds"]) for item in status["recent"]] == [
        (fleet.running, "InProgress", None),
        (fleet.succeeded, "Succeeded", 190.0),
        (fleet.failed, "Failed", 95.0),
    ]
    assert status["recent"][1]["revision"] == "s3://b/old.zip"


def test_json_carries_the_links(fleet: Fleet) -> None:
    status = json.loads(_status(fleet, as_json=True))
    links = status["links"]
    assert set(links) == {"dashboard", "deploymentGroup"}
    assert links["dashboard"].endswith(f"#dashboards/dashboard/{DASHBOARD}")
    # And every deployment listed links its own console page
    for item in [*status["inFlight"], *status["recent"]]:
        assert item["link"].endswith(f"/codesuite/codedeploy/deployments/{item['id']}?region={REGION}")


# --- through the command line ----------------------------------------------------------------------------------------


def _stack(world: World, arn: str) -> None:
    outputs = {
        "ArtifactBucketName": BUCKET,
        "ApplicationName": APP,
        "DeploymentGroupName": GROUP,
        "SlotAName": SLOT_A,
        "SlotBName": SLOT_B,
        "FleetMinSize": "1",
        "FleetDesiredSize": "2",
        "FleetMaxSize": "4",
        "TargetGroupArn": arn,
        "DashboardName": DASHBOARD,
    }
    template = {
        "Resources": {"Marker": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "stack-marker"}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    world.cloudformation.create_stack(StackName="BlueGreenApp", TemplateBody=json.dumps(template))


def test_status_json_through_main_reads_the_dashboard_from_the_stack_outputs(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack's outputs, the dashboard's name among them
    _stack(fleet.world, fleet.arn)
    clients = cli.AwsClients(
        s3=fleet.world.s3,
        autoscaling=fleet.world.autoscaling,
        codedeploy=fleet.codedeploy,
        cloudformation=fleet.world.cloudformation,
        elbv2=fleet.elbv2,
    )
    # When asking for the status as JSON
    code = cli.main(["status", "--json", "--last", "2"], env={}, clients=clients)
    # Then it is one JSON document with the live slot, the deployment in flight and the dashboard's link
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["liveSlot"] == SLOT_A
    assert [item["id"] for item in status["inFlight"]] == [fleet.running]
    assert len(status["recent"]) == 2
    assert status["links"]["dashboard"].endswith(DASHBOARD)


def test_without_a_target_group_the_slots_show_no_target_health(world: World) -> None:
    # Given values without a stack (no TargetGroupArn), nothing in flight and no dashboard
    world.scale(SLOT_A, 1)
    codedeploy = FakeCodeDeploy(APP, GROUP, SLOT_A)
    stream = io.StringIO()
    # When asking for the status as JSON
    print_status(codedeploy, world.autoscaling, world.targets(), stream, last=3, as_json=True, now=T0)
    status = json.loads(stream.getvalue())
    # Then the slots' targets are unknown rather than empty, nothing is in flight, and no link is made up
    assert [slot["targets"] for slot in status["slots"]] == [None, None]
    assert status["inFlight"] == [] and status["recent"] == [] and status["links"] == {}
