"""The bake window and its fast rollback (issue 14 §1) against moto (S3, Auto Scaling, ELBv2, CloudWatch) and the
scripted CodeDeploy: what state AWS ends in, not which calls were made."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from release import bake as tool_bake
from release.ci import CiContext
from release.cli import AwsClients, fast_rollback
from release.errors import Cancelled, ExitCode
from release.lease import Lease, lease_key
from release.orchestrate import Clients, Release
from release.record import ReleaseRecord
from release.report import write_reports
from release.runtime import Runtime

from bluegreen import bake
from bluegreen.timing import TrafficTiming
from tests.bluegreen.test_bake_record import EXAMPLES
from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy, Script
from tests.release.support import APP, BUCKET, GROUP, REGION, SLOT_A, SLOT_B, World, make_world

ALARM = "BlueGreenApp-Target5xx"
KEY = bake.window_key(APP, GROUP)


class TrafficCodeDeploy(FakeCodeDeploy):
    """The scripted CodeDeploy, plus what its traffic steps do to the target group: when the deployment is seen
    Succeeded, the new slot's instances are registered (AllowTraffic) and the old slot's deregistered (BlockTraffic).
    The group lists the stack's alarm, as the deployment-group provider writes it."""

    def __init__(self, site: Site, listed: str, script: Script) -> None:
        super().__init__(APP, GROUP, listed, script=script)
        self.site = site
        self.moved = False

    def get_deployment_group(self, **params: Any) -> dict[str, Any]:
        answer = super().get_deployment_group(**params)
        answer["deploymentGroupInfo"]["alarmConfiguration"] = {
            "enabled": True,
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": ALARM}],
        }
        return answer

    def create_deployment(self, **params: Any) -> dict[str, Any]:
        # Created now by the run's clock (the scripted fake stamps a fixed time): the alarm rule counts from it.
        answer = super().create_deployment(**params)
        self.deployments[answer["deploymentId"]]["createTime"] = self.site.world.clock.now()
        return answer

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        answer = super().get_deployment(**params)
        info = answer["deploymentInfo"]
        if info["status"] == "Succeeded" and info["deploymentId"] in self.created and not self.moved:
            new = info["targetInstances"]["autoScalingGroups"][0]
            old = SLOT_A if new == SLOT_B else SLOT_B
            self.site.register(new)
            self.site.deregister(old)
            self.moved = True
        return answer


@dataclasses.dataclass
class Site:
    """The release world plus a target group and the group's 5xx alarm in CloudWatch."""

    world: World
    elbv2: Any
    cloudwatch: Any
    arn: str

    def instances(self, slot: str) -> list[str]:
        return [item["InstanceId"] for item in self.world.slot(slot)["Instances"]]

    def register(self, slot: str) -> None:
        self.elbv2.register_targets(TargetGroupArn=self.arn, Targets=[{"Id": i} for i in self.instances(slot)])

    def deregister(self, slot: str) -> None:
        targets = [{"Id": i} for i in self.instances(slot)]
        if targets:
            self.elbv2.deregister_targets(TargetGroupArn=self.arn, Targets=targets)

    def healthy(self) -> set[str]:
        answer = self.elbv2.describe_target_health(TargetGroupArn=self.arn)
        return {
            d["Target"]["Id"] for d in answer["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy"
        }

    def clients(self, codedeploy: FakeCodeDeploy, **overrides: Any) -> Clients:
        values: dict[str, Any] = {
            "s3": self.world.s3,
            "autoscaling": self.world.autoscaling,
            "codedeploy": codedeploy,
            "elbv2": self.elbv2,
            "cloudwatch": self.cloudwatch,
        }
        values.update(overrides)
        return Clients(**values)

    def targets(self) -> Any:
        return dataclasses.replace(self.world.targets(BUCKET), target_group_arn=self.arn)

    def release(self, codedeploy: FakeCodeDeploy, *, bake_minutes: int, **overrides: Any) -> ReleaseRecord:
        view, stream = self.world.view()
        options = self.world.options(bake_minutes=bake_minutes)
        record = Release(self.clients(codedeploy, **overrides), self.targets(), options, self.runtime, view).run()
        self.output = stream.getvalue()
        return record

    @property
    def runtime(self) -> Runtime:
        return self.world.runtime()

    def window(self) -> bake.Window | None:
        return bake.read_window(self.world.s3, BUCKET, KEY)

    def set_alarm(self, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue=state, StateReason="test")

    def tool_site(self, codedeploy: FakeCodeDeploy) -> tool_bake.Site:
        return tool_bake.Site.of(self.clients(codedeploy), self.targets())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with mock_aws():
        world = make_world(tmp_path)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        vpc = world.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
        arn = elbv2.create_target_group(
            Name="site",
            Protocol="HTTP",
            Port=8080,
            VpcId=vpc,
            TargetType="instance",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        cloudwatch.put_metric_alarm(
            AlarmName=ALARM,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        yield Site(world, elbv2, cloudwatch, arn)


def _live_a(site: Site) -> TrafficCodeDeploy:
    """Slot A live with 2 registered instances; the next deployment succeeds onto B."""
    site.world.scale(SLOT_A, 2)
    site.register(SLOT_A)
    return TrafficCodeDeploy(site, SLOT_A, scenarios.success())


def _during_window(site: Site, action: Any) -> None:
    """Call `action(window)` once, at the first sleep of the run that finds the bake window open."""
    done: list[bool] = []

    def on_sleep(_: int) -> None:
        window = site.window()
        if not done and window is not None and window.state == bake.OPEN:
            done.append(action(window) is not False)

    site.world.clock.on_sleep = on_sleep


# --- bakeMinutes 0 --------------------------------------------------------------------------------------------------


def test_without_a_bake_window_the_old_slot_is_emptied_right_after_the_switch_and_nothing_is_recorded(
    site: Site,
) -> None:
    # Given A live and bakeMinutes 0 (the default)
    codedeploy = _live_a(site)
    # When releasing
    record = site.release(codedeploy, bake_minutes=0)
    # Then the run ends released with A emptied at once, no window recorded and no bake phase
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.listed == [SLOT_B]
    assert site.world.slot(SLOT_A)["DesiredCapacity"] == 0
    assert site.window() is None
    assert "bake" not in [phase.name for phase in record.phases]


# --- a window that ends without trouble -----------------------------------------------------------------------------


def test_a_window_without_trouble_keeps_the_old_slot_out_of_traffic_until_its_deadline_then_empties_it(
    site: Site,
) -> None:
    # Given A live and a one-minute bake window
    codedeploy = _live_a(site)
    seen: list[tuple[int, set[str]]] = []
    _during_window(site, lambda _: seen.append((site.world.slot(SLOT_A)["DesiredCapacity"], site.healthy())))
    # When releasing
    record = site.release(codedeploy, bake_minutes=1)
    # Then during the window A kept its 2 instances while only B's were in the target group
    assert seen == [(2, set(site.instances(SLOT_B)))]
    # And at its end the window is closed, A scaled to 0, the group lists B and the run exits 0
    assert record.exit_code == ExitCode.RELEASED
    window = site.window()
    assert window is not None and window.state == bake.CLOSED
    assert site.world.slot(SLOT_A)["DesiredCapacity"] == 0
    assert codedeploy.listed == [SLOT_B]
    (phase,) = [phase for phase in record.phases if phase.name == "bake"]
    assert phase.seconds >= 60


# --- an alarm during the window --------------------------------------------------------------------------------------


def test_an_alarm_during_the_window_puts_traffic_back_on_the_old_slot_and_empties_the_new_one(
    site: Site, tmp_path: Path
) -> None:
    # Given A live, a one-minute bake window, and the group's 5xx alarm firing while it is open
    codedeploy = _live_a(site)
    _during_window(site, lambda _: site.set_alarm("ALARM"))
    old = set(site.instances(SLOT_A))
    # When releasing
    record = site.release(codedeploy, bake_minutes=1)
    # Then only A's instances are healthy targets, the group lists A again and B is scaled to 0 (drain path)
    assert site.healthy() == old
    assert codedeploy.listed == [SLOT_A]
    assert site.world.slot(SLOT_B)["DesiredCapacity"] == 0
    # And the window records the rollback and why; the run exits 1 and its report shows the model's figure
    window = site.window()
    assert window is not None and window.state == bake.ROLLED_BACK and ALARM in window.reason
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert record.live_after == SLOT_A
    assert any("fast rollback inside the bake window ≈ 20 s" in note for note in record.bake)
    # And the printed report says so, with the measured and the modelled time, and draws the window's lane
    stream = io.StringIO()
    written = write_reports(record, tmp_path, CiContext(), stream)
    assert "bake window      rolled back inside the bake window (alarm" in stream.getvalue()
    assert "goal 30 s: met" in stream.getvalue()
    assert "bake window" in written["timeline"].read_text()
    # And CodeDeploy's history keeps the release's deployment as it ended: Succeeded
    assert codedeploy.deployments[codedeploy.created[0]]["status"] == "Succeeded"


def test_an_alarm_already_firing_before_the_deployment_started_does_not_roll_back(site: Site) -> None:
    # Given the 5xx alarm in ALARM before the release (whatever the previous revision did)
    codedeploy = _live_a(site)
    site.set_alarm("ALARM")
    # (moto stamps the state change with the real time; the run's clock starts well after it)
    site.world.clock.current = site.world.clock.current + timedelta(days=400)
    # When releasing with a one-minute bake window
    record = site.release(codedeploy, bake_minutes=1)
    # Then the window ends normally: traffic stays on B
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.listed == [SLOT_B]
    assert site.window().state == bake.CLOSED  # type: ignore[union-attr]


class _FailingChecks:
    """The ELBv2 client, with every instance of one slot failing its health checks once registered."""

    def __init__(self, client: Any, failing: set[str]) -> None:
        self._client, self._failing = client, failing

    def describe_target_health(self, **params: Any) -> Any:
        answer = self._client.describe_target_health(**params)
        for item in answer["TargetHealthDescriptions"]:
            if item["Target"]["Id"] in self._failing and item["TargetHealth"]["State"] == "healthy":
                item["TargetHealth"] = {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_an_old_slot_that_never_becomes_healthy_is_taken_out_again_and_traffic_stays_on_the_new_one(
    site: Site,
) -> None:
    # Given A live, a one-minute window, the alarm firing during it, and A's instances failing their health checks
    codedeploy = _live_a(site)
    _during_window(site, lambda _: site.set_alarm("ALARM"))
    old = set(site.instances(SLOT_A))
    # When releasing
    record = site.release(codedeploy, bake_minutes=1, elbv2=_FailingChecks(site.elbv2, old))
    # Then A was registered, waited for (bounded), and deregistered again: only B serves, the group still lists B
    assert site.healthy() == set(site.instances(SLOT_B))
    assert codedeploy.listed == [SLOT_B]
    assert site.world.slot(SLOT_B)["DesiredCapacity"] == 2
    # And the window is open again with the reason, the run exits 1 saying the rollback was abandoned
    window = site.window()
    assert window is not None and window.state == bake.OPEN and "not healthy" in window.reason
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert "fast rollback abandoned" in record.error.message  # type: ignore[union-attr]


# --- deploy.py rollback --------------------------------------------------------------------------------------------


def _requester(site: Site, codedeploy: FakeCodeDeploy, runtime: Runtime) -> tool_bake.Requester:
    lease = Lease(
        site.world.s3, BUCKET, lease_key(APP, GROUP), release_id="rollback1", command="rollback", runtime=runtime
    )
    return tool_bake.Requester(
        site.tool_site(codedeploy),
        runtime,
        lambda _: None,
        TrafficTiming(5, 2, 30),
        lease=lease,
        owner="rollback by test",
        wait_seconds=60,
    )


def test_a_rollback_requested_one_second_before_the_deadline_wins_over_the_deadline(site: Site) -> None:
    # Given A live, a one-minute bake window, and `deploy.py rollback` asking one second before the deadline while the
    # watching run sleeps past it
    codedeploy = _live_a(site)
    asked: list[Any] = []

    def on_sleep(_: int) -> None:
        window = site.window()
        clock = site.world.clock
        if asked or window is None or window.state != bake.OPEN or clock.current < window.deadline:
            return
        clock.current = window.deadline - timedelta(seconds=1)
        asked.append(_requester(site, codedeploy, site.runtime).ask())
        clock.current = window.deadline + timedelta(seconds=1)

    site.world.clock.on_sleep = on_sleep
    # When releasing
    record = site.release(codedeploy, bake_minutes=1)
    # Then the request was accepted, and the run rolled back instead of closing the window
    assert isinstance(asked[0], bake.Window)
    window = site.window()
    assert window is not None and window.state == bake.ROLLED_BACK
    assert window.requested_at is not None and window.requested_at < window.deadline
    assert codedeploy.listed == [SLOT_A]
    assert site.healthy() == set(site.instances(SLOT_A))
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED


def test_a_rollback_asked_after_the_deadline_is_a_new_release_of_the_previous_revision(site: Site) -> None:
    # Given a window whose deadline has passed (its run has not closed it yet)
    codedeploy = _left_open(site, minutes_left=-1)
    # When `deploy.py rollback` asks
    answer = _requester(site, codedeploy, site.runtime).request()
    # Then there is no window to use: rollback releases the previous revision, and the window is untouched
    assert answer.outcome is None and "ended" in answer.message
    assert site.window().state == bake.OPEN  # type: ignore[union-attr]


def _left_open(site: Site, *, minutes_left: int) -> TrafficCodeDeploy:
    """B live and registered, A kept out of traffic, the group listing B, and the window a dead run left open."""
    site.world.scale(SLOT_A, 2)
    site.world.scale(SLOT_B, 2)
    site.register(SLOT_B)
    codedeploy = TrafficCodeDeploy(site, SLOT_B, scenarios.success())
    deployment = codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, minutes_ago=1)
    now = site.world.clock.now()
    window = bake.Window(
        release_id="baker",
        deployment_id=deployment,
        old_slot=SLOT_A,
        new_slot=SLOT_B,
        opened=now - timedelta(minutes=5),
        deadline=now + timedelta(minutes=minutes_left),
    )
    bake.open_window(site.world.s3, BUCKET, KEY, window)
    return codedeploy


def _rollback(site: Site, codedeploy: FakeCodeDeploy) -> int | None:
    """`deploy.py rollback` inside the window (`release.cli.fast_rollback`), with the site's clients."""
    clients = AwsClients(
        s3=site.world.s3,
        autoscaling=site.world.autoscaling,
        codedeploy=codedeploy,
        cloudformation=None,
        elbv2=site.elbv2,
        cloudwatch=site.cloudwatch,
    )
    return fast_rollback(clients, site.targets(), site.runtime)


def test_rollback_inside_the_window_after_the_runner_is_gone_puts_traffic_back_on_the_old_slot(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a window left open by a run that is gone (no lease held), 5 minutes before its deadline
    codedeploy = _left_open(site, minutes_left=5)
    # When `deploy.py rollback` runs
    code = _rollback(site, codedeploy)
    # Then it rolled back itself: A healthy in the target group, the group lists A, B emptied, exit 0
    assert code == ExitCode.RELEASED
    assert site.healthy() == set(site.instances(SLOT_A))
    assert codedeploy.listed == [SLOT_A]
    assert site.world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert site.window().state == bake.ROLLED_BACK  # type: ignore[union-attr]
    assert "CodeDeploy still shows deployment" in capsys.readouterr().out
    # And no deployment was created: the rollback is a traffic step only
    assert codedeploy.called("create_deployment") == []


def _live_baker(
    site: Site, codedeploy: FakeCodeDeploy, *, acting_on: str, release_lease: bool
) -> tuple[Lease, list[str]]:
    """A live run baking its release: it holds the lease, and at every sleep of the clock polls its window; once the
    window is in `acting_on` it acts as its watch does (and then lets go of its lease, if `release_lease`)."""
    runtime = site.runtime
    lease = Lease(site.world.s3, BUCKET, lease_key(APP, GROUP), release_id="baker", command="release", runtime=runtime)
    lease.acquire()
    watch = tool_bake.Watch(
        site.tool_site(codedeploy), runtime, lambda _: None, TrafficTiming(5, 2, 30), owned=lambda: None
    )
    endings: list[str] = []

    def polls(_: int) -> None:
        window = site.window()
        if not endings and window is not None and window.state == acting_on:
            endings.append(watch.watch(window).ending)
            if release_lease:
                lease.release()

    site.world.clock.on_sleep = polls
    return lease, endings


def test_rollback_while_a_live_run_bakes_is_performed_by_that_run_and_awaited(site: Site) -> None:
    # Given a live run baking its release: it holds the lease and polls its window
    codedeploy = _left_open(site, minutes_left=30)
    runtime = site.runtime
    baker_lease, endings = _live_baker(site, codedeploy, acting_on=bake.ROLLBACK_REQUESTED, release_lease=False)
    # When `deploy.py rollback` asks for the rollback
    answer = _requester(site, codedeploy, runtime).request()
    # Then the baking run rolled back (the command never took its lease), and the command saw it done
    assert endings == ["rolled-back"]
    assert answer.outcome is not None and answer.message == f"traffic is on {SLOT_A}"
    assert baker_lease.held
    assert codedeploy.listed == [SLOT_A]
    assert site.healthy() == set(site.instances(SLOT_A))


def test_a_rollback_cancelled_while_waiting_leaves_its_request_for_the_watching_run(site: Site) -> None:
    # Given a live run baking (holding the lease, not acting yet) and `deploy.py rollback` waiting for it
    codedeploy = _left_open(site, minutes_left=30)
    lease = Lease(
        site.world.s3, BUCKET, lease_key(APP, GROUP), release_id="baker", command="release", runtime=site.runtime
    )
    lease.acquire()
    runtime = site.runtime
    site.world.clock.on_sleep = lambda _: runtime.stop.request("SIGINT")
    # When the command is interrupted while it waits
    with pytest.raises(Cancelled, match="the request stands"):
        _requester(site, codedeploy, runtime).request()
    # Then the request stays in the window for the watching run, and nothing was touched
    assert site.window().state == bake.ROLLBACK_REQUESTED  # type: ignore[union-attr]
    assert codedeploy.listed == [SLOT_B]
    assert site.world.slot(SLOT_A)["DesiredCapacity"] == 2


# --- a release started during a window -------------------------------------------------------------------------------


def test_a_release_started_during_a_window_left_by_a_gone_run_ends_it_and_empties_the_old_slot_before_filling(
    site: Site,
) -> None:
    # Given a window left open by a gone run: B live, A kept with 2 instances
    codedeploy = _left_open(site, minutes_left=5)
    desired_a: list[int] = []
    autoscaling = _Recording(site.world.autoscaling, SLOT_A, desired_a)
    # When a new release starts
    record = site.release(codedeploy, bake_minutes=0, autoscaling=autoscaling)
    # Then it ended the window by the rule (B accepted as live), emptied A first, then filled A with the release
    assert record.exit_code == ExitCode.RELEASED
    window = site.window()
    assert window is not None and window.state == bake.CLOSED and "accepted as live" in window.reason
    assert desired_a[:2] == [0, 2]
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_A]}
    assert any("bake window" in note for note in record.recovered)


def test_a_release_started_while_a_live_run_bakes_asks_it_to_end_the_window_and_waits_for_its_lease(
    site: Site,
) -> None:
    # Given a live run baking its release: it holds the lease and watches its window
    codedeploy = _left_open(site, minutes_left=30)
    _, ended = _live_baker(site, codedeploy, acting_on=bake.END_REQUESTED, release_lease=True)
    # When a new release starts
    record = site.release(codedeploy, bake_minutes=0)
    # Then the baking run ended its window early (emptying A), and the new release went ahead onto A
    assert ended == ["ended-early"]
    assert record.exit_code == ExitCode.RELEASED
    assert "started" in site.window().reason  # type: ignore[union-attr]
    assert codedeploy.called("create_deployment")[0]["targetInstances"] == {"autoScalingGroups": [SLOT_A]}


class _Recording:
    """The Auto Scaling client, recording every desired capacity set on one slot."""

    def __init__(self, client: Any, slot: str, seen: list[int]) -> None:
        self._client, self._slot, self._seen = client, slot, seen

    def update_auto_scaling_group(self, **params: Any) -> Any:
        if params["AutoScalingGroupName"] == self._slot and "DesiredCapacity" in params:
            self._seen.append(params["DesiredCapacity"])
        return self._client.update_auto_scaling_group(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


# --- the alarm rule (firing): StateTransitionedTimestamp since the deployment started, F106 ---------------------

STARTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _alarms_answer(*alarms: tuple[str, str, datetime, datetime]) -> list[str]:
    """`firing` against a Stubber-checked DescribeAlarms answer of (name, state, transitioned, updated) alarms."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    metric = [
        {"AlarmName": name, "StateValue": state, "StateTransitionedTimestamp": moved, "StateUpdatedTimestamp": updated}
        for name, state, moved, updated in alarms
    ]
    names = tuple(name for name, *_ in alarms)
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "describe_alarms",
            {"MetricAlarms": metric, "CompositeAlarms": []},
            {"AlarmNames": list(names), "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
        )
        return tool_bake.firing(cloudwatch, names, STARTED)


def test_an_alarm_that_went_red_after_the_deployment_started_but_before_the_window_opened_counts() -> None:
    # Given an alarm that transitioned to ALARM a minute after the deployment started (the window opened later)
    moved = STARTED + timedelta(minutes=1)
    # When the window reads the alarms, Then it fires
    assert _alarms_answer((ALARM, "ALARM", moved, moved)) == [ALARM]


def test_an_alarm_red_since_before_the_deployment_does_not_fire_when_only_its_evaluation_is_updated() -> None:
    # Given an alarm in ALARM since before the deployment whose evaluation state was updated during the window
    before, during = STARTED - timedelta(hours=1), STARTED + timedelta(minutes=5)
    # When the window reads the alarms, Then it does not fire (StateUpdatedTimestamp alone is not a transition)
    assert _alarms_answer((ALARM, "ALARM", before, during)) == []


def test_an_alarm_that_transitioned_to_ok_since_the_deployment_does_not_fire() -> None:
    moved = STARTED + timedelta(minutes=2)
    assert _alarms_answer((ALARM, "OK", moved, moved), ("Other", "INSUFFICIENT_DATA", moved, moved)) == []


def test_the_window_counts_alarms_from_its_deployments_start(site: Site) -> None:
    # Given a window whose deployment was created a minute before it opened
    codedeploy = _left_open(site, minutes_left=5)
    window = site.window()
    assert window is not None
    created = window.opened - timedelta(minutes=3)
    codedeploy.deployments[window.deployment_id]["createTime"] = created
    # When asking since when alarms count, Then it is the deployment's createTime, not the window's opening
    assert tool_bake.deployment_start(codedeploy, window) == created


@pytest.mark.parametrize("body", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_rollback_with_a_record_that_is_not_a_window_refuses_with_exit_2_naming_it(
    site: Site, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a window left open by a gone run, whose record was then replaced by one that is not a window
    codedeploy = _left_open(site, minutes_left=5)
    site.world.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    # When `deploy.py rollback` runs
    code = _rollback(site, codedeploy)
    # Then it refuses as bad input, naming the record and what to do, and touches nothing
    assert code == ExitCode.BAD_INPUT
    said = capsys.readouterr().out
    assert f"the bake window record s3://{BUCKET}/{KEY} is not one: " in said and "What to do:" in said
    assert codedeploy.listed == [SLOT_B] and site.world.slot(SLOT_A)["DesiredCapacity"] == 2


def test_a_release_with_a_record_that_is_not_a_window_refuses_before_touching_anything(site: Site) -> None:
    # Given a window record whose deadline has no time zone
    codedeploy = _left_open(site, minutes_left=5)
    site.world.s3.put_object(Bucket=BUCKET, Key=KEY, Body=EXAMPLES["deadline without time zone"])
    # When a new release starts
    record = site.release(codedeploy, bake_minutes=0)
    # Then it is exit 2 and no deployment was created
    assert record.exit_code == ExitCode.BAD_INPUT
    assert codedeploy.called("create_deployment") == []
