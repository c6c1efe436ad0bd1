"""The finisher completes what a dead runner left, the way the release tool would, and only when no live run holds
the release lease (issue 12 §4).

Each scenario runs the real release tool against moto (S3, Auto Scaling, ELBv2) and the scripted CodeDeploy, kills it
at a chosen call (no cleanup, its lease left behind, as a vanished CI runner), lets CodeDeploy carry on alone, and then
invokes the finisher's handler as EventBridge would. The checks are issue 12's convergence conditions.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.lambdas.finisher.conftest import SCHEDULED_EVENT, FinisherWorld, deployment_event
from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy, Frame, Script
from tests.release.support import SLOT_A, SLOT_B
from tests.release.test_faults import TAKEOVER, Faulty, Killed, finish_unwatched, release


def _live_a(world: FinisherWorld, script: Script) -> FakeCodeDeploy:
    world.release.scale(SLOT_A, 2)
    return world.release.codedeploy(SLOT_A, script)


def _die(world: FinisherWorld, codedeploy: FakeCodeDeploy, client: str, operation: str, when: Any) -> None:
    """Run a release that dies at the first `operation` of `client` for which `when(params)` holds."""
    proxies = {
        "s3": Faulty(world.release.s3),
        "autoscaling": Faulty(world.release.autoscaling),
        "codedeploy": Faulty(codedeploy),
    }
    proxies[client].fail(operation, when=when, times=1, kill=True)
    dying = proxies[client]

    class Dies(Faulty):
        def __getattr__(self, name: str) -> Any:
            if dying.killed:
                raise Killed(name)
            return super().__getattr__(name)

    clients = {name: proxy if name == client else Dies(proxy._client) for name, proxy in proxies.items()}
    with pytest.raises(Killed):
        release(world.release, clients["codedeploy"], s3=clients["s3"], autoscaling=clients["autoscaling"])


def _suspended(world: FinisherWorld, slot: str) -> list[str]:
    return sorted(item["ProcessName"] for item in world.release.slot(slot)["SuspendedProcesses"])


def _lease_writes(world: FinisherWorld) -> int:
    versions = world.release.s3.list_object_versions(Bucket="bluegreen-artifacts-test", Prefix="leases/")
    return len(versions.get("Versions", []))


def _rollback_fails_after_traffic() -> Script:
    """Green took traffic, a blue event failed, and CodeDeploy's rollback failed too."""
    script = scenarios.traffic_then_failure()
    failed = script.frames[-1]
    failed.rollback_frames = [Frame("InProgress"), Frame("Failed")]
    return script


# --- each terminal state, the runner gone and its lease expired ------------------------------------------------------


def test_after_a_success_whose_runner_died_the_finisher_switches_the_group_and_empties_the_old_slot(
    world: FinisherWorld,
) -> None:
    # Given a release whose runner died right after its deployment onto slot B succeeded, before the switch
    codedeploy = _live_a(world, scenarios.success())
    _die(world, codedeploy, "autoscaling", "resume_processes", lambda _p: bool(codedeploy.created))
    assert _suspended(world, SLOT_A) and _suspended(world, SLOT_B)
    (deployment_id,) = codedeploy.created
    # When CodeDeploy's SUCCESS event reaches the finisher after the run's lease expired
    world.release.clock.current += TAKEOVER
    answer = world.invoke(deployment_event(deployment_id, "SUCCESS"), codedeploy)
    # Then B is live, A is emptied, nothing is suspended, no deployment is in flight
    assert answer["status"] == "switched"
    world.assert_converged(codedeploy, SLOT_B)


def test_after_a_failure_with_a_successful_rollback_the_finisher_empties_the_failed_slot(world: FinisherWorld) -> None:
    # Given a release whose runner died while CodeDeploy rolled back its failed deployment onto B
    codedeploy = _live_a(world, scenarios.failure_at_after_install())
    _die(world, codedeploy, "autoscaling", "resume_processes", lambda _p: bool(codedeploy.created))
    finish_unwatched(codedeploy)
    (deployment_id,) = codedeploy.created
    # When the FAILURE event reaches the finisher after the lease expired
    world.release.clock.current += TAKEOVER
    answer = world.invoke(deployment_event(deployment_id, "FAILURE"), codedeploy)
    # Then A stays live, B is emptied, scaling is resumed on both
    assert answer["status"] == "cleaned-up"
    world.assert_converged(codedeploy, SLOT_A)


def test_after_traffic_reached_green_and_the_rollback_failed_the_finisher_keeps_the_slot_and_resumes_scaling(
    world: FinisherWorld,
) -> None:
    # Given a release whose runner died after green took traffic, and whose rollback then failed
    codedeploy = _live_a(world, _rollback_fails_after_traffic())
    _die(world, codedeploy, "autoscaling", "resume_processes", lambda _p: bool(codedeploy.created))
    finish_unwatched(codedeploy)
    (deployment_id,) = codedeploy.created
    # When the finisher runs after the lease expired
    world.release.clock.current += TAKEOVER
    answer = world.invoke(deployment_event(deployment_id, "FAILURE"), codedeploy)
    # Then B is left running (traffic may be on it), yet no process stays suspended and the group still lists A
    assert answer["status"] == "failed-slot-left-running"
    assert world.release.slot(SLOT_B)["DesiredCapacity"] == 2
    assert codedeploy.listed == [SLOT_A]
    assert _suspended(world, SLOT_A) == [] and _suspended(world, SLOT_B) == []


def test_after_a_stop_the_finisher_empties_the_slot_that_never_took_traffic(world: FinisherWorld) -> None:
    # Given a release whose runner died while following, and an operator who then stopped its deployment
    codedeploy = _live_a(world, scenarios.never_ending())
    _die(world, codedeploy, "codedeploy", "get_deployment", lambda p: codedeploy.polls.get(p["deploymentId"], 0) >= 2)
    (deployment_id,) = codedeploy.created
    codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    # When the STOP event reaches the finisher after the lease expired
    world.release.clock.current += TAKEOVER
    answer = world.invoke(deployment_event(deployment_id, "STOP"), codedeploy)
    # Then A stays live, B is emptied, nothing is suspended
    assert answer["status"] == "cleaned-up"
    world.assert_converged(codedeploy, SLOT_A)


# --- the lease ------------------------------------------------------------------------------------------------------


def test_while_a_live_run_holds_the_lease_the_finisher_does_nothing_and_the_run_finishes(world: FinisherWorld) -> None:
    # Given a release in progress (the finisher is invoked from the run's first wait)
    codedeploy = _live_a(world, scenarios.success())
    seen: dict[str, Any] = {}

    def finisher_meanwhile(sleep_number: int) -> None:
        if sleep_number == 1:
            finish_unwatched(codedeploy)  # the deployment ended: its event arrives while the run still follows it
            (deployment_id,) = codedeploy.created
            seen["answer"] = world.invoke(deployment_event(deployment_id, "SUCCESS"), codedeploy)
            seen["updates"] = len(codedeploy.called("update_deployment_group"))
            seen["b"] = world.release.slot(SLOT_B)["DesiredCapacity"]

    world.release.clock.on_sleep = finisher_meanwhile
    # When the run goes on to its end
    record, _ = release(world.release, codedeploy)
    # Then the finisher said the lease is held and changed nothing; the run released and converged (exit 0)
    assert seen["answer"]["status"] == "lease-held-by-a-live-run"
    assert seen["updates"] == 0
    assert seen["b"] == 2
    assert record.exit_code == 0, record.error
    world.assert_converged(codedeploy, SLOT_B)


def test_with_the_lease_free_the_finisher_completes_a_run_that_ended_finishing_incomplete(
    world: FinisherWorld,
) -> None:
    # Given a run that released but could not resume scaling processes (exit 7), its lease released on the way out
    codedeploy = _live_a(world, scenarios.success())
    autoscaling = Faulty(world.release.autoscaling).fail("resume_processes", when=lambda _p: bool(codedeploy.created))
    record, _ = release(world.release, codedeploy, autoscaling=autoscaling)
    assert record.exit_code == 7
    assert _suspended(world, SLOT_A) and _suspended(world, SLOT_B)
    # When the sweep runs (no time has passed: the lease is free, not expired)
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the finisher took the free lease and resumed scaling: converged
    assert answer["status"] == "switched"
    world.assert_converged(codedeploy, SLOT_B)


def test_a_second_invocation_finds_nothing_to_do_and_writes_nothing(world: FinisherWorld) -> None:
    # Given a release the finisher already completed after its runner died
    codedeploy = _live_a(world, scenarios.success())
    _die(world, codedeploy, "codedeploy", "update_deployment_group", lambda _p: True)
    world.release.clock.current += TAKEOVER
    (deployment_id,) = codedeploy.created
    world.invoke(deployment_event(deployment_id, "SUCCESS"), codedeploy)
    calls, lease_writes = len(codedeploy.calls), _lease_writes(world)
    # When the same event arrives again, and the sweep runs
    again = world.invoke(deployment_event(deployment_id, "SUCCESS"), codedeploy)
    sweep = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then both find it converged: no CodeDeploy write, no lease write, same state
    assert again["status"] == sweep["status"] == "nothing-to-do"
    assert [name for name, _ in codedeploy.calls[calls:] if name.startswith(("update", "create", "stop"))] == []
    assert _lease_writes(world) == lease_writes
    world.assert_converged(codedeploy, SLOT_B)


def test_the_tool_that_wakes_up_after_the_finisher_finished_its_release_sees_it_done(world: FinisherWorld) -> None:
    # Given a run that stalls past its lease during its last wait, while the deployment succeeds and the
    # finisher takes the expired lease over and finishes the release
    codedeploy = _live_a(world, scenarios.success())
    seen: dict[str, Any] = {}

    def stall(sleep_number: int) -> None:
        if sleep_number == 1:
            finish_unwatched(codedeploy)
            world.release.clock.current += TAKEOVER
            seen["answer"] = world.invoke(SCHEDULED_EVENT, codedeploy)

    world.release.clock.on_sleep = stall
    # When the run wakes up and goes on
    record, output = release(world.release, codedeploy)
    # Then the finisher switched, and the run saw the release finished: exit 0, converged
    assert seen["answer"]["status"] == "switched"
    assert record.exit_code == 0, record.error
    assert "already finished" in output
    world.assert_converged(codedeploy, SLOT_B)


# --- what the finisher leaves alone ---------------------------------------------------------------------------------


def test_a_deployment_still_in_flight_is_left_to_end(world: FinisherWorld) -> None:
    # Given a runner that died while its deployment still runs, its lease expired
    codedeploy = _live_a(world, scenarios.never_ending())
    _die(world, codedeploy, "codedeploy", "get_deployment", lambda p: codedeploy.polls.get(p["deploymentId"], 0) >= 2)
    world.release.clock.current += TAKEOVER
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then it does nothing: processes stay suspended, as a running deployment needs (docs/decisions.md F9)
    assert answer["status"] == "deployment-in-flight"
    assert _suspended(world, SLOT_A) and _suspended(world, SLOT_B)
    assert world.release.slot(SLOT_B)["DesiredCapacity"] == 2


class _BootstrapListing:
    """CodeDeploy where the stack's bootstrap group still lists a slot (a first release under way or interrupted)."""

    def __init__(self, codedeploy: FakeCodeDeploy, bootstrap: str, slot: str) -> None:
        self._codedeploy, self._bootstrap, self._slot = codedeploy, bootstrap, slot

    def get_deployment_group(self, **params: Any) -> dict[str, Any]:
        answer = self._codedeploy.get_deployment_group(**params)
        if params["deploymentGroupName"] == self._bootstrap:
            info = answer["deploymentGroupInfo"]
            info["deploymentGroupName"] = self._bootstrap
            info["autoScalingGroups"] = [{"name": self._slot, "hook": "CodeDeploy-managed-automatic-launch-hook"}]
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._codedeploy, name)


def test_an_unfinished_first_release_is_left_to_the_next_release(world: FinisherWorld) -> None:
    # Given slot B filled by a first release whose runner died: the bootstrap group lists B, the blue/green group none
    world.release.scale(SLOT_B, 2)
    codedeploy = world.release.codedeploy(None, scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B)
    # When the sweep runs
    answer = world.invoke(
        SCHEDULED_EVENT,
        _BootstrapListing(codedeploy, "BlueGreenApp-bootstrap", SLOT_B),
        bootstrap_group="BlueGreenApp-bootstrap",
    )
    # Then nothing is touched: the release tool's bootstrap recovery owns that state
    assert answer["status"] == "first-release-left-to-the-tool"
    assert codedeploy.called("update_deployment_group") == []
    assert world.release.slot(SLOT_B)["DesiredCapacity"] == 2


def test_an_event_of_another_deployment_group_is_ignored(world: FinisherWorld) -> None:
    codedeploy = world.release.codedeploy(SLOT_A)
    answer = world.invoke(deployment_event("d-1", "SUCCESS", group="BlueGreenApp-bootstrap"), codedeploy)
    assert answer["status"] == "ignored"
    assert codedeploy.calls == []


def test_a_succeeded_deployment_onto_a_slot_that_serves_nothing_is_never_made_live(world: FinisherWorld) -> None:
    # Given A live and serving, and a group history whose last deployment succeeded onto B, which is empty now
    codedeploy = _live_a(world, scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B)
    world.release.autoscaling.suspend_processes(AutoScalingGroupName=SLOT_A, ScalingProcesses=["Launch"])
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the group keeps A and A keeps its instances; only the suspended process is resumed
    assert answer["status"] == "left-alone"
    assert codedeploy.listed == [SLOT_A]
    assert world.release.slot(SLOT_A)["DesiredCapacity"] == 2
    assert _suspended(world, SLOT_A) == []
