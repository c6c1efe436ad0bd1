"""The release tool's runtime paths a hostile review found broken: a report directory that cannot be written, scaling
processes resumed while a deployment may still run, waits after a stop that outlast --cleanup-timeout, S3 out of
reach, absurd durations, unexpected errors after CreateDeployment, `status` flags, and the words of the summary and
the hints.

Offline: moto for S3 and Auto Scaling, the scripted CodeDeploy of `fakes`, and a closed local port for "no network".
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from release import cli, orchestrate, report
from release.errors import AwsUnavailable, ExitCode, InputError, UploadError
from release.record import ReleaseRecord
from release.timeout import MAX_DURATION_SECONDS, parse_duration
from release.upload import check_bucket

from tests.release import scenarios
from tests.release.fakes import T0, FakeCodeDeploy, client_error
from tests.release.support import BUCKET, SLOT_A, SLOT_B, World
from tests.release.test_cli import _clients, _stack
from tests.release.test_faults import Faulty, assert_converged, finish_unwatched, release

# A local port nothing listens on: every connection is refused at once, as with no network at all.
CLOSED_ENDPOINT = "http://127.0.0.1:9"


def _suspended(world: World, slot: str) -> set[str]:
    return {item["ProcessName"] for item in world.slot(slot).get("SuspendedProcesses", [])}


def _live_a(world: World, script: Any = None) -> FakeCodeDeploy:
    world.scale(SLOT_A, 2)
    return world.codedeploy(SLOT_A, script or scenarios.success())


def _cli_release(world: World, codedeploy: FakeCodeDeploy, report_dir: Path, *extra: str) -> int:
    argv = ["release", "--app-dir", str(world.app_dir), "--report-dir", str(report_dir), "--plain", *extra]
    return cli.main(argv, env={}, clients=_clients(world, codedeploy), runtime=world.runtime())


def _unwritable(tmp_path: Path) -> Path:
    """A directory path nobody can create, whoever runs the tests (root included): its parent is a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    return blocker / "reports"


# --- 1. the report directory ----------------------------------------------------------------------------------------


def test_an_unwritable_report_dir_is_refused_before_any_deployment_is_created(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack, slot A live, and a report directory that cannot be created
    _stack(world)
    codedeploy = _live_a(world)
    # When releasing with --no-wait into it
    code = _cli_release(world, codedeploy, _unwritable(tmp_path), "--no-wait")
    # Then it exits 2 naming the directory, and nothing was touched: no deployment, no instance, no upload
    assert code == ExitCode.BAD_INPUT
    assert "--report-dir" in capsys.readouterr().err
    assert codedeploy.created == []
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0
    assert world.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_a_report_dir_lost_during_the_release_costs_the_files_but_not_the_outcome(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a successful deployment, and the report directory replaced by a file while the release runs
    _stack(world)
    codedeploy = _live_a(world)
    report_dir = tmp_path / "reports"

    def lose_the_directory(count: int) -> None:
        if count == 1:
            shutil.rmtree(report_dir)
            report_dir.write_text("now a file\n")

    world.clock.on_sleep = lose_the_directory
    # When releasing
    code = _cli_release(world, codedeploy, report_dir)
    # Then the release's own outcome stands (exit 0, released), with a note that the files could not be written
    out = capsys.readouterr().out
    assert code == ExitCode.RELEASED
    assert "released" in out
    assert f"the report files could not be written to {report_dir}" in out
    assert codedeploy.listed == [SLOT_B]


def test_the_rehearsal_refuses_an_unwritable_report_dir_before_making_its_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a temporary directory to watch for sandboxes, a revision, and a report directory that cannot be created
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    app = tmp_path / "app"
    app.mkdir()
    (app / "appspec.yml").write_text("version: 0.0\nos: linux\n")
    # When rehearsing with it
    code = cli.main(["rehearse", "--app-dir", str(app), "--report-dir", str(_unwritable(tmp_path))])
    # Then it exits 2 naming the directory, and no sandbox was made
    assert code == ExitCode.BAD_INPUT
    captured = capsys.readouterr()
    assert "--report-dir" in captured.out + captured.err
    assert list(temporary.iterdir()) == []


# --- 2. scaling processes while the deployment may run ----------------------------------------------------------------


def test_a_follow_that_aws_keeps_failing_leaves_processes_suspended_and_says_who_resumes_them(world: World) -> None:
    # Given a deployment that runs on, and BatchGetDeploymentTargets refused from the first poll on
    codedeploy = _live_a(world, scenarios.never_ending())
    faulty = Faulty(codedeploy).fail("batch_get_deployment_targets", code="AccessDeniedException")
    # When releasing
    record, _ = release(world, faulty)
    # Then it exits 8 saying the deployment may still run, and the processes stay suspended on both slots
    assert record.exit_code == ExitCode.AWS_UNAVAILABLE
    assert "may still be running" in record.error.message
    assert _suspended(world, SLOT_A) and _suspended(world, SLOT_B)
    assert world.slot(SLOT_B)["DesiredCapacity"] == 2
    # And the message says so, and who resumes them once it has ended
    assert "stay suspended on" in record.error.hint and "finisher" in record.error.hint
    # When CodeDeploy ends the deployment without the runner, and the next release runs with AWS answering again
    codedeploy.stop_deployment(deploymentId=record.deployment_id, autoRollbackEnabled=True)
    finish_unwatched(codedeploy)
    world.clock.current += timedelta(minutes=5)
    codedeploy.script = scenarios.success()
    again, _ = release(world, codedeploy)
    # Then that release resumes them and everything converges
    assert again.exit_code == ExitCode.RELEASED, again.error
    assert_converged(world, codedeploy, again)


def test_after_a_cancel_the_processes_stay_suspended_until_the_rollback_has_ended(world: World) -> None:
    # Given a deployment stopped by a cancel, whose rollback deployment runs for a few polls
    codedeploy = _live_a(world, scenarios.stopped_then_rolled_back(rollback_polls=3))
    runtime = world.runtime()
    world.clock.on_sleep = lambda n: runtime.stop.request("SIGINT") if n == 2 else None
    seen_during_rollback: list[set[str]] = []
    poll = codedeploy.get_deployment

    def watching(**params: Any) -> dict[str, Any]:
        answer = poll(**params)
        if answer["deploymentInfo"].get("creator") == "codeDeployRollback":
            seen_during_rollback.append(_suspended(world, SLOT_A) | _suspended(world, SLOT_B))
        return answer

    codedeploy.get_deployment = watching  # type: ignore[method-assign]
    # When releasing
    record, _ = release(world, codedeploy, runtime=runtime)
    # Then every poll of the rollback saw the processes still suspended
    assert record.exit_code == ExitCode.CANCELLED
    assert record.rollback_status == "Succeeded"
    assert seen_during_rollback and all(seen_during_rollback)
    # And once it had ended they were resumed and the idle slot emptied
    assert _suspended(world, SLOT_A) == _suspended(world, SLOT_B) == set()
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


# --- 3. waits after a stop ------------------------------------------------------------------------------------------


def test_every_wait_after_a_cancel_ends_within_the_cleanup_timeout(world: World) -> None:
    # Given a deployment that CodeDeploy never names a rollback for, a 5 s cleanup timeout and a cancel
    codedeploy = _live_a(world, scenarios.never_ending())
    runtime = world.runtime()
    cancelled_at: list[Any] = []

    def cancel(count: int) -> None:
        if count == 2:
            runtime.stop.request("SIGINT")
            cancelled_at.append(world.clock.now())

    world.clock.on_sleep = cancel
    # When releasing
    record, output = release(world, codedeploy, runtime=runtime, cleanup_timeout_seconds=5.0)
    # Then the run ended within the cleanup timeout of the cancel (plus one poll at most), not a minute later
    assert record.exit_code == ExitCode.CANCELLED
    after_cancel = (world.clock.now() - cancelled_at[0]).total_seconds()
    assert after_cancel <= 5.0 + orchestrate.ROLLBACK_ID_POLL_SECONDS
    # And, with no word on a rollback, the processes stay suspended and the run says so
    assert _suspended(world, SLOT_A) and _suspended(world, SLOT_B)
    assert "may still be running" in output


def test_a_second_signal_ends_the_wait_for_the_rollback_at_once(world: World) -> None:
    # Given a long cleanup timeout, a deployment never named a rollback, a cancel and then a second signal
    codedeploy = _live_a(world, scenarios.never_ending())
    runtime = world.runtime()

    def signals(count: int) -> None:
        # The cancel at the second sleep; the second signal at the first sleep after StopDeployment.
        if count == 2 or (codedeploy.called("stop_deployment") and runtime.stop.count == 1):
            runtime.stop.request("SIGINT")

    world.clock.on_sleep = signals
    # When releasing
    started = world.clock.now()
    record, _ = release(world, codedeploy, runtime=runtime, cleanup_timeout_seconds=600.0)
    # Then the second signal ended the cleanup: far less than the cleanup timeout passed
    assert record.exit_code == ExitCode.CANCELLED
    assert runtime.stop.count >= 2
    assert (world.clock.now() - started).total_seconds() < 600.0


# --- 4. S3 out of reach ---------------------------------------------------------------------------------------------


def _s3_without_network() -> Any:
    return boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=CLOSED_ENDPOINT,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=2),
    )


def test_an_artifact_bucket_s3_cannot_be_reached_for_is_aws_unavailable_not_bad_input() -> None:
    # Given S3 out of reach (connections refused)
    # When the pre-flight checks the bucket
    with pytest.raises(AwsUnavailable) as raised:
        check_bucket(_s3_without_network(), "b")
    # Then it is exit 8, naming the bucket
    assert raised.value.exit_code == ExitCode.AWS_UNAVAILABLE
    assert "'b'" in raised.value.message


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("404", 404, UploadError),
        ("403", 403, UploadError),
        ("InternalError", 500, AwsUnavailable),
        ("ExpiredToken", 400, AwsUnavailable),
    ],
)
def test_a_bucket_missing_or_not_ours_is_bad_input_and_s3_failing_is_aws_unavailable(
    code: str, status: int, expected: type[Exception]
) -> None:
    # Given HeadBucket answering with this error
    class S3:
        def head_bucket(self, **_params: Any) -> None:
            error = client_error(code, "HeadBucket")
            error.response["ResponseMetadata"] = {"HTTPStatusCode": status}
            raise error

    # When the pre-flight checks the bucket
    # Then a missing or foreign bucket is bad input (2), S3 failing or refusing the credentials is exit 8
    with pytest.raises(expected):
        check_bucket(S3(), "b")


def test_a_release_without_network_exits_8_naming_the_region_it_used(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given every AWS endpoint out of reach and explicit targets (nothing read from a stack)
    monkeypatch.setenv("AWS_ENDPOINT_URL", CLOSED_ENDPOINT)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    argv = ["release", "--app-dir", str(world.app_dir), "--bucket", "b", "--application", "a"]
    argv += ["--deployment-group", "g", "--slots", "A,B", "--region", "eu-west-1", "--max-attempts", "1"]
    argv += ["--report-dir", str(world.app_dir.parent / "reports"), "--plain"]
    # When releasing
    code = cli.main(argv, env={})
    # Then it exits 8 (AWS unavailable), and the hint names the region actually used
    printed = capsys.readouterr()
    output = printed.out + printed.err
    assert code == ExitCode.AWS_UNAVAILABLE, output
    assert "Could not reach S3" in output
    assert "region eu-west-1" in output and "(none set)" not in output


# --- 5. absurd durations, unexpected errors -------------------------------------------------------------------------


def test_durations_up_to_seven_days_are_taken_and_longer_ones_refused() -> None:
    # When a duration of exactly the maximum is given, Then it is taken
    assert parse_duration("168h", "--timeout") == MAX_DURATION_SECONDS
    # When it is one second longer, or absurdly long, Then it is refused as bad input naming the maximum
    for text in ("168h1s", "99999999999999999999h"):
        with pytest.raises(InputError) as raised:
            parse_duration(text, "--timeout")
        assert "7 days" in raised.value.message


def test_a_huge_timeout_is_refused_before_anything_is_created(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack and slot A live
    _stack(world)
    codedeploy = _live_a(world)
    # When releasing with an absurd timeout
    code = _cli_release(world, codedeploy, tmp_path / "reports", "--timeout", "99999999999999999999h")
    # Then it exits 2 in one line, before any deployment
    assert code == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.startswith("--timeout '99999999999999999999h' is longer than")
    assert codedeploy.created == []


def test_an_unexpected_error_after_create_deployment_stops_it_and_names_it(world: World) -> None:
    # Given a deployment that would run on, and a bug striking while it is followed
    codedeploy = _live_a(world, scenarios.never_ending())
    poll = codedeploy.get_deployment

    def buggy(**params: Any) -> dict[str, Any]:
        if params["deploymentId"] in codedeploy.created:
            raise KeyError("a field the tool did not expect")
        return poll(**params)

    codedeploy.get_deployment = buggy  # type: ignore[method-assign]
    # When releasing
    record, _ = release(world, codedeploy)
    # Then it is exit 1 (not a traceback), the deployment was stopped with rollback, and the message names it
    (deployment_id,) = codedeploy.created
    assert record.exit_code == ExitCode.DEPLOYMENT_FAILED
    assert codedeploy.called("stop_deployment") == [{"deploymentId": deployment_id, "autoRollbackEnabled": True}]
    assert deployment_id in record.error.message and "stopped with rollback" in record.error.message
    assert f"--deployment-id {deployment_id}" in record.error.hint


# --- 6. status flags ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["status", "--follow", "--json"], "--json is not used with --follow"),
        (["status", "--timeout", "3s"], "--timeout is only used with --follow"),
    ],
)
def test_status_flags_that_would_be_ignored_are_refused_in_one_line(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When status is given a flag it would not use
    code = cli.main(argv, env={})
    # Then it exits 2 with one line saying so (and its hint), reading nothing
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert err.startswith(words)


def test_following_a_deployment_id_codedeploy_does_not_know_is_bad_input(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack and its group
    _stack(world)
    codedeploy = _live_a(world)
    # When following a deployment id that does not exist
    argv = ["status", "--follow", "--deployment-id", "nope", "--plain", "--report-dir", str(tmp_path / "r")]
    code = cli.main(argv, env={}, clients=_clients(world, codedeploy), runtime=world.runtime())
    # Then it exits 2 saying there is no such deployment in this group
    assert code == ExitCode.BAD_INPUT
    assert "no deployment nope in this group" in capsys.readouterr().err


# --- 7. words -------------------------------------------------------------------------------------------------------


def test_the_summary_of_a_run_that_stopped_early_prints_only_what_is_known() -> None:
    # Given a run that hashed its revision and stopped before the upload and before it knew the live slot
    record = ReleaseRecord(command="release", started=T0, application="app", deployment_group="group")
    record.bundle_sha256, record.bundle_files = "c0ffee", 10
    record.error = InputError("stopped in pre-flight")
    # When the summary is written
    text = report.summary_text(record)
    # Then it gives the file count without an unknown size, and no live slot it never knew
    assert "c0ffee (10 files)" in text and "None" not in text
    assert "slots            -\n" in text


@pytest.mark.parametrize(
    ("argv0", "executable", "expected"),
    [
        ("scripts/deploy.py", "/work/project/.venv/bin/python", ".venv/bin/python scripts/deploy.py"),
        ("/work/project/scripts/deploy.py", "/usr/bin/python3", "/usr/bin/python3 scripts/deploy.py"),
        ("/work/project/.venv/bin/bluegreen-release", "/work/project/.venv/bin/python", "bluegreen-release"),
    ],
)
def test_hints_name_the_tool_as_the_user_ran_it(argv0: str, executable: str, expected: str) -> None:
    # Given how the tool was started, from the project's folder
    invoked = cli.invoked_command(argv0, executable, Path("/work/project"))
    # When a hint naming the documented command is written at the edge
    hint = cli.as_invoked("`python scripts/deploy.py status` shows it", invoked)
    # Then it names the command that runs the tool again
    assert invoked == expected
    assert hint == f"`{expected} status` shows it"


def test_an_error_printed_by_the_cli_names_the_interpreter_and_the_region_it_ran_with(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the tool run from the project's venv with fake credentials, and AWS out of reach
    monkeypatch.setattr("sys.argv", ["scripts/deploy.py"])
    monkeypatch.setattr("sys.executable", str(Path.cwd() / ".venv" / "bin" / "python"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", CLOSED_ENDPOINT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    argv = ["stop", "--bucket", "b", "--application", "a", "--deployment-group", "g", "--slots", "A,B"]
    argv += ["--region", "eu-west-1", "--max-attempts", "1"]
    # When `stop` fails to reach AWS
    code = cli.main(argv, env={})
    # Then it exits 8; the hint names the region given and the command that works from here, never a bare `python`
    err = capsys.readouterr().err
    assert code == ExitCode.AWS_UNAVAILABLE, err
    assert "region eu-west-1" in err and "(none set)" not in err
    assert "`.venv/bin/python scripts/deploy.py status`" in err
    assert "`python scripts/deploy.py" not in err


def test_the_runs_notes_name_the_tool_as_the_user_ran_it(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the tool run as the console script, and a release that succeeds
    monkeypatch.setattr("sys.argv", ["/opt/venv/bin/bluegreen-release"])
    _stack(world)
    codedeploy = _live_a(world)
    views: list[Any] = []
    original = cli.make_view

    def keeping_the_view(*args: Any, **kwargs: Any) -> Any:
        views.append(original(*args, **kwargs))
        return views[-1]

    monkeypatch.setattr(cli, "make_view", keeping_the_view)
    # When releasing, and the run's view then writes a note naming the documented command
    _cli_release(world, codedeploy, tmp_path / "reports")
    capsys.readouterr()
    views[0].note("run `python scripts/deploy.py promote` now")
    # Then the note names the console script
    assert "run `bluegreen-release promote` now" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("90m", 5400), ("2h", 7200), ("1h30m", 5400), ("1m30s", 90), ("1h0m59s", 3659)],
)
def test_the_documented_duration_forms_are_taken(text: str, seconds: int) -> None:
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["1h30", "1m30", "2h5", "30m90s", "1h60m", "1h0m60s", "s", "h", "1s30m", "1.5h"])
def test_a_duration_with_a_number_without_its_unit_or_a_part_of_60_after_a_larger_unit_is_refused(
    text: str,
) -> None:
    # When a duration leaves a number's unit to guess, or writes 90 seconds after the minutes
    with pytest.raises(InputError) as raised:
        parse_duration(text, "--timeout")
    # Then it is bad input naming the text and the forms to write
    assert f"--timeout {text!r} is not a duration" in raised.value.message
    assert "1h30m" in raised.value.message
