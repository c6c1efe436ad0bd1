"""The final screen of a whole release through `main`: one outcome, stated once, consistent with the exit code."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import pyte
import pytest
from release import cli
from release.errors import ExitCode
from release.runtime import Runtime

from tests.release import scenarios
from tests.release.fakes import Script
from tests.release.support import SLOT_A, World
from tests.release.test_cli import _clients, _release_argv, _stack


def _run(world: World, tmp_path: Path, script: Script, *extra: str, env: dict[str, str] | None = None) -> int:
    _stack(world)
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, script)
    return cli.main(
        [*(arg for arg in _release_argv(world, tmp_path) if arg != "--plain"), *extra],
        env=env or {},
        clients=_clients(world, codedeploy),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )


def _shown(output: str, columns: int = 100) -> list[str]:
    """The lines a terminal shows once `output` is played (cursor movements and erasures applied)."""
    screen = pyte.HistoryScreen(columns, 400, history=2000)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [line.rstrip() for line in screen.display if line.strip()]


def test_after_a_failure_the_rollbacks_success_is_never_shown_as_the_deployments(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment that fails at AfterInstall, which CodeDeploy rolls back successfully, on a live terminal
    code = _run(world, tmp_path, scenarios.failure_at_after_install(), "--live")
    shown = _shown(capsys.readouterr().out)
    # Then no status line reads as if the deployment had succeeded: the rollback is named as one
    assert code == ExitCode.DEPLOYMENT_FAILED
    assert not [line for line in shown if line.startswith("deployment d-000000002")]
    header = shown.index("== release deployment failed (exit 1) ==")
    # and the live table (its header counts the elapsed time) is gone: above the summary are only the log lines
    assert [line for line in shown[:header] if "elapsed" in line] == []
    assert any(line.endswith("Z  rollback deployment d-000000002: Succeeded") for line in shown[:header])


def test_the_summary_gives_the_rollbacks_final_status_not_its_stale_message(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a failed release whose rollback CodeDeploy reported "Rollback in progress" before it succeeded
    _run(world, tmp_path, scenarios.failure_at_after_install())
    out = capsys.readouterr().out
    # Then the summary reads the rollback's outcome alone
    assert "rollback         d-000000002 Succeeded\n" in out
    assert "Rollback in progress" not in out


def test_each_failure_line_is_printed_once(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a failed release, in plain CI output
    _run(world, tmp_path, scenarios.failure_at_after_install(), env={"CI": "true"})
    out = capsys.readouterr().out
    # Then each diagnostic appears exactly once, in the summary's failure block
    for line in (
        "deployment error HOOK_EXECUTION_FAILURE",
        "Green instance i-0green000000000001: AfterInstall failed",
        "errorCode:  ScriptFailed",
        "scriptName: scripts/after_install.sh",
        "[stderr]config.json: missing key 'port'",
    ):
        assert out.count(line) == 1, line
    # and the progress said where it failed, pointing at the summary
    assert "deployment d-000000001 failed: Green i-0green000000000001 AfterInstall (ScriptFailed)" in out


ENDINGS = {
    "released": (scenarios.success, (), ExitCode.RELEASED),
    "deployment failed": (scenarios.failure_at_after_install, (), ExitCode.DEPLOYMENT_FAILED),
    "timed out": (scenarios.never_ending, ("--timeout", "60"), ExitCode.TIMED_OUT),
}


@pytest.mark.parametrize("outcome", ENDINGS)
def test_the_final_screen_states_one_outcome_once_matching_the_exit_code(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], outcome: str
) -> None:
    # Given a release that ends in each way
    script, extra, code = ENDINGS[outcome]
    exit_code = _run(world, tmp_path, script(), *extra)
    out = capsys.readouterr().out
    # Then exactly one outcome header is printed, and it is the exit code's
    headers = [line for line in out.splitlines() if line.startswith("== ")]
    assert exit_code == code
    assert headers == [f"== release {outcome} (exit {int(code)}) =="]


def test_a_long_deployment_in_ci_prints_its_deadline_and_the_models_figure_at_least_every_30_seconds(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment that never ends, a 3-minute deployment timeout, in CI
    code = _run(world, tmp_path, scenarios.never_ending(), "--timeout", "180", env={"CI": "true"})
    out = capsys.readouterr().out
    # Then while it ran, lines came at least every 30 s, each progress line naming the running phase against the
    # model and the deployment's deadline (created at 12:00:00Z + 180 s)
    during = [line for line in out.splitlines() if line.startswith("2026-") and "still running:" in line]
    assert code == ExitCode.TIMED_OUT
    assert len(during) >= 5
    assert all("deployment " in line and ", model ~" in line and "deadline 12:03:00Z" in line for line in during)
    stamps = [datetime.strptime(line[:20], "%Y-%m-%dT%H:%M:%SZ") for line in out.splitlines() if line[:4] == "2026"]
    assert max((b - a).total_seconds() for a, b in itertools.pairwise(stamps)) <= 30
