"""`rehearse`: the sample revision passes; broken revisions fail with the right message and leave nothing behind."""

from __future__ import annotations

import argparse
import io
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from release import cli
from release.rehearse import (
    HealthCheckSettings,
    RehearsalOptions,
    RehearsalResult,
    configure_parser,
    format_report,
    hooks,
    lifecycle,
    options_from_args,
    rehearse,
    run_from_args,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE_APP = REPO / "sample-app"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def options_for(app_dir: Path, **overrides: object) -> RehearsalOptions:
    """Fast settings: probes every 0.2 s, a short AllowTraffic bound, a one-second request in flight at SIGTERM."""
    settings = HealthCheckSettings(
        path="/health",
        port=free_port(),
        matcher="200",
        interval_seconds=0.2,
        timeout_seconds=0.15,
        healthy_threshold=2,
    )
    values: dict[str, object] = {
        "app_dir": app_dir,
        "health_check": settings,
        "healthy_within_seconds": 3.0,
        "shutdown_path": "/slow?ms=1000",
        "shutdown_requests": 6,
        "stop_timeout_seconds": 10.0,
    }
    values.update(overrides)
    return RehearsalOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
def revision(tmp_path: Path) -> Path:
    """A private copy of the sample revision, to break one thing in."""
    copy = tmp_path / "revision"
    shutil.copytree(SAMPLE_APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def write_script(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + body)
    path.chmod(0o755)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def processes_marked(rehearsal_id: str) -> list[int]:
    """Live (non-zombie) processes carrying the rehearsal's REHEARSAL_ID: an independent look at /proc."""
    marker = f"REHEARSAL_ID={rehearsal_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ and state != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_nothing_left(result: RehearsalResult) -> None:
    assert result.rehearsal_id
    assert processes_marked(result.rehearsal_id) == []


def status_of(result: RehearsalResult) -> dict[str, str]:
    return {event.event: event.status for event in result.events}


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        str(path.relative_to(directory)): (path.stat().st_mode, path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# ---------------------------------------------------------------------------------------------------------------------
# The sample revision
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_sample_revision_passes_the_whole_lifecycle(tmp_path: Path) -> None:
    before = snapshot(SAMPLE_APP)
    options = options_for(SAMPLE_APP, report_dir=tmp_path / "report", keep_sandbox=True)

    result = rehearse(options)

    try:
        assert result.exit_code == 0, format_report(result)
        assert status_of(result) == {
            "ApplicationStop": "Skipped",
            "DownloadBundle": "Succeeded",
            "BeforeInstall": "Succeeded",
            "Install": "Succeeded",
            "AfterInstall": "Succeeded",
            "ApplicationStart": "Succeeded",
            "ValidateService": "Succeeded",
            "BeforeAllowTraffic": "Skipped",
            "AllowTraffic": "Succeeded",
            "AfterAllowTraffic": "Skipped",
            "BeforeBlockTraffic": "Skipped",
            "BlockTraffic": "Skipped",
            "AfterBlockTraffic": "Skipped",
            "Shutdown (SIGTERM)": "Succeeded",
        }
        assert result.health is not None and result.health.healthy
        assert len(result.health.probes) >= 2 and all(probe.ok for probe in result.health.probes[-2:])
        # The report times AllowTraffic from the first passing probe (F85), not from the healthy threshold's last one
        first = result.health.seconds_to_first_pass
        assert first is not None and first < (result.health.seconds_to_healthy or 0)
        assert f"at its first passing probe, {first:.2f} s after registration" in format_report(result)
        assert result.shutdown is not None
        assert (result.shutdown.sent, result.shutdown.in_flight_at_sigterm, result.shutdown.lost) == (6, 6, 0)

        assert result.sandbox is not None
        installed = result.sandbox / "root" / "opt" / "sample-app"
        assert stat.S_IMODE((installed / "app" / "server.py").stat().st_mode) == 0o644
        assert stat.S_IMODE((installed / "app").stat().st_mode) == 0o755
        assert '"deployment_id": "d-REHEARSAL"' in (installed / "REVISION").read_text()

        started = re.search(r"the app started \(pid (\d+)\)", (tmp_path / "report" / "scripts.log").read_text())
        assert started is not None and not alive(int(started.group(1)))
        assert_nothing_left(result)
        assert snapshot(SAMPLE_APP) == before, "the rehearsal must not write into the revision"
    finally:
        if result.sandbox is not None:
            shutil.rmtree(result.sandbox)


@pytest.mark.slow
def test_the_report_dir_gets_a_json_summary_and_the_timeline(tmp_path: Path) -> None:
    progress = io.StringIO()

    result = rehearse(options_for(SAMPLE_APP, report_dir=tmp_path / "report"), out=progress)

    summary = (tmp_path / "report" / "rehearsal.json").read_text()
    svg = ET.fromstring((tmp_path / "report" / "rehearsal-timeline.svg").read_text())
    spans = [rect for rect in svg.iter("{http://www.w3.org/2000/svg}rect") if rect.get("class") == "span"]
    assert result.ok
    assert '"lost": 0' in summary
    assert len(spans) == len(result.events)
    sandbox = re.search(r"in sandbox (\S+)", progress.getvalue())
    assert sandbox is not None and not Path(sandbox.group(1)).exists(), "the sandbox is removed unless kept"


# ---------------------------------------------------------------------------------------------------------------------
# Broken revisions
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hook_that_exits_1_fails_its_event_with_the_log_tail(revision: Path) -> None:
    write_script(
        revision / "scripts" / "after_install.sh", "echo 'about to fail'\necho 'boom: disk full' >&2\nexit 1\n"
    )

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    assert result.failure is not None
    assert "AfterInstall failed" in result.failure
    assert "Script at specified location: scripts/after_install.sh failed with exit code 1" in result.failure
    assert "[stdout]about to fail" in result.log_tail
    assert "[stderr]boom: disk full" in result.log_tail
    assert status_of(result)["AfterInstall"] == "Failed"
    assert status_of(result)["ApplicationStart"] == "Pending"
    assert "boom: disk full" in format_report(result)
    assert_nothing_left(result)


@pytest.mark.slow
def test_a_hook_that_outlives_its_timeout_is_killed_with_everything_it_started(revision: Path) -> None:
    write_script(revision / "scripts" / "before_install.sh", "sleep 300 &\nsleep 300\n")
    edit(
        revision / "appspec.yml",
        "location: scripts/before_install.sh\n      timeout: 30",
        "location: scripts/before_install.sh\n      timeout: 1",
    )

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    assert result.failure is not None
    assert "scripts/before_install.sh failed to complete in 1 seconds" in result.failure
    assert next(event for event in result.events if event.event == "BeforeInstall").error_code == "ScriptTimedOut"
    assert_nothing_left(result)


@pytest.mark.slow
def test_a_background_process_holding_the_hook_output_hangs_the_event_as_on_the_agent(revision: Path) -> None:
    write_script(revision / "scripts" / "before_install.sh", "sleep 300 &\necho started\n")
    edit(
        revision / "appspec.yml",
        "location: scripts/before_install.sh\n      timeout: 30",
        "location: scripts/before_install.sh\n      timeout: 1",
    )

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    assert result.failure is not None
    assert "holds its stdout/stderr" in result.failure
    assert_nothing_left(result)


def test_a_missing_script_is_refused_by_the_appspec_validator_before_anything_runs(revision: Path) -> None:
    edit(revision / "appspec.yml", "scripts/after_install.sh", "scripts/after_instal.sh")

    result = rehearse(options_for(revision))

    assert result.exit_code == 2
    assert result.failure is not None
    assert "hooks.AfterInstall[0].location" in result.failure
    assert "'scripts/after_instal.sh' does not exist in the revision" in result.failure
    assert result.events == ()
    assert_nothing_left(result)


@pytest.mark.slow
def test_an_app_that_never_becomes_healthy_fails_allow_traffic(revision: Path) -> None:
    # No ValidateService, so the target group's probing is what notices; the app stays in its warm-up forever.
    edit(
        revision / "appspec.yml",
        "  ValidateService:\n    - location: scripts/validate_service.sh\n      timeout: 60\n",
        "",
    )
    edit(revision / "app" / "server.py", '"SAMPLE_APP_WARMUP_SECONDS", "0"', '"SAMPLE_APP_WARMUP_SECONDS", "3600"')

    result = rehearse(options_for(revision, healthy_within_seconds=1.0))

    assert result.exit_code == 1
    assert result.failure is not None
    assert "AllowTraffic failed: the target never became healthy" in result.failure
    assert "last probe: HTTP 503 (matcher 200)" in result.failure
    assert result.health is not None and not result.health.healthy
    assert status_of(result)["Shutdown (SIGTERM)"] == "Pending"
    assert_nothing_left(result)


@pytest.mark.slow
def test_an_app_whose_health_check_fails_after_its_first_pass_is_named_as_a_risk(revision: Path) -> None:
    # Given an app whose health check answers the probes pass, fail, then pass for good
    edit(
        revision / "app" / "server.py",
        '        if url.path == "/health":\n',
        '        if url.path == "/health" and self.headers.get("User-Agent", "").startswith("ELB-"):\n'
        '            app.probes = getattr(app, "probes", 0) + 1\n'
        '            self._send(503 if app.probes == 2 else 200, "text/plain", b"flap\\n")\n'
        '        elif url.path == "/health":\n',
    )
    # When rehearsing
    result = rehearse(options_for(revision))
    # Then it passes after two passes in a row, but a load balancer would have served it from the first probe (F85)
    # while it failed the second: the report says so
    assert result.exit_code == 0, format_report(result)
    assert result.health is not None and result.health.seconds_to_first_pass == result.health.probes[0].at_seconds
    assert [probe.ok for probe in result.health.probes] == [True, False, True, True]
    assert any("then failed 1 probe(s)" in risk and "HTTP 503" in risk for risk in result.risks)
    assert_nothing_left(result)


@pytest.mark.slow
def test_an_app_that_drops_requests_on_sigterm_fails_the_shutdown(revision: Path) -> None:
    # The default SIGTERM action: the process dies on the spot with requests in flight.
    edit(
        revision / "app" / "server.py",
        "signal.signal(signal.SIGTERM, on_signal)",
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)",
    )

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    assert result.failure is not None
    assert "6 of 6 requests in flight were lost after SIGTERM" in result.failure
    assert result.shutdown is not None and (result.shutdown.sent, result.shutdown.lost) == (6, 6)
    assert_nothing_left(result)


@pytest.mark.slow
def test_an_install_destination_redirected_out_of_the_sandbox_is_refused(revision: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write_script(
        revision / "scripts" / "before_install.sh",
        f'rmdir "$REHEARSAL_ROOT/opt"\nln -s "{outside}" "$REHEARSAL_ROOT/opt"\n',
    )

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    assert result.failure is not None
    assert "Install failed" in result.failure
    assert "outside the sandbox" in result.failure
    assert list(outside.iterdir()) == []


def test_an_interrupted_rehearsal_is_reported_cancelled_not_failed(
    revision: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a rehearsal interrupted (SIGINT arrives as KeyboardInterrupt) once the lifecycle has started
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "_lifecycle", interrupted)
    # When it ends
    result = rehearse(options_for(revision))
    # Then its verdict and report say CANCELLED with exit code 4
    assert (result.exit_code, result.verdict) == (4, "CANCELLED")
    assert "CANCELLED (exit code 4)" in format_report(result)


def test_the_rehearse_help_explains_its_exit_codes_in_its_own_terms(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the help of `deploy.py rehearse`, which deploys nothing
    with pytest.raises(SystemExit):
        cli.main(["rehearse", "--help"])
    text = capsys.readouterr().out
    block = text[text.index("exit codes:") :]
    # Then no code is explained by a deployment, a rollback or a slot
    for deployment_term in ("CodeDeploy", "rolled back", "rollback", "slot"):
        assert deployment_term not in block
    assert "4  CANCELLED" in block and "1  FAILED" in block


def test_a_port_already_in_use_is_bad_input(revision: Path) -> None:
    options = options_for(revision)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", options.health_check.port))
        busy.listen()

        result = rehearse(options)

    assert result.exit_code == 2
    assert result.failure is not None
    assert f"port {options.health_check.port} on 127.0.0.1 is already in use" in result.failure


# ---------------------------------------------------------------------------------------------------------------------
# Health-check matcher and command line
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "status", "expected"),
    [("200", 200, True), ("200", 204, False), ("200,204", 204, True), ("200-299", 299, True), ("200-299", 301, False)],
)
def test_the_matcher_accepts_codes_as_the_target_group_does(matcher: str, status: int, expected: bool) -> None:
    settings = HealthCheckSettings("/health", 8080, matcher, 5, 2, 2)

    assert settings.matches(status) is expected


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deploy.py rehearse")
    configure_parser(parser)
    return parser.parse_args(list(argv))


def test_help_says_the_rehearsal_never_writes_outside_its_sandbox() -> None:
    parser = argparse.ArgumentParser(prog="deploy.py rehearse")
    configure_parser(parser)

    text = " ".join(parser.format_help().split())

    assert "writes only inside a new temporary sandbox directory" in text
    assert "The revision directory is only read" in text


def test_a_health_check_timeout_not_below_the_interval_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    # The interval is within the target group's range (5..300), so the timeout rule is the one that fails.
    namespace = parse("--app-dir", str(SAMPLE_APP), "--health-check-interval", "5", "--health-check-timeout", "5")

    assert run_from_args(namespace) == 2
    assert "--health-check-timeout: 5 must be less than --health-check-interval" in capsys.readouterr().err


def test_a_healthy_threshold_of_one_is_bad_input_as_the_target_group_rejects_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = parse("--app-dir", str(SAMPLE_APP), "--healthy-threshold", "1")

    assert run_from_args(namespace) == 2
    assert "--healthy-threshold: 1 is out of range; allowed: 2..10" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--health-check-matcher", "600"), ("--health-check-path", "health"), ("--health-check-interval", "301")],
)
def test_a_health_check_the_target_group_would_refuse_is_bad_input_naming_the_flag(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = parse("--app-dir", str(SAMPLE_APP), flag, value)

    assert run_from_args(namespace) == 2
    assert f"{flag}: " in capsys.readouterr().err


def test_the_health_check_defaults_are_the_target_groups_settings_in_cdk_json() -> None:
    from bluegreen.config import load_cdk_json_config

    check = load_cdk_json_config().health_check

    options = options_from_args(parse("--app-dir", str(SAMPLE_APP)))

    assert options.health_check == HealthCheckSettings.of(check)


def test_the_deprecated_drain_flags_still_set_the_shutdown_options() -> None:
    options = options_from_args(
        parse("--app-dir", str(SAMPLE_APP), "--drain-path", "/slow?ms=5", "--drain-requests", "3")
    )

    assert (options.shutdown_path, options.shutdown_requests) == ("/slow?ms=5", 3)


def test_a_missing_app_dir_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = parse("--app-dir", str(tmp_path / "nope"), "--health-check-port", str(free_port()))

    assert run_from_args(namespace) == 2
    assert "is not a directory" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_during_a_hook_exits_4_and_leaves_no_process(
    revision: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    # A duration no other process on the machine uses, so the checks below see this rehearsal's processes only
    # (other rehearsals may run at the same time, e.g. a second test session).
    sleep = f"sleep 300.{os.getpid()}{int(time.time() * 1000) % 100000}"
    write_script(revision / "scripts" / "before_install.sh", f"{sleep} &\n{sleep}\n")
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import argparse, sys\n"
        "from release.rehearse import configure_parser, run_from_args\n"
        "parser = argparse.ArgumentParser()\n"
        "configure_parser(parser)\n"
        "sys.exit(run_from_args(parser.parse_args()))\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(driver), "--app-dir", str(revision), "--health-check-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "BeforeInstall: running" in line:
            break
    rehearsal_ids = _rehearsal_ids_of(sleep, deadline=time.monotonic() + 10)
    process.send_signal(signum)
    output = process.stdout.read()
    exit_code = process.wait(30)

    assert exit_code == 4, output
    assert "interrupted" in output
    assert "CANCELLED (exit code 4)" in output and "FAILED" not in output
    assert rehearsal_ids, "the hook's processes carry the rehearsal's REHEARSAL_ID"
    assert all(processes_marked(value) == [] for value in rehearsal_ids)
    assert sleep not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout


def _rehearsal_ids_of(command: str, *, deadline: float) -> set[str]:
    """The REHEARSAL_ID values of the running processes whose command line is `command`, waiting until one runs."""
    while True:
        found = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            if cmdline == command and (value := _environ_value(int(pid), "REHEARSAL_ID")) is not None:
                found.add(value)
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def _environ_value(pid: int, name: str) -> str | None:
    try:
        entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{name}=".encode()
    return next((entry[len(prefix) :].decode() for entry in entries if entry.startswith(prefix)), None)


# ---------------------------------------------------------------------------------------------------------------------
# Like the agent: environment, users, signals, orphans (docs/agent-conformance.md)
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_hooks_get_the_agents_environment_not_the_callers(revision: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a caller whose shell has its own PATH, HOME and variables
    monkeypatch.setenv("PATH", f"/home/dev/.local/bin{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", "/home/dev")
    monkeypatch.setenv("DEVELOPER_ONLY", "1")
    write_script(
        revision / "scripts" / "before_install.sh",
        'out="$REHEARSAL_ROOT/hook-env.txt"\n'
        'env | sort > "$out"\n'
        'echo "umask=$(umask)" >> "$out"\n'
        'echo "pgid=$(ps -o pgid= -p $$ | tr -d " ") pid=$$" >> "$out"\n'
        'if read -r -t 1 line; then echo "stdin=open" >> "$out"; else echo "stdin=closed" >> "$out"; fi\n',
    )

    result = rehearse(options_for(revision, keep_sandbox=True))

    try:
        assert result.sandbox is not None
        seen = (result.sandbox / "root" / "hook-env.txt").read_text().splitlines()
        env = dict(line.split("=", 1) for line in seen if "=" in line)
        assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        assert "HOME" not in env and "DEVELOPER_ONLY" not in env
        assert env["LIFECYCLE_EVENT"] == "BeforeInstall" and env["DEPLOYMENT_ID"] == "d-REHEARSAL"
        assert {"APPLICATION_NAME", "DEPLOYMENT_GROUP_NAME", "DEPLOYMENT_GROUP_ID", "BUNDLE_BUCKET"} <= set(env)
        assert env["umask"] == "0022" and env["stdin"] == "closed"
        pgid, pid = (part.split("=")[1] for part in next(line for line in seen if line.startswith("pgid=")).split())
        assert pgid == pid, "each script leads its own process group"
    finally:
        if result.sandbox is not None:
            shutil.rmtree(result.sandbox)


@pytest.mark.slow
def test_runas_that_cannot_be_honoured_makes_the_rehearsal_incomplete_not_passed(
    revision: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a runas user that exists, and a rehearsal that cannot switch users (not root)
    other = next(user for user in pwd.getpwall() if user.pw_uid != os.geteuid())
    monkeypatch.setattr(hooks, "can_switch_users", lambda: False)
    edit(
        revision / "appspec.yml",
        "location: scripts/before_install.sh\n      timeout: 30",
        f"location: scripts/before_install.sh\n      timeout: 30\n      runas: {other.pw_name}",
    )

    result = rehearse(options_for(revision))

    assert (result.exit_code, result.verdict) == (6, "INCOMPLETE"), format_report(result)
    assert any(f"runas {other.pw_name}" in reason for reason in result.incomplete)
    assert format_report(result).startswith(f"Rehearsal of {revision}: INCOMPLETE (exit code 6)")


@pytest.mark.slow
def test_a_hook_that_ignores_sigterm_at_its_timeout_is_reported_as_a_hang_risk(revision: Path) -> None:
    write_script(revision / "scripts" / "before_install.sh", "trap '' TERM\nsleep 30\n")
    edit(
        revision / "appspec.yml",
        "location: scripts/before_install.sh\n      timeout: 30",
        "location: scripts/before_install.sh\n      timeout: 1",
    )

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    event = next(event for event in result.events if event.event == "BeforeInstall")
    assert event.error_code == "ScriptTimedOut"
    assert "RISK: the script ignores SIGTERM" in event.message
    assert len(result.risks) == 1 and "with no SIGKILL" in result.risks[0]
    assert "Risk: BeforeInstall: scripts/before_install.sh ignored SIGTERM" in format_report(result)
    assert_nothing_left(result)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are a Linux feature")
def test_a_process_a_hook_daemonizes_out_of_sight_is_adopted_killed_and_reaped(revision: Path) -> None:
    # Given a hook that starts a daemon in a new session with a clean environment (no REHEARSAL_ID to find it by)
    write_script(
        revision / "scripts" / "before_install.sh",
        'setsid env -i /bin/sleep 300 </dev/null >/dev/null 2>&1 &\necho $! > "$REHEARSAL_ROOT/daemon.pid"\n',
    )

    result = rehearse(options_for(revision, keep_sandbox=True))

    try:
        assert result.exit_code == 0, format_report(result)
        assert result.sandbox is not None
        daemon = int((result.sandbox / "root" / "daemon.pid").read_text())
        assert not Path(f"/proc/{daemon}").exists(), "the daemon was killed and reaped, not left as a zombie"
        assert any(note.startswith("adopted ") for note in result.notes)
    finally:
        if result.sandbox is not None:
            shutil.rmtree(result.sandbox)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are a Linux feature")
def test_a_child_the_caller_started_before_the_rehearsal_is_never_taken_for_a_hooks_orphan(revision: Path) -> None:
    # Given a child of this process that predates the rehearsal (as the jsii kernel of an in-process CDK app does
    # when pytest runs the stack tests and the rehearsal tests in one session)
    bystander = subprocess.Popen(["/bin/sleep", "60"])
    try:
        # When a rehearsal runs as child subreaper
        result = rehearse(options_for(revision))

        # Then it neither adopts nor signals that child
        assert result.exit_code == 0, format_report(result)
        assert bystander.poll() is None, "the caller's own child was killed by the rehearsal"
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.slow
def test_a_script_without_a_shebang_runs_with_bin_sh_as_the_agents_ruby_runs_it(revision: Path) -> None:
    script = revision / "scripts" / "before_install.sh"
    script.write_text('echo "no #! line"\n')
    script.chmod(0o755)

    result = rehearse(options_for(revision))

    assert status_of(result)["BeforeInstall"] == "Succeeded", format_report(result)


@pytest.mark.slow
def test_a_script_whose_interpreter_is_missing_fails_as_script_failed_naming_the_interpreter(revision: Path) -> None:
    script = revision / "scripts" / "before_install.sh"
    script.write_text("#!/opt/nowhere/bin/node\nconsole.log(1)\n")
    script.chmod(0o755)

    result = rehearse(options_for(revision))

    event = next(event for event in result.events if event.event == "BeforeInstall")
    assert (event.status, event.error_code) == ("Failed", "ScriptFailed")
    assert "failed with error Errno::ENOENT" in event.message
    assert "(interpreter '/opt/nowhere/bin/node' not found)" in event.message


@pytest.mark.slow
def test_install_records_every_installed_path_one_per_line_for_the_next_deployments_cleanup(revision: Path) -> None:
    result = rehearse(options_for(revision, keep_sandbox=True))

    try:
        assert result.sandbox is not None
        (record,) = (result.sandbox / "deployment-root" / "deployment-instructions").glob("*-cleanup")
        lines = record.read_text().splitlines()
        assert "/opt/sample-app" in lines and "/opt/sample-app/app/server.py" in lines
        assert lines.index("/opt/sample-app/app") < lines.index("/opt/sample-app/app/server.py")
    finally:
        if result.sandbox is not None:
            shutil.rmtree(result.sandbox)


@pytest.mark.slow
def test_an_owner_unknown_here_fails_install_as_the_agents_lookup_does(revision: Path) -> None:
    text = (revision / "appspec.yml").read_text()
    (revision / "appspec.yml").write_text(text.replace("owner: root", "owner: no-such-user-on-the-fleet", 1))

    result = rehearse(options_for(revision))

    assert result.exit_code == 1
    event = next(event for event in result.events if event.event == "Install")
    assert event.status == "Failed"
    assert "owner/group no-such-user-on-the-fleet:root" in event.message and "no such user or group" in event.message


@pytest.mark.slow
def test_runas_ec2_user_on_a_machine_without_it_is_incomplete_not_failed(revision: Path) -> None:
    try:
        pwd.getpwnam("ec2-user")
    except KeyError:
        pass
    else:
        pytest.skip("this machine has ec2-user")
    edit(
        revision / "appspec.yml",
        "location: scripts/before_install.sh\n      timeout: 30",
        "location: scripts/before_install.sh\n      timeout: 30\n      runas: ec2-user",
    )

    result = rehearse(options_for(revision))

    assert (result.exit_code, result.verdict) == (6, "INCOMPLETE"), format_report(result)
    assert any(
        "runas ec2-user, a user of Amazon Linux instances that this machine lacks" in r for r in result.incomplete
    )


def test_strict_refuses_a_revision_whose_appspec_only_has_warnings(revision: Path) -> None:
    text = (revision / "appspec.yml").read_text()
    (revision / "appspec.yml").write_text(text.replace("hooks:\n", "hooks:\n  BeforeAllowTraffic:\n", 1))
    options = options_from_args(parse("--app-dir", str(revision), "--strict"))

    result = rehearse(replace(options, health_check=options_for(revision).health_check))

    assert options.strict
    assert result.exit_code == 2
    assert result.failure is not None and "hooks.BeforeAllowTraffic: has no scripts" in result.failure


def test_without_a_child_subreaper_the_rehearsal_says_what_it_cannot_do(
    revision: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "set_child_subreaper", lambda _enabled: "not supported on darwin (Linux only)")
    edit(revision / "appspec.yml", "scripts/after_install.sh", "scripts/after_instal.sh")

    result = rehearse(options_for(revision))

    assert any("could not become the child subreaper (not supported on darwin" in note for note in result.notes)
    assert_nothing_left(result)
