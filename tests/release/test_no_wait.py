"""`release --no-wait` starts a deployment and ends; `status --follow` follows it to its end and finishes it.

Each scenario checks what AWS ends in (the fake CodeDeploy and moto's Auto Scaling): which slot the group lists,
which slot serves at what size, whether scaling processes are suspended, and what the exit code says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release import cli
from release.errors import ExitCode

from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy
from tests.release.support import BUCKET, GROUP, SLOT_A, SLOT_B, World
from tests.release.test_cli import _clients, _stack


def _release_no_wait(world: World, tmp_path: Path, codedeploy: FakeCodeDeploy, *extra: str) -> int:
    argv = [
        "release",
        "--app-dir",
        str(world.app_dir),
        "--report-dir",
        str(tmp_path / "started"),
        "--plain",
        "--no-wait",
        *extra,
    ]
    return cli.main(argv, env={}, clients=_clients(world, codedeploy), runtime=world.runtime())


def _follow(world: World, tmp_path: Path, codedeploy: FakeCodeDeploy, *extra: str) -> int:
    argv = ["status", "--follow", "--plain", "--report-dir", str(tmp_path / "followed"), *extra]
    return cli.main(argv, env={}, clients=_clients(world, codedeploy), runtime=world.runtime())


def _suspended(world: World, slot: str) -> set[str]:
    return {item["ProcessName"] for item in world.slot(slot).get("SuspendedProcesses", [])}


def _lease_released(world: World) -> bool:
    body = world.s3.get_object(Bucket=BUCKET, Key=f"leases/BlueGreenApp-app/{GROUP}.json")["Body"].read()
    return bool(json.loads(body)["released"])


@pytest.fixture
def live_a(world: World) -> World:
    """The stack's outputs, slot A live with two instances, slot B empty."""
    _stack(world)
    world.scale(SLOT_A, 2)
    return world


def test_no_wait_creates_the_deployment_prints_its_id_and_exits_0_leaving_it_running(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment that would succeed
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.success())
    # When releasing with --no-wait
    code = _release_no_wait(live_a, tmp_path, codedeploy)
    # Then it exits 0 and prints the deployment's id, with how to follow it
    out = capsys.readouterr().out
    (deployment_id,) = codedeploy.created
    assert code == ExitCode.RELEASED
    assert f"status --follow --deployment-id {deployment_id}" in out
    assert "started, not followed" in out
    # And nothing was switched or emptied: the group still lists A, B holds the new instances, processes stay
    # suspended on both slots (a running deployment needs them so), and the release lease is free again
    assert codedeploy.listed == [SLOT_A]
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 2
    assert _suspended(live_a, SLOT_A) and _suspended(live_a, SLOT_B)
    assert _lease_released(live_a)
    assert codedeploy.called("stop_deployment") == []


def test_a_release_while_the_unwatched_deployment_runs_is_refused_touching_nothing(
    live_a: World, tmp_path: Path
) -> None:
    # Given a --no-wait release whose deployment still runs
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.success())
    assert _release_no_wait(live_a, tmp_path, codedeploy) == ExitCode.RELEASED
    # When another release starts
    code = _release_no_wait(live_a, tmp_path, codedeploy)
    # Then it exits 5 and the new slot is left as it is
    assert code == ExitCode.RELEASE_IN_FLIGHT
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 2
    assert len(codedeploy.created) == 1


def test_status_follow_finishes_a_successful_unwatched_release_as_release_would(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a --no-wait release of a deployment that succeeds
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.success())
    _release_no_wait(live_a, tmp_path, codedeploy)
    (deployment_id,) = codedeploy.created
    capsys.readouterr()
    # When following it
    code = _follow(live_a, tmp_path, codedeploy)
    # Then it exits 0 like a release, the group lists B, A is emptied and no process stays suspended
    out = capsys.readouterr().out
    assert code == ExitCode.RELEASED
    assert codedeploy.listed == [SLOT_B]
    assert live_a.slot(SLOT_A)["DesiredCapacity"] == 0
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 2
    assert not _suspended(live_a, SLOT_A) and not _suspended(live_a, SLOT_B)
    # And the report is a release's: outcome, the switch, the deployment's console page
    summary = json.loads((tmp_path / "followed" / "release-summary.json").read_text())
    assert summary["outcome"] == "released" and summary["slots"]["liveAfter"] == SLOT_B
    assert summary["deployment"]["id"] == deployment_id
    assert deployment_id in summary["links"]["deployment"]
    assert f"{SLOT_A} -> {SLOT_B}" in out


def test_status_follow_of_a_failed_unwatched_release_exits_1_and_empties_the_failed_slot(
    live_a: World, tmp_path: Path
) -> None:
    # Given a --no-wait release whose deployment fails and is rolled back by CodeDeploy
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.failure_at_after_install())
    _release_no_wait(live_a, tmp_path, codedeploy)
    # When following it
    code = _follow(live_a, tmp_path, codedeploy)
    # Then it exits 1 naming the failure, traffic stays on A, B is emptied and the processes are resumed
    summary = json.loads((tmp_path / "followed" / "release-summary.json").read_text())
    assert code == ExitCode.DEPLOYMENT_FAILED
    assert codedeploy.listed == [SLOT_A]
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 0
    assert live_a.slot(SLOT_A)["DesiredCapacity"] == 2
    assert not _suspended(live_a, SLOT_A) and not _suspended(live_a, SLOT_B)
    assert any("AfterInstall failed" in line for line in summary["failure"])
    # And the rollback CodeDeploy ran was followed to its end, with its own console page
    assert summary["rollback"]["status"] == "Succeeded"
    assert summary["rollback"]["id"] in summary["links"]["rollback"]


def test_status_follow_that_times_out_leaves_the_deployment_running(live_a: World, tmp_path: Path) -> None:
    # Given an unwatched deployment that does not end
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.never_ending())
    _release_no_wait(live_a, tmp_path, codedeploy)
    # When following it for a minute
    code = _follow(live_a, tmp_path, codedeploy, "--timeout", "1m")
    # Then it exits 3, and it neither stopped the deployment nor touched a slot
    assert code == ExitCode.TIMED_OUT
    assert codedeploy.called("stop_deployment") == []
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 2
    assert _suspended(live_a, SLOT_B)


def test_status_follow_of_a_deployment_of_another_group_is_refused(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment id of another deployment group
    codedeploy = live_a.codedeploy(SLOT_A)
    other = codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A)
    codedeploy.deployments[other]["deploymentGroupName"] = "another-group"
    # When following it, Then it exits 2 naming both groups
    assert _follow(live_a, tmp_path, codedeploy, "--deployment-id", other) == ExitCode.BAD_INPUT
    assert "another-group" in capsys.readouterr().err


def test_status_follow_with_nothing_to_follow_exits_2(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a group that never had a deployment, When following, Then exit 2 with what to do
    assert _follow(live_a, tmp_path, live_a.codedeploy(SLOT_A)) == ExitCode.BAD_INPUT
    assert "no deployment to follow" in capsys.readouterr().err


def test_deployment_id_without_follow_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--deployment-id", "d-1"], env={}) == ExitCode.BAD_INPUT
    assert "--follow" in capsys.readouterr().err


def test_the_next_release_finishes_an_unwatched_success_before_its_own(live_a: World, tmp_path: Path) -> None:
    # Given a --no-wait release onto B whose deployment then succeeded with nobody watching
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.success())
    _release_no_wait(live_a, tmp_path, codedeploy)
    (first,) = codedeploy.created
    while codedeploy.deployments[first]["status"] != "Succeeded":
        codedeploy.get_deployment(deploymentId=first)
    # When the next release runs (and waits)
    argv = ["release", "--app-dir", str(live_a.app_dir), "--report-dir", str(tmp_path / "next"), "--plain"]
    code = cli.main(argv, env={}, clients=_clients(live_a, codedeploy), runtime=live_a.runtime())
    # Then it first took B as live (the unwatched switch finished) and released onto A, ending with B emptied
    # and A live, no process suspended
    summary = json.loads((tmp_path / "next" / "release-summary.json").read_text())
    assert code == ExitCode.RELEASED
    assert codedeploy.called("create_deployment")[-1]["targetInstances"] == {"autoScalingGroups": [SLOT_A]}
    assert any(first in note for note in summary["recovered"])
    assert codedeploy.listed == [SLOT_A]
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 0
    assert not _suspended(live_a, SLOT_A) and not _suspended(live_a, SLOT_B)


def test_ctrl_c_while_following_ends_the_watch_with_4_and_the_deployment_runs_on(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an unwatched deployment that does not end, followed by an operator
    codedeploy = live_a.codedeploy(SLOT_A, scenarios.never_ending())
    _release_no_wait(live_a, tmp_path, codedeploy)
    runtime = live_a.runtime()
    # When Ctrl-C arrives while following
    live_a.clock.on_sleep = lambda count: runtime.stop.request("SIGINT") if count == 3 else None
    argv = ["status", "--follow", "--plain", "--report-dir", str(tmp_path / "followed")]
    code = cli.main(argv, env={}, clients=_clients(live_a, codedeploy), runtime=runtime)
    # Then it exits 4 saying the deployment still runs and how to stop it; nothing was stopped or scaled
    out = capsys.readouterr().out
    assert code == ExitCode.CANCELLED
    assert "still runs (it was not stopped)" in out and "deploy.py stop" in out
    assert codedeploy.called("stop_deployment") == []
    assert live_a.slot(SLOT_B)["DesiredCapacity"] == 2


def test_status_follow_of_an_old_succeeded_deployment_that_is_not_the_latest_is_refused(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given A live after a later deployment, and an old deployment onto B that succeeded before it
    codedeploy = live_a.codedeploy(SLOT_A)
    old = codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, minutes_ago=120)
    codedeploy.deployments[old]["completeTime"] = codedeploy.deployments[old]["createTime"]
    latest = codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A, minutes_ago=60)
    # When following the old one
    code = _follow(live_a, tmp_path, codedeploy, "--deployment-id", old)
    # Then it exits 2 naming it and the latest, with no traceback, and nothing changed: the group still lists A
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert f"deployment {old} ended at " in err and f"is not the group's latest ({latest}); nothing to follow" in err
    assert "What to do" in err and "Traceback" not in err
    assert codedeploy.listed == [SLOT_A]
    assert live_a.slot(SLOT_A)["DesiredCapacity"] == 2


@pytest.mark.parametrize("given_id", [False, True])
def test_status_follow_with_nothing_in_flight_and_the_group_converged_reports_no_switch(
    live_a: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], given_id: bool
) -> None:
    # Given A live and the group's latest deployment, onto A, succeeded and finished long ago (B empty)
    codedeploy = live_a.codedeploy(SLOT_A)
    latest = codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A, minutes_ago=60)
    # When following (the latest by default, or by its id)
    code = _follow(live_a, tmp_path, codedeploy, *(["--deployment-id", latest] if given_id else []))
    # Then it exits 0 saying nothing is to finish, reports no switch and changes nothing
    out = capsys.readouterr().out
    assert code == ExitCode.RELEASED
    assert f"nothing in flight; {SLOT_A} is live, nothing to finish" in out
    assert "->" not in out
    assert codedeploy.listed == [SLOT_A] and codedeploy.called("update_deployment_group") == []
    assert live_a.slot(SLOT_A)["DesiredCapacity"] == 2
