"""The promotion gate: the release waits at `Ready`, `promote`/`abort` act from anywhere, and the pre-promotion check.

CodeDeploy is the scripted fake (its requests validated against botocore's model) with what it lacks for the gate:
a deployment that stays `Ready` until ContinueDeployment. Auto Scaling, EC2 and the preview target group are moto, so
the check's registrations are the state ELB really ends in.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from release import cli, gate
from release.errors import ExitCode
from release.orchestrate import Clients, Release
from release.targets import Targets

from tests.release import scenarios
from tests.release.fakes import (
    BLUE_EVENTS,
    GREEN_EVENTS,
    FakeCodeDeploy,
    Frame,
    Script,
    _validated,
    all_succeeded,
    client_error,
    event,
    instance,
)
from tests.release.support import APP, BUCKET, FLEET, GROUP, REGION, SLOT_A, SLOT_B, World

WAIT_MINUTES = 60
TEST_URL = "http://preview.example:8443"


class GatedCodeDeploy(FakeCodeDeploy):
    """The scripted CodeDeploy of a group with the promotion gate: STOP_DEPLOYMENT, and a deployment that stays
    `Ready` (its script does not advance) until ContinueDeployment; `while_ready` acts at each poll that shows it,
    as another machine would while the release waits."""

    def __init__(self, script: Script, *, listed_slot: str | None = SLOT_A) -> None:
        super().__init__(APP, GROUP, listed_slot, script=script)
        self.continued: set[str] = set()
        self.while_ready: Callable[[str], None] | None = None
        self._acting = False

    def get_deployment_group(self, **params: Any) -> dict[str, Any]:
        answer = super().get_deployment_group(**params)
        ready = {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": WAIT_MINUTES}
        answer["deploymentGroupInfo"]["blueGreenDeploymentConfiguration"]["deploymentReadyOption"] = ready
        return answer

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        answer = super().get_deployment(**params)
        deployment_id = params["deploymentId"]
        if answer["deploymentInfo"]["status"] == "Ready" and deployment_id not in self.continued:
            self.polls[deployment_id] -= 1  # held: the next poll shows Ready again
            if self.while_ready is not None and not self._acting:
                self._acting = True  # what the other machine reads must not set it acting again
                try:
                    self.while_ready(deployment_id)
                finally:
                    self._acting = False
        return answer

    def continue_deployment(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("continue_deployment", params))
        deployment_id = params["deploymentId"]
        if self.deployments[deployment_id]["status"] != "Ready":
            raise client_error("DeploymentIsNotInReadyStateException", "ContinueDeployment")
        self.continued.add(deployment_id)
        self.polls[deployment_id] = self.polls.get(deployment_id, 0) + 1
        self.deployments[deployment_id]["status"] = "InProgress"
        return _validated("ContinueDeployment", params, {})


def _installed() -> list[dict]:
    """The replacement slot installed up to AfterInstall, AllowTraffic not started: what `Ready` shows."""
    events = [*all_succeeded(GREEN_EVENTS[:-1]), event(GREEN_EVENTS[-1], "Pending")]
    return [instance(scenarios.GREEN_1, "Green", events), instance(scenarios.GREEN_2, "Green", list(events))]


def gated_success() -> Script:
    """Created → InProgress → Ready (held until promoted) → InProgress → Succeeded."""
    done = [
        instance(scenarios.GREEN_1, "Green", all_succeeded(GREEN_EVENTS)),
        instance(scenarios.GREEN_2, "Green", all_succeeded(GREEN_EVENTS, offset=10)),
        instance(scenarios.BLUE_1, "Blue", all_succeeded(BLUE_EVENTS, offset=20)),
    ]
    return Script(
        [
            Frame("Created"),
            Frame("InProgress"),
            Frame("Ready", _installed()),
            Frame("InProgress"),
            Frame("Succeeded", done),
        ]
    )


def _targets(preview_arn: str | None = None) -> Targets:
    return Targets(
        bucket=BUCKET,
        application=APP,
        deployment_group=GROUP,
        slots=(SLOT_A, SLOT_B),
        fleet=FLEET,
        preview_target_group_arn=preview_arn,
        test_url=TEST_URL if preview_arn else None,
    )


def _release(
    world: World,
    codedeploy: GatedCodeDeploy,
    *,
    elbv2: Any = None,
    preview_arn: str | None = None,
    check_runner: gate.CommandRunner = gate.run_shell,
    **options: Any,
) -> tuple[Any, str]:
    view, stream = world.view()
    clients = Clients(s3=world.s3, autoscaling=world.autoscaling, codedeploy=codedeploy, elbv2=elbv2)
    release = Release(
        clients, _targets(preview_arn), world.options(**options), world.runtime(), view, check_runner=check_runner
    )
    return release.run(), stream.getvalue()


def _promote_from_elsewhere(world: World, codedeploy: GatedCodeDeploy, *, after_seconds: float = 0.0) -> list[str]:
    """Have `promote` run, as another process with its own client view of AWS, once the release waited this long."""
    said: list[str] = []
    started = world.clock.now()

    def act(_deployment_id: str) -> None:
        if said or (world.clock.now() - started).total_seconds() < after_seconds:
            return
        out = io.StringIO()
        said.append(str(gate.promote(codedeploy, world.s3, _targets(), out, runtime=world.runtime())))
        said.append(out.getvalue())

    codedeploy.while_ready = act
    return said


# --- the release at the gate ---------------------------------------------------------------------------------------


def test_the_release_waits_at_ready_and_says_how_to_promote(world: World) -> None:
    # Given a gated group, and an operator who promotes once the release waits
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    promoted = _promote_from_elsewhere(world, codedeploy)
    # When releasing
    record, output = _release(world, codedeploy)
    # Then it said it waits for promotion, the promotion continued the deployment, and the release switched the slots
    assert "waiting for promotion: run `python scripts/deploy.py promote`" in output
    assert promoted[0] == "0"
    assert codedeploy.called("continue_deployment") == [
        {"deploymentId": record.deployment_id, "deploymentWaitType": "READY_WAIT"}
    ]
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.listed == [SLOT_B]
    assert world.slot(SLOT_A)["DesiredCapacity"] == 0


def test_the_release_timeout_counts_the_wait_for_promotion(world: World) -> None:
    # Given a 30-minute release timeout and a promotion that comes 40 minutes into the wait (inside its 60 minutes)
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    _promote_from_elsewhere(world, codedeploy, after_seconds=40 * 60)
    # When releasing
    record, _ = _release(world, codedeploy, timeout_seconds=1800.0)
    # Then the timeout was the release's own 30 minutes plus the wait, and the release succeeded
    assert record.timeout_seconds == 1800.0 + WAIT_MINUTES * 60
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.called("stop_deployment") == []


def test_an_abort_from_elsewhere_stops_with_rollback_and_empties_the_replacement_slot(world: World) -> None:
    # Given a gated release, and an operator who aborts while it waits
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    codedeploy.while_ready = lambda _id: gate.abort(codedeploy, _targets(), io.StringIO(), runtime=world.runtime())
    # When releasing
    record, _ = _release(world, codedeploy)
    # Then the deployment was stopped with rollback, the release failed (1), traffic stayed on A and B was emptied
    (stop,) = codedeploy.called("stop_deployment")
    assert stop == {"deploymentId": record.deployment_id, "autoRollbackEnabled": True}
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert codedeploy.listed == [SLOT_A]
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


# --- promote and abort after the runner is gone --------------------------------------------------------------------


def _waiting_group() -> tuple[GatedCodeDeploy, str]:
    """A group whose deployment waits in Ready, left by a release whose runner is gone (no local state at all)."""
    codedeploy = GatedCodeDeploy(Script([Frame("Ready")]))
    deployment_id = codedeploy.add_deployment(status="Ready", target_slot=SLOT_B, minutes_ago=5)
    return codedeploy, deployment_id


def test_promote_after_the_runner_is_gone_continues_the_waiting_deployment_found_in_aws(world: World) -> None:
    codedeploy, deployment_id = _waiting_group()
    out = io.StringIO()

    code = gate.promote(codedeploy, world.s3, _targets(), out, runtime=world.runtime())

    assert code == 0
    assert codedeploy.called("continue_deployment") == [
        {"deploymentId": deployment_id, "deploymentWaitType": "READY_WAIT"}
    ]
    assert f"promoted deployment {deployment_id}" in out.getvalue()
    assert "the next release finishes the switch" in out.getvalue()


def test_abort_after_the_runner_is_gone_stops_the_waiting_deployment_with_rollback(world: World) -> None:
    codedeploy, deployment_id = _waiting_group()
    out = io.StringIO()

    code = gate.abort(codedeploy, _targets(), out, runtime=world.runtime())

    assert code == 0
    assert codedeploy.called("stop_deployment") == [{"deploymentId": deployment_id, "autoRollbackEnabled": True}]
    assert codedeploy.called("continue_deployment") == []
    assert "traffic never left the live slot" in out.getvalue()


@pytest.mark.parametrize("name", ["promote", "abort"])
def test_with_nothing_waiting_promote_and_abort_refuse_with_exit_2_and_touch_nothing(world: World, name: str) -> None:
    codedeploy = GatedCodeDeploy(Script([Frame("Succeeded")]))
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A)

    with pytest.raises(gate.NothingWaiting) as refused:
        if name == "promote":
            gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime())
        else:
            gate.abort(codedeploy, _targets(), io.StringIO(), runtime=world.runtime())

    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert "no deployment of" in refused.value.message
    assert codedeploy.called("continue_deployment") == [] and codedeploy.called("stop_deployment") == []


def test_promote_refuses_a_deployment_still_installing_and_names_its_state(world: World) -> None:
    codedeploy = GatedCodeDeploy(Script([Frame("InProgress")]))
    deployment_id = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=1)

    with pytest.raises(gate.NothingWaiting, match=f"{deployment_id} .* is InProgress, not waiting"):
        gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime())

    assert codedeploy.called("continue_deployment") == []


def test_promote_with_wait_looks_again_until_the_deployment_is_ready(world: World) -> None:
    # Given a deployment that becomes Ready 25 s after `promote --wait 60` starts
    codedeploy = GatedCodeDeploy(Script([Frame("InProgress")]))
    deployment_id = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=1)
    started = world.clock.now()

    def becomes_ready(_count: int) -> None:
        if (world.clock.now() - started).total_seconds() >= 25:
            codedeploy.deployments[deployment_id]["status"] = "Ready"

    world.clock.on_sleep = becomes_ready
    # When promoting with --wait 60
    code = gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime(), wait_seconds=60)
    # Then it continued that deployment once it was Ready
    assert code == 0
    assert [call["deploymentId"] for call in codedeploy.called("continue_deployment")] == [deployment_id]


def test_a_promote_that_races_the_end_of_the_wait_is_refused_with_exit_2(world: World) -> None:
    codedeploy, deployment_id = _waiting_group()

    def expired(**params: Any) -> dict[str, Any]:
        raise client_error("DeploymentIsNotInReadyStateException", "ContinueDeployment")

    codedeploy.continue_deployment = expired  # type: ignore[method-assign]

    with pytest.raises(gate.NothingWaiting, match=f"{deployment_id} can no longer be promoted"):
        gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime())


# --- the pre-promotion check (moto ELB) ----------------------------------------------------------------------------


@pytest.fixture
def preview(world: World) -> tuple[Any, str]:
    """The preview target group in the slots' VPC (moto), as the stack's test listener forwards to it."""
    (vpc,) = world.ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    group = elbv2.create_target_group(
        Name="preview", Protocol="HTTP", Port=8080, VpcId=vpc["VpcId"], TargetType="instance"
    )["TargetGroups"][0]
    return elbv2, group["TargetGroupArn"]


def _registered(elbv2: Any, arn: str) -> set[str]:
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {item["Target"]["Id"] for item in health if item["TargetHealth"]["State"] != "draining"}


def _instances(world: World, slot: str) -> set[str]:
    return {item["InstanceId"] for item in world.slot(slot)["Instances"]}


def _recording_runner(elbv2: Any, arn: str, code: int, output: str) -> tuple[gate.CommandRunner, list[dict]]:
    """A check that sees what the preview target group holds while it runs, then ends with `code` and `output`."""
    seen: list[dict] = []

    def run(
        command: str, env: Mapping[str, str], timeout: float, _stopped: Callable[[], bool]
    ) -> tuple[int | None, str]:
        seen.append({"registered": _registered(elbv2, arn), "url": env.get("TEST_URL"), "timeout": timeout})
        return code, output

    return run, seen


def test_a_passing_check_runs_against_the_replacement_slot_only_then_waits_for_promotion(
    world: World, preview: tuple[Any, str]
) -> None:
    # Given a gated release with a check that passes, and a promotion once the release waits
    elbv2, arn = preview
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    _promote_from_elsewhere(world, codedeploy)
    runner, seen = _recording_runner(elbv2, arn, 0, "ok")
    # When releasing with the check
    record, output = _release(
        world, codedeploy, elbv2=elbv2, preview_arn=arn, check_runner=runner, check_command="curl -fsS $TEST_URL"
    )
    # Then while the check ran the preview group held exactly slot B's instances, none of the live slot A
    (during,) = seen
    assert during["registered"] == _instances(world, SLOT_B)
    assert not during["registered"] & _instances(world, SLOT_A)
    assert during["url"] == TEST_URL
    # And they were deregistered before the promotion; the release went on to succeed
    assert _registered(elbv2, arn) == set()
    assert "pre-promotion check passed (exit 0)" in output
    assert record.exit_code == ExitCode.RELEASED


def test_a_failing_check_stops_the_deployment_with_rollback_and_reports_its_output(
    world: World, preview: tuple[Any, str]
) -> None:
    # Given a gated release whose check fails with exit 3
    elbv2, arn = preview
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    runner, _ = _recording_runner(elbv2, arn, 3, "GET /checkout\nexpected 200, got 500\n")
    # When releasing with the check
    record, _ = _release(
        world, codedeploy, elbv2=elbv2, preview_arn=arn, check_runner=runner, check_command="./smoke.sh"
    )
    # Then it exits 1 naming the check and its output, the deployment was stopped with rollback and never continued
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert "pre-promotion check failed (exit 3): ./smoke.sh" in record.error.message
    assert "expected 200, got 500" in "\n".join(record.failure)
    assert codedeploy.called("stop_deployment") == [{"deploymentId": record.deployment_id, "autoRollbackEnabled": True}]
    assert codedeploy.called("continue_deployment") == []
    # And nothing is left behind: the preview group is empty, traffic stays on A, slot B is emptied
    assert _registered(elbv2, arn) == set()
    assert codedeploy.listed == [SLOT_A]
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_promote_while_the_release_runs_the_check_is_refused_and_traffic_never_moves(
    world: World, preview: tuple[Any, str]
) -> None:
    # Given a gated release whose check, while it runs, has someone call `promote` (then the check fails)
    elbv2, arn = preview
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    tried: list[str] = []

    def promote_during_the_check(
        command: str, env: Mapping[str, str], timeout: float, _stopped: Callable[[], bool]
    ) -> tuple[int | None, str]:
        with pytest.raises(gate.CheckRunning) as refused:
            gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime())
        tried.append(refused.value.message)
        return 1, "checkout broken"

    # When releasing with that check
    record, _ = _release(
        world, codedeploy, elbv2=elbv2, preview_arn=arn, check_runner=promote_during_the_check, check_command="x"
    )
    # Then promote was refused naming the deployment, the deployment was never continued, only stopped
    assert tried == [f"the pre-promotion check of deployment {record.deployment_id} is running; wait for it"]
    assert codedeploy.called("continue_deployment") == []
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    # And the mark says the check ended, so a later promote is not blocked by it
    mark = gate.CheckMark.of(world.s3, _targets())
    assert not mark.running(str(record.deployment_id), now=world.clock.now())


def test_a_check_mark_left_by_a_killed_run_stops_blocking_promote_once_it_expires(world: World) -> None:
    # Given a waiting deployment whose release was killed during a 300 s check (the mark was never ended)
    codedeploy, deployment_id = _waiting_group()
    mark = gate.CheckMark.of(world.s3, _targets())
    mark.start(deployment_id, now=world.clock.now(), seconds=300)
    # When promote runs within the bound, then after it
    with pytest.raises(gate.CheckRunning):
        gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime())
    world.clock.sleep(300 + gate.CHECK_MARK_MARGIN_SECONDS + 1)
    code = gate.promote(codedeploy, world.s3, _targets(), io.StringIO(), runtime=world.runtime())
    # Then the first is refused and the second continues the deployment
    assert code == 0
    assert [call["deploymentId"] for call in codedeploy.called("continue_deployment")] == [deployment_id]


def test_sigterm_during_the_check_kills_it_at_once_deregisters_and_cancels(
    world: World, preview: tuple[Any, str]
) -> None:
    # Given a gated release whose check would run 15 s, and SIGTERM arriving 1 s into it
    elbv2, arn = preview
    world.scale(SLOT_A, 2)
    codedeploy = GatedCodeDeploy(gated_success())
    runtime = world.runtime()
    outputs: list[tuple[int | None, str]] = []

    def sigterm_after_a_second(
        command: str, env: Mapping[str, str], timeout: float, stopped: Callable[[], bool]
    ) -> tuple[int | None, str]:
        threading.Timer(1.0, runtime.stop.request, args=("SIGTERM",)).start()
        outputs.append(gate.run_shell(command, env, timeout, stopped))
        return outputs[-1]

    view, _ = world.view()
    clients = Clients(s3=world.s3, autoscaling=world.autoscaling, codedeploy=codedeploy, elbv2=elbv2)
    options = world.options(check_command="echo started; sleep 15; echo finished")
    release = Release(clients, _targets(arn), options, runtime, view, check_runner=sigterm_after_a_second)
    # When releasing
    record = release.run()
    # Then the check was killed before it finished, and the release took the cancel path (exit 4)
    assert outputs == [(None, "started\n")]
    assert record.exit_code == ExitCode.CANCELLED
    assert codedeploy.called("stop_deployment") == [{"deploymentId": record.deployment_id, "autoRollbackEnabled": True}]
    assert codedeploy.called("continue_deployment") == []
    # And nothing of the new slot is left in the preview group
    assert _registered(elbv2, arn) == set()


def _check(world: World, preview: tuple[Any, str], command: str, **options: Any) -> gate.PromotionCheck:
    elbv2, arn = preview
    return gate.PromotionCheck(
        elbv2,
        target_group_arn=arn,
        url=TEST_URL,
        command=command,
        runtime=world.runtime(),
        log=print,
        mark=gate.CheckMark.of(world.s3, _targets(arn)),
        **options,
    )


def test_the_check_is_a_real_shell_command_given_the_url_and_its_output_tail(
    world: World, preview: tuple[Any, str]
) -> None:
    # Given instances registered by nothing yet, and a check that prints the URL and fails
    elbv2, arn = preview
    world.scale(SLOT_B, 1)
    (instance_id,) = _instances(world, SLOT_B)
    check = _check(world, preview, 'echo "checking $TEST_URL for $DEPLOYMENT_ID"; exit 4')
    # When the check runs
    outcome = check.run([instance_id], "d-000000001")
    # Then it failed with the command's exit code and its own output, and the instance was deregistered
    assert not outcome.passed
    assert outcome.reason == "exit 4"
    assert outcome.output_tail == (f"checking {TEST_URL} for d-000000001",)
    assert _registered(elbv2, arn) == set()


def test_a_check_that_runs_too_long_fails(world: World, preview: tuple[Any, str]) -> None:
    elbv2, arn = preview
    world.scale(SLOT_B, 1)
    check = _check(world, preview, "sleep 5", timeout_seconds=0.2)

    outcome = check.run(sorted(_instances(world, SLOT_B)), "d-000000001")

    assert not outcome.passed
    assert outcome.reason == "timed out after 0 s"
    assert _registered(elbv2, arn) == set()


# --- the command line ----------------------------------------------------------------------------------------------

EXPLICIT = ["--bucket", BUCKET, "--application", APP, "--deployment-group", GROUP, "--slots", f"{SLOT_A},{SLOT_B}"]
FLEET_FLAGS = ["--fleet-min", "1", "--fleet-desired", "2", "--fleet-max", "4"]


def _cli_clients(world: World, codedeploy: GatedCodeDeploy) -> cli.AwsClients:
    return cli.AwsClients(
        s3=world.s3, autoscaling=world.autoscaling, codedeploy=codedeploy, cloudformation=None, elbv2=None
    )


def test_deploy_py_promote_continues_the_waiting_deployment_and_exits_0(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy, deployment_id = _waiting_group()

    code = cli.main(["promote", *EXPLICIT, *FLEET_FLAGS], env={}, clients=_cli_clients(world, codedeploy))

    assert code == ExitCode.RELEASED
    assert [call["deploymentId"] for call in codedeploy.called("continue_deployment")] == [deployment_id]
    assert f"promoted deployment {deployment_id}" in capsys.readouterr().out


def test_deploy_py_abort_with_nothing_waiting_exits_2_with_what_it_found(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy = GatedCodeDeploy(Script([Frame("Succeeded")]))

    code = cli.main(["abort", *EXPLICIT, *FLEET_FLAGS], env={}, clients=_cli_clients(world, codedeploy))

    assert code == ExitCode.BAD_INPUT
    assert "no deployment of" in capsys.readouterr().err
    assert codedeploy.called("stop_deployment") == []


def test_a_check_command_without_a_test_listener_is_refused_before_anything_is_touched(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    codedeploy = GatedCodeDeploy(gated_success())

    code = cli.main(
        ["release", *EXPLICIT, *FLEET_FLAGS, "--app-dir", str(world.app_dir), "--check-command", "true"],
        env={},
        clients=_cli_clients(world, codedeploy),
    )

    assert code == ExitCode.BAD_INPUT
    assert "no test listener" in capsys.readouterr().err
    assert codedeploy.called("create_deployment") == []


def test_deploy_py_promote_during_the_check_exits_2_saying_to_wait(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a waiting deployment whose release is running its pre-promotion check
    codedeploy, deployment_id = _waiting_group()
    gate.CheckMark.of(world.s3, _targets()).start(deployment_id, now=world.clock.now(), seconds=300)
    # When promote runs from the command line
    code = cli.main(
        ["promote", *EXPLICIT, *FLEET_FLAGS], env={}, clients=_cli_clients(world, codedeploy), runtime=world.runtime()
    )
    # Then it exits 2 with one line and what to do, and continued nothing
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert f"the pre-promotion check of deployment {deployment_id} is running; wait for it" in err
    assert "What to do:" in err and "Traceback" not in err
    assert codedeploy.called("continue_deployment") == []


@pytest.mark.parametrize("source", ["--check-command", "promotionCheckCommand"])
def test_no_wait_with_a_pre_promotion_check_is_refused_before_anything_is_touched(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # Given a gated stack with a test listener, and a check from the command line or from cdk.json
    codedeploy = GatedCodeDeploy(gated_success())
    flags = ["--check-command", "./smoke.sh"] if source == "--check-command" else []
    if source == "promotionCheckCommand":
        monkeypatch.setattr(cli, "_default_check_command", lambda: "./smoke.sh")
    monkeypatch.setattr(cli, "_targets", lambda *_: _targets("arn:aws:elasticloadbalancing:preview"))
    # When releasing with --no-wait
    code = cli.main(
        ["release", *EXPLICIT, *FLEET_FLAGS, "--app-dir", str(world.app_dir), "--no-wait", *flags],
        env={},
        clients=_cli_clients(world, codedeploy),
    )
    # Then it exits 2 saying so, and nothing was uploaded or deployed
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert "--no-wait cannot run the pre-promotion check (./smoke.sh" in err
    assert "Traceback" not in err
    assert codedeploy.called("create_deployment") == []
    assert world.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_promote_that_may_not_read_the_check_mark_continues_nothing(world: World) -> None:
    # Given a waiting deployment, and credentials that S3 answers with 403 for the mark (no GetObject, or no mark and
    # no ListBucket: docs/decisions.md F86)
    codedeploy, _ = _waiting_group()
    s3 = boto3.client("s3", region_name=REGION)
    stubber = Stubber(s3)
    stubber.add_client_error(
        "get_object",
        service_error_code="AccessDenied",
        http_status_code=403,
        expected_params={"Bucket": BUCKET, "Key": gate.check_mark_key(APP, GROUP)},
    )
    # When promote runs
    with stubber, pytest.raises(ClientError):
        gate.promote(codedeploy, s3, _targets(), io.StringIO(), runtime=world.runtime())
    # Then it stopped at the refusal: the deployment was not continued
    assert codedeploy.called("continue_deployment") == []
