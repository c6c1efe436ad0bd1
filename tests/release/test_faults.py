"""Fault injection (issue 12): overlapping releases, failing post-commit calls, a failing stop, SIGHUP, hard kills.

Offline: moto for S3 (the lease's conditional writes) and Auto Scaling, the scripted CodeDeploy of `fakes` (validated
against botocore's model). Faults are injected by `Faulty`, a proxy in front of a client. Every scenario ends by
checking the convergence conditions of issue 12 (`assert_converged`): the group lists exactly one slot, it serves at
the desired size, the other slot is empty, no process is suspended, no deployment is in flight, and the live slot
runs the released revision.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from release import lease as lease_module
from release.errors import ExitCode
from release.orchestrate import Clients, Release
from release.record import ReleaseRecord
from release.runtime import Runtime, stop_on_signals

from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy, client_error
from tests.release.support import BUCKET, FLEET, SLOT_A, SLOT_B, World

IN_FLIGHT = ("Created", "Queued", "InProgress", "Ready", "Baking")
TAKEOVER = timedelta(seconds=lease_module.TTL_SECONDS + lease_module.SKEW_SECONDS + 1)


class Killed(BaseException):
    """The runner vanished (SIGKILL, a lost CI machine): no further call, no cleanup, the lease left behind."""


class Faulty:
    """A client whose chosen calls fail (an AWS error, or the process dying); everything else passes through."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._rules: list[tuple[str, Callable[[dict[str, Any]], bool], int | None, BaseException | None]] = []
        self.killed = False
        self.failures = 0

    def fail(
        self,
        operation: str,
        *,
        when: Callable[[dict[str, Any]], bool] = lambda _params: True,
        times: int | None = None,
        code: str = "ServiceUnavailable",
        kill: bool = False,
    ) -> Faulty:
        """Fail `operation` (snake_case) when `when(params)` holds, `times` times (None: always); `kill` = die."""
        self._rules.append((operation, when, times, Killed(operation) if kill else client_error(code, operation)))
        return self

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target) or name.startswith("_") or name in ("get_paginator", "called"):
            return target

        def call(*args: Any, **params: Any) -> Any:
            if self.killed:
                raise Killed(name)
            for index, (operation, when, times, error) in enumerate(self._rules):
                if operation == name and when(params) and (times is None or times > 0):
                    if times is not None:
                        self._rules[index] = (operation, when, times - 1, error)
                    if isinstance(error, Killed):
                        self.killed = True
                    self.failures += 1
                    raise error  # type: ignore[misc]
            return target(*args, **params)

        return call


def release(
    world: World,
    codedeploy: Any,
    *,
    s3: Any = None,
    autoscaling: Any = None,
    runtime: Runtime | None = None,
    **options: Any,
) -> tuple[ReleaseRecord, str]:
    """One `release` run with the given (possibly faulty) clients; returns its record and its output."""
    view, stream = world.view()
    clients = Clients(s3=s3 or world.s3, autoscaling=autoscaling or world.autoscaling, codedeploy=codedeploy)
    run = Release(clients, world.targets(), world.options(**options), runtime or world.runtime(), view)
    return run.run(), stream.getvalue()


def finish_unwatched(codedeploy: FakeCodeDeploy) -> None:
    """CodeDeploy carries on without the runner: every deployment in flight runs to its scripted end."""
    for _ in range(20):
        running = [d for d, info in codedeploy.deployments.items() if info["status"] in IN_FLIGHT]
        if not running:
            return
        for deployment_id in running:
            codedeploy.get_deployment(deploymentId=deployment_id)
    raise AssertionError("a scripted deployment never ended")


def assert_converged(world: World, codedeploy: FakeCodeDeploy, record: ReleaseRecord) -> None:
    """Issue 12's convergence conditions after `record`'s release."""
    assert len(codedeploy.listed) == 1, codedeploy.listed
    live = codedeploy.listed[0]
    other = SLOT_B if live == SLOT_A else SLOT_A
    serving = [i for i in world.slot(live)["Instances"] if i["LifecycleState"] == "InService"]
    assert world.slot(live)["DesiredCapacity"] >= FLEET.desired
    assert len(serving) == world.slot(live)["DesiredCapacity"]
    assert world.slot(other)["DesiredCapacity"] == 0
    assert not [i for i in world.slot(other)["Instances"] if i["LifecycleState"] == "InService"]
    assert world.slot(SLOT_A)["SuspendedProcesses"] == []
    assert world.slot(SLOT_B)["SuspendedProcesses"] == []
    assert not [d for d, info in codedeploy.deployments.items() if info["status"] in IN_FLIGHT]
    last = codedeploy.deployments[codedeploy.last_successful]
    assert last["targetInstances"] == {"autoScalingGroups": [live]}
    assert last["revision"] == record.revision


def _live_a(world: World, script: Any = None) -> FakeCodeDeploy:
    world.scale(SLOT_A, 2)
    return world.codedeploy(SLOT_A, script or scenarios.success())


def _writes(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in calls if name in ("create_deployment", "update_deployment_group", "stop_deployment")]


# --- 1. overlapping releases -----------------------------------------------------------------------------------------


def test_two_releases_started_together_exactly_one_proceeds_and_the_other_touches_nothing(world: World) -> None:
    # Given release A running (its first wait, while following its deployment) when release B starts
    codedeploy = _live_a(world)
    second: dict[str, Any] = {}
    b_autoscaling = Faulty(world.autoscaling)

    def start_b(sleep_number: int) -> None:
        if sleep_number == 1 and not second:
            before = len(codedeploy.calls)
            second["record"], second["output"] = release(world, codedeploy, autoscaling=b_autoscaling)
            second["writes"] = _writes(codedeploy.calls[before:])
            second["slots"] = (world.slot(SLOT_A)["DesiredCapacity"], world.slot(SLOT_B)["DesiredCapacity"])

    world.clock.on_sleep = start_b
    # When A runs to its end
    record, _ = release(world, codedeploy)
    # Then B exited 5 on the lease naming A's CI build, wrote nothing to CodeDeploy and never changed a slot;
    # A released and converged
    assert second["record"].exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert "release lease" in second["record"].error.message
    assert "build 42 of main" in second["record"].error.message
    assert second["writes"] == []
    assert second["slots"] == (2, 2)
    assert record.exit_code == ExitCode.RELEASED
    assert len(codedeploy.created) == 1
    assert_converged(world, codedeploy, record)


def test_a_run_that_stalled_past_its_lease_scales_nothing_after_another_run_took_over(world: World) -> None:
    # Given release A that stalls, right after filling the idle slot, for longer than its lease, while B runs
    codedeploy = _live_a(world)
    second: dict[str, ReleaseRecord] = {}
    a_autoscaling = Faulty(world.autoscaling)
    original = a_autoscaling.__getattr__("update_auto_scaling_group")

    def fill_then_stall(**params: Any) -> Any:
        answer = original(**params)
        if not second:
            world.clock.current += TAKEOVER
            second["record"], _ = release(world, codedeploy)
        return answer

    a_autoscaling.update_auto_scaling_group = fill_then_stall  # type: ignore[attr-defined]
    # When A carries on after B has released
    record, _ = release(world, codedeploy, autoscaling=a_autoscaling)
    # Then B took the expired lease over and released; A lost its lease, and scaled and deployed nothing more
    assert second["record"].exit_code == ExitCode.RELEASED
    assert record.exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert "lost its lease" in record.error.message
    assert len(codedeploy.created) == 1
    assert_converged(world, codedeploy, second["record"])


def test_a_lease_held_by_a_live_run_refuses_the_release_before_anything_is_uploaded(world: World) -> None:
    # Given another run's valid lease on the group
    codedeploy = _live_a(world)
    holder = lease_module.Lease(
        world.s3,
        BUCKET,
        lease_module.lease_key("BlueGreenApp-app", "BlueGreenApp-group"),
        release_id="other",
        command="rollback",
        runtime=world.runtime(),
        owner="runner-7",
    )
    holder.acquire()
    # When releasing
    record, _ = release(world, codedeploy)
    # Then it exits 5 naming the holder; nothing was uploaded, scaled or deployed
    assert record.exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert "runner-7" in record.error.message and "rollback" in record.error.message
    assert world.objects() == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert codedeploy.created == []


def test_a_retried_create_deployment_refused_as_a_limit_follows_the_releases_own_deployment(world: World) -> None:
    # Given a CreateDeployment whose first attempt created the deployment and whose SDK retry was refused
    codedeploy = _live_a(world)
    create = codedeploy.create_deployment

    def created_then_refused(**params: Any) -> Any:
        create(**params)
        raise client_error("DeploymentLimitExceededException", "CreateDeployment")

    codedeploy.create_deployment = created_then_refused  # type: ignore[method-assign]
    # When releasing
    record, _ = release(world, codedeploy)
    # Then the release recognised its own deployment by its release id, followed it, and released
    assert record.exit_code == ExitCode.RELEASED
    assert codedeploy.deployments[record.deployment_id]["description"].startswith(f"[release {record.release_id}]")
    assert_converged(world, codedeploy, record)


def test_another_deployment_refusing_create_is_still_another_release_in_flight(world: World) -> None:
    # Given someone else's deployment started between the pre-flight check and CreateDeployment
    codedeploy = _live_a(world)
    create = codedeploy.create_deployment

    def someone_else_first(**params: Any) -> Any:
        codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=0)
        return create(**params)

    codedeploy.create_deployment = someone_else_first  # type: ignore[method-assign]
    # When releasing
    record, _ = release(world, codedeploy)
    # Then it exits 5 and leaves the idle slot empty again
    assert record.exit_code == ExitCode.RELEASE_IN_FLIGHT
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


# --- 2. after the success --------------------------------------------------------------------------------------------


def _after_success(codedeploy: FakeCodeDeploy) -> Callable[[dict[str, Any]], bool]:
    return lambda _params: codedeploy.last_successful in codedeploy.created


POST_COMMIT = {
    "point the group": ("codedeploy", "update_deployment_group", None),
    "empty the old slot": ("autoscaling", "update_auto_scaling_group", SLOT_A),
    "resume the old slot": ("autoscaling", "resume_processes", SLOT_A),
    "resume the new slot": ("autoscaling", "resume_processes", SLOT_B),
}


def _inject(world: World, codedeploy: FakeCodeDeploy, step: str, times: int | None) -> tuple[Any, Any]:
    client, operation, slot = POST_COMMIT[step]
    after = _after_success(codedeploy)

    def when(params: dict[str, Any]) -> bool:
        return after(params) and (slot is None or params.get("AutoScalingGroupName") == slot)

    faulty = Faulty(codedeploy if client == "codedeploy" else world.autoscaling).fail(operation, when=when, times=times)
    return (faulty, world.autoscaling) if client == "codedeploy" else (codedeploy, faulty)


@pytest.mark.parametrize("step", sorted(POST_COMMIT))
def test_one_failure_of_a_post_commit_call_is_retried_and_the_release_succeeds(world: World, step: str) -> None:
    # Given a successful deployment and one failure of a call after it
    codedeploy = _live_a(world)
    faulty_codedeploy, autoscaling = _inject(world, codedeploy, step, times=1)
    # When releasing
    record, _ = release(world, faulty_codedeploy, autoscaling=autoscaling)
    # Then the step was retried and the release converged with exit 0
    assert record.exit_code == ExitCode.RELEASED, record.error
    assert_converged(world, codedeploy, record)


@pytest.mark.parametrize("step", sorted(POST_COMMIT))
def test_a_lasting_post_commit_failure_is_released_incomplete_with_the_repair_and_the_next_run_finishes(
    world: World, step: str
) -> None:
    # Given a successful deployment and a call after it that keeps failing
    codedeploy = _live_a(world)
    faulty_codedeploy, autoscaling = _inject(world, codedeploy, step, times=None)
    # When releasing
    record, output = release(world, faulty_codedeploy, autoscaling=autoscaling)
    # Then it is "released, finishing incomplete" (7), never a failed deployment, and names the exact repair
    assert record.exit_code == ExitCode.RELEASED_INCOMPLETE
    assert "deployment failed" not in output
    assert "succeeded and traffic is on" in record.error.message
    assert "aws " in record.error.message or "next release" in record.error.message
    assert record.live_after == SLOT_B
    # And every other post-commit step was still done: the other slot's processes resumed
    if step == "resume the old slot":
        assert world.slot(SLOT_B)["SuspendedProcesses"] == []
    if step == "resume the new slot":
        assert world.slot(SLOT_A)["SuspendedProcesses"] == []
    # When the next release runs with AWS answering again
    world.clock.current += timedelta(minutes=5)
    again, _ = release(world, codedeploy)
    # Then it completes and everything converges
    assert again.exit_code == ExitCode.RELEASED, again.error
    assert_converged(world, codedeploy, again)


def test_one_transient_error_in_a_pre_flight_read_does_not_fail_the_release(world: World) -> None:
    # Given the first DescribeAutoScalingGroups of the pre-flight throttled
    codedeploy = _live_a(world)
    faulty = Faulty(codedeploy).fail("get_deployment_group", times=1, code="ThrottlingException")
    # When releasing
    record, output = release(world, faulty)
    # Then the read was asked again and the release converged
    assert record.exit_code == ExitCode.RELEASED, record.error
    assert "a pre-flight read failed (ThrottlingException)" in output
    assert_converged(world, codedeploy, record)


# --- 3. cancel and stop ----------------------------------------------------------------------------------------------


def test_a_stop_that_keeps_failing_keeps_processes_suspended_says_the_deployment_runs_and_exits_4(
    world: World,
) -> None:
    # Given a deployment that never ends, a cancel, and StopDeployment failing every time
    codedeploy = _live_a(world, scenarios.never_ending())
    faulty = Faulty(codedeploy).fail("stop_deployment")
    runtime = world.runtime()
    world.clock.on_sleep = lambda n: runtime.stop.request("SIGTERM") if n == 2 else None
    # When releasing
    record, _ = release(world, faulty, runtime=runtime)
    # Then it exits with the cancel code, says the deployment still runs and how to stop it, keeps processes suspended
    assert record.exit_code == ExitCode.CANCELLED
    assert "STILL RUNNING" in record.error.message
    assert "deploy.py stop" in record.error.hint and "stop-deployment" in record.error.hint
    assert world.slot(SLOT_A)["SuspendedProcesses"] and world.slot(SLOT_B)["SuspendedProcesses"]
    assert world.slot(SLOT_B)["DesiredCapacity"] == 2
    assert faulty.failures == 3
    # When the operator stops it as told, and the next release runs
    world.clock.on_sleep = None
    codedeploy.stop_deployment(deploymentId=record.deployment_id, autoRollbackEnabled=True)
    codedeploy.script = scenarios.success()
    again, _ = release(world, codedeploy)
    # Then everything converges
    assert again.exit_code == ExitCode.RELEASED, again.error
    assert_converged(world, codedeploy, again)


def test_a_stop_that_fails_once_is_retried_and_the_cancel_cleans_up(world: World) -> None:
    # Given a cancel and one failed StopDeployment
    codedeploy = _live_a(world, scenarios.never_ending())
    faulty = Faulty(codedeploy).fail("stop_deployment", times=1)
    runtime = world.runtime()
    world.clock.on_sleep = lambda n: runtime.stop.request("SIGINT") if n == 2 else None
    # When releasing
    record, _ = release(world, faulty, runtime=runtime)
    # Then the deployment was stopped, processes resumed and the idle slot emptied
    assert record.exit_code == ExitCode.CANCELLED
    assert "STILL RUNNING" not in record.error.message
    assert world.slot(SLOT_B)["SuspendedProcesses"] == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


def test_a_stop_that_races_the_deployments_success_is_reported_as_the_release_it_was(world: World) -> None:
    # Given a cancel arriving just as the deployment succeeds: StopDeployment answers "already completed"
    codedeploy = _live_a(world)
    runtime = world.runtime()
    world.clock.on_sleep = lambda n: runtime.stop.request("SIGTERM") if n == 1 else None

    def already_completed(**params: Any) -> Any:
        finish_unwatched(codedeploy)
        raise client_error("DeploymentAlreadyCompletedException", "StopDeployment")

    codedeploy.stop_deployment = already_completed  # type: ignore[method-assign]
    # When releasing
    record, output = release(world, codedeploy, runtime=runtime)
    # Then the success is finished (switch, old slot emptied), never reported as a failed or stopped deployment
    assert record.exit_code == ExitCode.RELEASED, record.error
    assert "already completed (Succeeded)" in output
    assert_converged(world, codedeploy, record)


# --- 4. the runner vanishes ------------------------------------------------------------------------------------------


def test_sighup_is_handled_like_sigterm(world: World) -> None:
    # Given a deployment still running when the terminal closes (SIGHUP)
    codedeploy = _live_a(world, scenarios.never_ending())
    runtime = world.runtime()
    world.clock.on_sleep = lambda n: os.kill(os.getpid(), signal.SIGHUP) if n == 2 else None
    # When releasing under the tool's signal handlers
    with stop_on_signals(runtime.stop):
        record, _ = release(world, codedeploy, runtime=runtime)
    # Then the deployment was stopped with rollback, processes resumed, the idle slot emptied, exit 4
    assert record.exit_code == ExitCode.CANCELLED
    assert runtime.stop.reason == "SIGHUP"
    assert codedeploy.called("stop_deployment")
    assert world.slot(SLOT_A)["SuspendedProcesses"] == [] and world.slot(SLOT_B)["SuspendedProcesses"] == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


KILL_POINTS = {
    "filling the idle slot": ("autoscaling", "update_auto_scaling_group", lambda p: p.get("DesiredCapacity") == 2),
    "suspending processes": ("autoscaling", "suspend_processes", lambda p: True),
    "following the deployment": ("codedeploy", "get_deployment", lambda p: True),
    "pointing the group": ("codedeploy", "update_deployment_group", lambda p: True),
    "emptying the old slot": ("autoscaling", "update_auto_scaling_group", lambda p: p.get("DesiredCapacity") == 0),
    "resuming processes": ("autoscaling", "resume_processes", None),
    "renewing the lease after the deployment": ("s3", "put_object", None),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_run_killed_at_any_step_converges_on_the_next_run(world: World, point: str) -> None:
    # Given a run that dies (no cleanup, lease left behind) at this step
    codedeploy = _live_a(world)
    client, operation, when = KILL_POINTS[point]
    if when is None:
        # the late calls of their kind: after the deployment was created
        def when(_params: dict[str, Any]) -> bool:
            return bool(codedeploy.created)

    faulty = {"s3": Faulty(world.s3), "autoscaling": Faulty(world.autoscaling), "codedeploy": Faulty(codedeploy)}
    faulty[client].fail(operation, when=when, times=1, kill=True)
    for proxy in faulty.values():
        proxy.killed = False
    shared_kill = faulty[client]

    class Dies(Faulty):
        def __getattr__(self, name: str) -> Any:
            if shared_kill.killed:
                raise Killed(name)
            return super().__getattr__(name)

    s3, autoscaling, deploy = (
        faulty["s3"] if client == "s3" else Dies(world.s3),
        faulty["autoscaling"] if client == "autoscaling" else Dies(world.autoscaling),
        faulty["codedeploy"] if client == "codedeploy" else Dies(codedeploy),
    )
    with pytest.raises(Killed):
        release(world, deploy, s3=s3, autoscaling=autoscaling)
    # When CodeDeploy finishes on its own and the next run starts after the lease expired
    finish_unwatched(codedeploy)
    world.clock.current += TAKEOVER
    again, _ = release(world, codedeploy)
    # Then the next run converges
    assert again.exit_code == ExitCode.RELEASED, again.error
    assert_converged(world, codedeploy, again)
