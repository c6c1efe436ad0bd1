"""The on-instance wait, run here with `sh` as the SSM agent runs it, against checks whose answers a file scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from drain import wait_script

pytestmark = pytest.mark.slow


def run(command: str, bound_seconds: float) -> subprocess.CompletedProcess[str]:
    script = wait_script.render(command, bound_seconds)
    return subprocess.run(["sh", "-c", script], check=False, capture_output=True, text=True, timeout=30)


def counting_down(tmp_path: Path, *answers: str) -> str:
    """A check that prints the next of `answers` each time it runs, then the last one forever."""
    (tmp_path / "answers").write_text("\n".join(answers) + "\n")
    (tmp_path / "n").write_text("0")
    return (
        f"n=$(cat {tmp_path}/n); echo $((n + 1)) > {tmp_path}/n; "
        f'sed -n "$((n + 1))p" {tmp_path}/answers | grep . || tail -n 1 {tmp_path}/answers'
    )


def test_the_wait_ends_after_two_zero_checks_in_a_row(tmp_path: Path) -> None:
    # Given requests in flight that end, with one zero between two busy checks (a keep-alive gap)
    command = counting_down(tmp_path, "3", "0", "1", "0", "0")

    # When the wait runs on the instance
    result = run(command, bound_seconds=20)

    # Then it reports drained on the second zero in a row, not on the first zero
    assert result.returncode == 0, result.stderr
    wait = wait_script.parse(result.stdout)
    assert (wait.drained, wait.in_flight, wait.checks) == (True, 0, 5)


def test_the_wait_ends_at_its_bound_with_the_last_count(tmp_path: Path) -> None:
    # Given a request that never ends
    command = counting_down(tmp_path, "1")

    # When the wait runs with a short bound, Then it ends at the bound and says what was left
    result = run(command, bound_seconds=0.3)
    wait = wait_script.parse(result.stdout)
    assert (wait.drained, wait.in_flight) == (False, 1)
    assert wait.instance_seconds >= 0.3


@pytest.mark.parametrize(
    ("command", "reason"),
    [("exit 7", "failed with exit code 7"), ("echo busy", "printed 'busy', not a number"), ("true", "printed ''")],
)
def test_a_broken_check_ends_the_wait_at_once_with_the_reason(command: str, reason: str) -> None:
    # Given a check that fails or prints no number, When the wait runs, Then it stops at once and says why
    result = run(command, bound_seconds=20)
    assert result.returncode == wait_script.CHECK_FAILED_EXIT_CODE
    assert reason in result.stderr


def test_the_check_runs_as_written_quotes_braces_and_pipes_included() -> None:
    # Given a check full of shell syntax (the former default, and an awk program with braces)
    command = "printf 'a b\\n' | awk '{ print 0 }'"

    # When the wait runs it, Then the check's own quoting is intact
    result = run(command, bound_seconds=20)
    assert wait_script.parse(result.stdout).drained


def test_the_last_non_empty_line_of_the_check_is_the_count() -> None:
    result = run("printf 'in flight:\\n 0 \\n\\n'", bound_seconds=20)
    assert wait_script.parse(result.stdout).drained


def test_a_check_containing_the_end_marker_line_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        wait_script.render("cat <<EOF\nDRAIN_IN_FLIGHT_CHECK\nEOF", 10)


def test_output_without_a_result_line_cannot_be_parsed() -> None:
    with pytest.raises(ValueError, match="no 'drain-wait:' result line"):
        wait_script.parse("Killed\n")
