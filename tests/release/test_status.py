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
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from release import cli
from release.operations import StatusClients, print_status

from bluegreen import bake
from tests.bluegreen.test_bake_record import EXAMPLES, record
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


def _status(fleet: Fleet, *, as_json: bool, now: datetime = T0, bucket: str = BUCKET) -> str:
    targets = dataclasses.replace(fleet.world.targets(bucket), target_group_arn=fleet.arn, dashboard_name=DASHBOARD)
    stream = io.StringIO()
    code = print_status(
        StatusClients(fleet.codedeploy, fleet.world.autoscaling, fleet.world.s3, fleet.elbv2),
        targets,
        stream,
        last=5,
        as_json=as_json,
        region=REGION,
        now=now,
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


def _main_clients(fleet: Fleet) -> cli.AwsClients:
    """The stack's outputs in CloudFormation, and the clients `cli.main` reads the fleet with."""
    _stack(fleet.world, fleet.arn)
    return cli.AwsClients(
        s3=fleet.world.s3,
        autoscaling=fleet.world.autoscaling,
        codedeploy=fleet.codedeploy,
        cloudformation=fleet.world.cloudformation,
        elbv2=fleet.elbv2,
    )


def test_status_json_through_main_reads_the_dashboard_from_the_stack_outputs(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack's outputs, the dashboard's name among them
    clients = _main_clients(fleet)
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
    clients = StatusClients(codedeploy, world.autoscaling, world.s3)
    print_status(clients, world.targets(), stream, last=3, as_json=True, now=T0)
    status = json.loads(stream.getvalue())
    # Then the slots' targets are unknown rather than empty, nothing is in flight, and no link is made up
    assert [slot["targets"] for slot in status["slots"]] == [None, None]
    assert status["inFlight"] == [] and status["recent"] == [] and status["links"] == {}


# --- the bake window --------------------------------------------------------------------------------------------------

KEY = bake.window_key(APP, GROUP)


def _window(fleet: Fleet, **changes: Any) -> bake.Window:
    """The window of the fleet's last success onto A: opened 5 minutes before T0 for 30 minutes, B kept out of
    traffic; stored in the artifact bucket as a release opens it."""
    window = bake.Window(
        release_id="r-0123456789ab",
        deployment_id=fleet.succeeded,
        old_slot=SLOT_B,
        new_slot=SLOT_A,
        opened=T0 - timedelta(minutes=5),
        deadline=T0 + timedelta(minutes=25),
    )
    return bake.open_window(fleet.world.s3, BUCKET, KEY, dataclasses.replace(window, **changes))


def _window_lines(out: str) -> list[str]:
    """The screen's bake-window block: its labelled line and the indented lines under it."""
    block = out.split("bake window       ", maxsplit=1)[1].split("in flight         ", maxsplit=1)[0]
    return [line.strip() for line in block.splitlines()]


def test_an_open_window_shows_its_deadline_minutes_left_slots_and_release(fleet: Fleet) -> None:
    # Given a bake window open until 25 minutes after now
    _window(fleet)
    # When asking for the status at T0
    head, slots, hint = _window_lines(_status(fleet, as_json=False))
    # Then it says the window is open, until when in UTC and for how long yet, and for which release and deployment
    about = f"release r-0123456789ab, deployment {fleet.succeeded}"
    assert head == f"open, deadline 2026-01-01 12:25:00Z (25 min 00 s left); {about}"
    # And which slot serves and which one is held out of traffic
    assert slots == f"new slot {SLOT_A} serves; old slot {SLOT_B} runs out of traffic, kept for a fast rollback"
    # And what to do: rollback is fast, a new release ends the window first
    assert hint.startswith(f"`python scripts/deploy.py rollback` puts traffic back on {SLOT_B} in seconds")
    assert f"a new release ends the window first: it accepts {SLOT_A} as live and empties {SLOT_B}" in hint


def test_a_window_past_its_deadline_says_it_is_not_ended_yet_and_who_ends_it(fleet: Fleet) -> None:
    # Given a window whose deadline passed 3 minutes ago, still open (its run gone, the finisher not swept yet)
    window = _window(fleet)
    # When asking for the status then
    out = _status(fleet, as_json=False, now=window.deadline + timedelta(minutes=3))
    head, _slots, hint = _window_lines(out)
    # Then it says the deadline passed, that the finisher ends it within its sweep, and that rollback is slow now
    assert head.startswith("open, deadline 2026-01-01 12:25:00Z (passed 3 min 00 s ago)")
    assert "not ended yet" in hint and "the finisher empties" in hint and "within its sweep" in hint
    assert "rollback` is no longer fast: it releases the previous revision again" in hint


def test_a_requested_fast_rollback_shows_who_asked_and_that_rollback_completes_it(fleet: Fleet) -> None:
    # Given a rollback requested by an alarm
    _window(fleet, state=bake.ROLLBACK_REQUESTED, reason="alarm Target5xx", requested_by="alarm", requested_at=T0)
    # When asking for the status
    head, _slots, request, hint = _window_lines(_status(fleet, as_json=False))
    # Then it shows the state, who asked and why, and who performs it
    assert head.startswith("rollback-requested, deadline")
    assert request == "last request: alarm Target5xx (alarm, 2026-01-01 12:00:00Z)"
    assert f"moves traffic to {SLOT_B}" in hint and "`python scripts/deploy.py rollback` does it" in hint


def test_a_closed_window_of_the_last_release_is_one_line_saying_how_it_ended(fleet: Fleet) -> None:
    # Given the last release's window, closed at its deadline
    _window(fleet, state=bake.CLOSED, reason="deadline passed without trouble", requested_at=T0)
    # When asking for the status
    lines = _window_lines(_status(fleet, as_json=False))
    # Then one line says it closed, why and when, and what became of the slots
    assert lines == [
        f"closed: deadline passed without trouble (2026-01-01 12:00:00Z); {SLOT_A} serves, {SLOT_B} is emptied "
        f"(release r-0123456789ab, deployment {fleet.succeeded})"
    ]


def test_a_rolled_back_window_says_codedeploy_still_lists_the_deployment_as_succeeded(fleet: Fleet) -> None:
    # Given the last success rolled back inside its window
    _window(fleet, state=bake.ROLLED_BACK, reason="alarm Target5xx", requested_by="alarm", requested_at=T0)
    # When asking for the status
    (line,) = _window_lines(_status(fleet, as_json=False))
    # Then the one line says traffic is back on the old slot, although CodeDeploy's history says Succeeded
    assert line.startswith("rolled back: alarm Target5xx (alarm, 2026-01-01 12:00:00Z)")
    assert f"traffic is back on {SLOT_B}" in line
    assert f"CodeDeploy still lists deployment {fleet.succeeded} as Succeeded" in line


def test_an_ended_window_of_an_earlier_release_is_not_shown(fleet: Fleet) -> None:
    # Given a closed window of a deployment the group no longer names as its last attempted or successful one
    _window(fleet, deployment_id=fleet.failed, state=bake.CLOSED, reason="deadline passed without trouble")
    # When asking for the status
    out = _status(fleet, as_json=False)
    # Then there is no window to speak of
    assert "bake window       none\n" in out
    assert json.loads(_status(fleet, as_json=True))["bakeWindow"] is None


def test_without_a_window_the_screen_says_none_and_json_has_null(fleet: Fleet) -> None:
    out = _status(fleet, as_json=False)
    assert "bake window       none\n" in out
    status = json.loads(_status(fleet, as_json=True))
    assert status["bakeWindow"] is None and status["bakeWindowError"] is None


def test_json_carries_the_open_window(fleet: Fleet) -> None:
    # Given a bake window open until 25 minutes after now
    window = _window(fleet)
    # When asking for the status as JSON
    status = json.loads(_status(fleet, as_json=True))
    # Then `bakeWindow` carries the same facts as the screen
    hint = status["bakeWindow"].pop("hint")
    assert status["bakeWindow"] == {
        "state": "open",
        "ended": False,
        "releaseId": "r-0123456789ab",
        "deploymentId": fleet.succeeded,
        "newSlot": SLOT_A,
        "oldSlot": SLOT_B,
        "opened": window.opened.isoformat(),
        "deadline": "2026-01-01T12:25:00+00:00",
        "secondsLeft": 1500.0,
        "deadlinePassed": False,
        "fastRollbackAvailable": True,
        "reason": None,
        "requestedBy": None,
        "requestedAt": None,
    }
    assert hint.startswith("`python scripts/deploy.py rollback` puts traffic back on")
    assert status["bakeWindowError"] is None


def test_json_of_a_window_past_its_deadline_has_no_fast_rollback(fleet: Fleet) -> None:
    window = _window(fleet)
    status = json.loads(_status(fleet, as_json=True, now=window.deadline + timedelta(seconds=30)))
    assert status["bakeWindow"]["deadlinePassed"] is True
    assert status["bakeWindow"]["secondsLeft"] == 0.0
    assert status["bakeWindow"]["fastRollbackAvailable"] is False


def _denied_s3() -> Any:
    """An S3 client whose GetObject of the window's record answers 403 AccessDenied (validated against the model)."""
    s3 = boto3.client("s3", region_name=REGION)
    stubber = Stubber(s3)
    stubber.add_client_error(
        "get_object", "AccessDenied", "Access Denied", 403, expected_params={"Bucket": BUCKET, "Key": KEY}
    )
    stubber.activate()
    return s3


def test_a_denied_record_is_a_note_and_status_still_shows_the_slots(fleet: Fleet) -> None:
    # Given credentials that may not read the window's record
    denied = dataclasses.replace(fleet.world, s3=_denied_s3())
    # When asking for the status
    out = _status(dataclasses.replace(fleet, world=denied), as_json=False)
    # Then the window is a one-line note naming the record and F86, and the rest of the screen is there
    (note,) = _window_lines(out)
    assert note.startswith(f"unknown: s3://{BUCKET}/{KEY} answered AccessDenied") and "F86" in note
    assert f"  live  {SLOT_A}:" in out and f"  idle  {SLOT_B}:" in out and "last 3 deployments:" in out


def test_a_bucket_that_cannot_be_read_is_a_note_in_json_too(fleet: Fleet) -> None:
    # Given targets naming a bucket that does not exist
    status = json.loads(_status(fleet, as_json=True, bucket="no-such-artifacts"))
    # Then the window is unknown, with why, and everything else is read
    assert status["bakeWindow"] is None
    assert status["bakeWindowError"].startswith("unknown: s3://no-such-artifacts/")
    assert "NoSuchBucket" in status["bakeWindowError"]
    assert status["liveSlot"] == SLOT_A and len(status["recent"]) == 3


def test_status_through_main_names_the_rollback_command_as_it_was_run(
    fleet: Fleet, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an open window and the tool run as its console script
    clients = _main_clients(fleet)
    _window(fleet, deadline=datetime.now(UTC) + timedelta(minutes=25))
    monkeypatch.setattr(sys, "argv", ["bluegreen-release", "status"])
    # When asking for the status through the command line
    code = cli.main(["status"], env={}, clients=clients)
    # Then the hint names the command the way it was run
    out = capsys.readouterr().out
    assert code == 0
    assert "`bluegreen-release rollback` puts traffic back on" in out


def _stored(fleet: Fleet, body: bytes) -> None:
    """`body` stored as the window's record, with the fleet's last success as its deployment where it names one."""
    fleet.world.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body.replace(b'"d-1"', f'"{fleet.succeeded}"'.encode()))


@pytest.mark.parametrize("body", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_a_record_that_is_not_a_window_is_one_line_naming_it_and_the_rest_is_shown(fleet: Fleet, body: bytes) -> None:
    # Given a record at the window's key that is not a window (corrupt, edited by hand, out of range)
    _stored(fleet, body)
    # When asking for the status, as text and as JSON
    out = _status(fleet, as_json=False)
    status = json.loads(_status(fleet, as_json=True))
    # Then the window is one line saying a record exists there but cannot be read, not "none"
    (note,) = _window_lines(out)
    assert note.startswith(f"unreadable: a record exists at s3://{BUCKET}/{KEY} but is not a bake window (")
    assert status["bakeWindow"] is None and status["bakeWindowError"] == note
    # And the rest of the screen is there
    assert f"  live  {SLOT_A}:" in out and "last 3 deployments:" in out
    assert status["liveSlot"] == SLOT_A and len(status["recent"]) == 3


def test_an_unreadable_record_does_not_fail_status_through_main(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a record whose deadline has no time zone
    clients = _main_clients(fleet)
    _stored(fleet, EXAMPLES["deadline without time zone"])
    # When running `deploy.py status` and `status --json`
    codes = [cli.main(["status", *flags], env={}, clients=clients) for flags in ([], ["--json"])]
    # Then both exit 0 and say what is wrong with the record, with no traceback
    captured = capsys.readouterr()
    assert codes == [0, 0]
    assert captured.out.count("has no time zone") == 2 and "Traceback" not in captured.err


def test_control_characters_of_a_request_reach_the_screen_escaped(fleet: Fleet) -> None:
    # Given a rollback request whose reason and requester carry ANSI escapes and CR/LF
    body = record(state="rollback-requested", reason="\x1b[2Jred\r\nfake", requested_by="\x07me")
    _stored(fleet, body)
    # When asking for the status
    out = _status(fleet, as_json=False)
    # Then no control character reaches the terminal; they are shown as escapes
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "last request: \\x1b[2Jred\\r\\nfake (\\x07me)" in _window_lines(out)
