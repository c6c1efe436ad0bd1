"""Cases rebuilt from real CodeDeploy users' failure reports (tests/release/cases/): the product does what the agent
does with each — `bundle` refuses before upload only what fails on the instance, the rehearsal fails what fails there.
"""

from __future__ import annotations

import os
import pwd
import re
import socket
from pathlib import Path

import pytest
from release.appspec import load_appspec
from release.cli import main
from release.rehearse import HealthCheckSettings, RehearsalOptions, RehearsalResult, format_report, rehearse

CASES = Path(__file__).resolve().parent / "cases"


def revision_of(case: str) -> Path:
    return CASES / case / "revision"


def bundle(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`deploy.py bundle` on the case's revision: (exit code, everything printed)."""
    code = main(["bundle", "--app-dir", str(revision_of(case)), "--bundle-dir", str(tmp_path / "bundles")])
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rehearse_case(case: str) -> RehearsalResult:
    """Rehearse the case's revision with quick health-check settings."""
    settings = HealthCheckSettings("/health", free_port(), "200", 0.2, 0.15, 2)
    options = RehearsalOptions(
        app_dir=revision_of(case), health_check=settings, healthy_within_seconds=5.0, stop_timeout_seconds=5.0
    )
    return rehearse(options)


def failed_event(result: RehearsalResult) -> tuple[str, str | None, str]:
    event = next(event for event in result.events if event.status == "Failed")
    return event.event, event.error_code, event.message


# --- refused here, deploys fine: accepted --------------------------------------------------------------------------


def test_an_event_key_left_without_scripts_is_bundled_as_the_agent_skips_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = bundle("empty-event-key", tmp_path, capsys)
    assert code == 0, printed


def test_a_script_with_sudo_true_is_bundled_as_the_agent_reads_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = bundle("sudo-key", tmp_path, capsys)
    assert code == 0, printed


@pytest.mark.slow
def test_a_timeout_written_as_a_numeric_string_rehearses_green_as_the_agent_converts_it() -> None:
    result = rehearse_case("timeout-quoted")
    assert (result.exit_code, result.verdict) == (0, "PASSED"), format_report(result)
    assert any("'300' is a string; the agent converts it to 300 s" in warning for warning in result.warnings)


# --- fails on the instance: refused before upload -------------------------------------------------------------------


def test_an_absolute_hook_location_is_refused_quoting_it_as_written_and_stating_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = bundle("absolute-hook-location", tmp_path, capsys)
    assert code == 2
    assert "hooks.BeforeInstall[0].location: ScriptMissing on the instance" in printed
    assert "'/usr/local/deploy-hooks/deregister.sh' is not in the revision" in printed
    assert "hook locations are relative to the revision root" in printed


def test_a_misspelt_script_name_is_refused_as_script_missing_with_the_near_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = bundle("script-name-typo", tmp_path, capsys)
    assert code == 2
    assert "ScriptMissing on the instance: 'scripts/install_dependencies.sh' does not exist" in printed
    assert "did you mean 'scripts/install-dependencies.sh'?" in printed


def test_a_crlf_hook_script_is_refused_before_upload_naming_crlf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed = bundle("crlf-hook-script", tmp_path, capsys)
    assert code == 2
    assert "scripts/before_install.sh: has CRLF (Windows) line endings" in printed
    assert "Linux looks for '/bin/bash\\r'" in printed


# --- fails on the instance: the rehearsal fails it the same way -----------------------------------------------------


@pytest.mark.slow
def test_a_crlf_hook_script_fails_its_event_in_the_rehearsal_as_script_failed_with_the_cause() -> None:
    result = rehearse_case("crlf-hook-script")
    assert result.exit_code == 1
    event, code, message = failed_event(result)
    assert (event, code) == ("BeforeInstall", "ScriptFailed")
    assert "interpreter '/bin/bash\\r' not found: CRLF line endings" in message
    assert "does not exist" not in message, "an exec failure is not a missing script"


@pytest.mark.slow
def test_a_background_process_holding_the_hook_output_fails_the_event_with_a_hint_to_redirect() -> None:
    result = rehearse_case("background-output-held")
    assert result.exit_code == 1
    event, code, message = failed_event(result)
    assert (event, code) == ("ApplicationStart", "OutputsLeftOpen")
    assert "failed to close STDOUT" in message and ">/dev/null 2>&1 &" in message


def test_runas_a_user_amazon_linux_lacks_is_a_warning_before_upload() -> None:
    ((_, key, message),) = [
        (w.file, w.key, w.message) for w in load_appspec(revision_of("runas-user-missing")).warnings
    ]
    assert key == "hooks.ApplicationStart[0].runas"
    assert "'ubuntu' is the default user of Ubuntu images; Amazon Linux 2023 instances have ec2-user" in message


@pytest.mark.slow
def test_runas_a_user_the_instance_lacks_fails_the_event_never_passed() -> None:
    try:
        pwd.getpwnam("ubuntu")
    except KeyError:
        pass
    else:
        pytest.skip("this machine has a user 'ubuntu'")
    result = rehearse_case("runas-user-missing")
    assert (result.exit_code, result.verdict) == (1, "FAILED")
    event, code, message = failed_event(result)
    assert (event, code) == ("ApplicationStart", "ScriptFailed")
    assert message.startswith("Script at specified location: scripts/start.sh run as user ubuntu failed")


@pytest.mark.slow
def test_a_tool_found_only_on_the_developers_path_fails_the_hook_with_127(monkeypatch: pytest.MonkeyPatch) -> None:
    developer_bin = CASES / "tool-on-developer-path" / "developer-bin"
    monkeypatch.setenv("PATH", f"{developer_bin}{os.pathsep}{os.environ['PATH']}")
    result = rehearse_case("tool-on-developer-path")
    assert result.exit_code == 1
    event, code, message = failed_event(result)
    assert (event, code) == ("AfterInstall", "ScriptFailed")
    assert "failed with exit code 127 (command not found: hooks run with the agent's PATH=" in message


@pytest.mark.slow
def test_a_file_already_at_a_destination_fails_install_before_anything_is_copied() -> None:
    result = rehearse_case("file-already-exists")
    assert result.exit_code == 1
    event, _code, message = failed_event(result)
    assert event == "Install"
    assert "a file already exists at /opt/demo/app/server.py" in message and "nothing was copied" in message


def test_every_test_the_conformance_table_names_exists() -> None:
    # docs/agent-conformance.md names tests as `file.py::test_name`, or a bare `test_name` continuing the same file.
    doc = (CASES.parents[2] / "docs" / "agent-conformance.md").read_text()
    missing = []
    for row in (line for line in doc.splitlines() if line.startswith("|")):
        current = None
        for reference in re.findall(r"`((?:test_\w+\.py::)?test_\w+)`", row):
            file, _, name = reference.rpartition("::")
            current = file or current
            if current is None or f"def {name}(" not in (CASES.parent / current).read_text():
                missing.append(reference)
    assert missing == []
