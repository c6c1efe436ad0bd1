"""appspec.yml validation for EC2 blue/green: one test per rule, every message naming the file and the key."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

import pytest
from release.appspec import (
    BLUE_EVENT_ORDER,
    GREEN_EVENT_ORDER,
    FileMapping,
    HookScript,
    PermissionRule,
    load_appspec,
    revision_files,
)
from release.errors import AppSpecError, ExitCode, Problem

VALID_APPSPEC = """\
version: 0.0
os: linux
files:
  - source: app
    destination: /opt/app
  - source: /
    destination: /opt/revision
permissions:
  - object: /opt/app
    pattern: "**"
    owner: app
    group: app
    mode: "0755"
    type:
      - directory
hooks:
  ValidateService:
    - location: scripts/validate.sh
      timeout: 60
  ApplicationStop:
    - location: scripts/stop.sh
      timeout: 30
      runas: root
  ApplicationStart:
    - location: scripts/start.sh
  BeforeBlockTraffic:
    - location: scripts/stop.sh
      timeout: 30
"""


def write(root: Path, relative: str, text: str = "", *, executable: bool = False) -> Path:
    """Write a file of the revision, creating its directory."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def revision(tmp_path: Path) -> Path:
    """A valid revision: app code, three executable hook scripts, and VALID_APPSPEC."""
    root = tmp_path / "revision"
    write(root, "app/server.py", "print('hello')\n")
    for script in ("stop.sh", "start.sh", "validate.sh"):
        write(root, f"scripts/{script}", "#!/bin/sh\nexit 0\n", executable=True)
    write(root, "appspec.yml", VALID_APPSPEC)
    return root


def with_appspec(root: Path, text: str) -> Path:
    """Replace the revision's appspec.yml with `text` (dedented)."""
    write(root, "appspec.yml", textwrap.dedent(text))
    return root


def problems_of(root: Path) -> tuple[Problem, ...]:
    """The problems load_appspec reports for the revision (fails the test when it accepts it)."""
    with pytest.raises(AppSpecError) as caught:
        load_appspec(root)
    return caught.value.problems


def warnings_of(root: Path) -> list[tuple[str, str, str]]:
    """(file, key, message) of each warning load_appspec returns for the revision (fails the test if it refuses it)."""
    return [(w.file, w.key, w.message) for w in load_appspec(root).warnings]


def minimal(extra: str) -> str:
    """A valid minimal appspec followed by `extra` YAML."""
    return "version: 0.0\nos: linux\n" + textwrap.dedent(extra)


# --- a valid revision ------------------------------------------------------------------------------------------------


def test_a_valid_revision_loads_into_files_permissions_and_hooks(revision: Path) -> None:
    # When
    appspec = load_appspec(revision)
    # Then
    assert appspec.files == (FileMapping("app", "/opt/app"), FileMapping("", "/opt/revision"))
    assert appspec.permissions == (PermissionRule("/opt/app", "**", (), "app", "app", "0755", ("directory",)),)
    assert appspec.hooks["ApplicationStop"] == (HookScript("scripts/stop.sh", 30, "root"),)


def test_hook_events_come_back_in_codedeploy_lifecycle_order_not_file_order(revision: Path) -> None:
    # When
    appspec = load_appspec(revision)
    # Then
    assert list(appspec.hooks) == ["ApplicationStop", "ApplicationStart", "ValidateService", "BeforeBlockTraffic"]


def test_a_script_without_timeout_gets_codedeploys_default_of_one_hour(revision: Path) -> None:
    # When
    appspec = load_appspec(revision)
    # Then
    assert appspec.hooks["ApplicationStart"][0].timeout_seconds == 3600


def test_the_event_orders_list_reserved_events_where_codedeploy_runs_them() -> None:
    # Then
    assert GREEN_EVENT_ORDER.index("DownloadBundle") == GREEN_EVENT_ORDER.index("ApplicationStop") + 1
    assert GREEN_EVENT_ORDER[-3:] == ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
    assert BLUE_EVENT_ORDER == ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")


def test_an_appspec_without_files_or_hooks_is_valid(revision: Path) -> None:
    # Given
    with_appspec(revision, "version: 0.0\nos: linux\n")
    # When
    appspec = load_appspec(revision)
    # Then
    assert (appspec.files, appspec.permissions, dict(appspec.hooks)) == ((), (), {})


# --- version and os --------------------------------------------------------------------------------------------------


def test_a_version_other_than_0_0_is_reported(revision: Path) -> None:
    with_appspec(revision, "version: 1.0\nos: linux\n")
    assert [(p.file, p.key) for p in problems_of(revision)] == [("appspec.yml", "version")]


def test_a_quoted_version_is_reported_because_the_agent_compares_numbers(revision: Path) -> None:
    with_appspec(revision, 'version: "0.0"\nos: linux\n')
    assert "unquoted" in problems_of(revision)[0].message


def test_an_os_other_than_linux_is_reported(revision: Path) -> None:
    with_appspec(revision, "version: 0.0\nos: windows\n")
    assert [(p.file, p.key) for p in problems_of(revision)] == [("appspec.yml", "os")]


def test_an_unknown_top_level_key_is_a_warning_with_a_suggestion_because_the_agent_ignores_it(revision: Path) -> None:
    with_appspec(revision, minimal("hook:\n  ApplicationStart: []\n"))
    ((_, key, message),) = warnings_of(revision)
    assert (key, "the agent ignores it; did you mean 'hooks'?" in message) == ("hook", True)


def test_strict_mode_turns_warnings_into_errors(revision: Path) -> None:
    with_appspec(revision, minimal("hook:\n  ApplicationStart: []\n"))
    with pytest.raises(AppSpecError) as caught:
        load_appspec(revision, strict=True)
    (problem,) = caught.value.problems
    assert (problem.key, problem.message.endswith("(strict mode: warnings are errors)")) == ("hook", True)


# --- files -----------------------------------------------------------------------------------------------------------


def test_a_files_source_missing_from_the_revision_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("files:\n  - source: web\n    destination: /opt/web\n"))
    (problem,) = problems_of(revision)
    assert (problem.file, problem.key, problem.message) == (
        "appspec.yml",
        "files[0].source",
        "'web' does not exist in the revision (files sources are relative to the revision root)",
    )


def test_a_files_source_may_be_a_single_file(revision: Path) -> None:
    with_appspec(revision, minimal("files:\n  - source: app/server.py\n    destination: /opt/app\n"))
    assert load_appspec(revision).files == (FileMapping("app/server.py", "/opt/app"),)


def test_a_files_source_of_slash_means_the_whole_revision(revision: Path) -> None:
    with_appspec(revision, minimal("files:\n  - source: /\n    destination: /opt/app\n"))
    assert load_appspec(revision).files == (FileMapping("", "/opt/app"),)


def test_a_files_source_leaving_the_revision_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("files:\n  - source: ../secrets\n    destination: /opt/app\n"))
    assert [p.key for p in problems_of(revision)] == ["files[0].source"]


def test_a_relative_files_destination_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("files:\n  - source: app\n    destination: opt/app\n"))
    assert [p.key for p in problems_of(revision)] == ["files[0].destination"]


def test_a_files_entry_without_destination_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("files:\n  - source: app\n"))
    assert [p.key for p in problems_of(revision)] == ["files[0].destination"]


def test_a_files_source_excluded_by_deployignore_is_reported_as_not_bundled(revision: Path) -> None:
    write(revision, ".deployignore", "app/\n")
    with_appspec(revision, minimal("files:\n  - source: app\n    destination: /opt/app\n"))
    (problem,) = problems_of(revision)
    assert "not in the bundle" in problem.message


# --- permissions -----------------------------------------------------------------------------------------------------


def test_a_permission_without_object_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - mode: 644\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].object"]


def test_a_permission_mode_that_is_not_octal_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    mode: u+x\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].mode"]


def test_a_permission_mode_with_too_many_digits_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    mode: 10755\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].mode"]


def test_an_unquoted_mode_with_a_leading_zero_is_a_warning_because_yaml_reads_it_as_octal(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    mode: 0644\n"))
    assert warnings_of(revision) == [
        (
            "appspec.yml",
            "permissions[0].mode",
            '0644 is read by YAML as the number 420, applied as mode 420; write "0644"',
        )
    ]
    assert load_appspec(revision).permissions[0].mode == "420"


def test_a_one_digit_mode_is_padded_with_zeros_as_the_agent_does(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    mode: 7\n"))
    assert load_appspec(revision).permissions[0].mode == "007"


def test_an_unquoted_three_digit_mode_is_kept_as_written(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    mode: 644\n"))
    assert load_appspec(revision).permissions[0].mode == "644"


def test_a_permission_type_other_than_file_or_directory_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    type: [symlink]\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].type"]


def test_a_permission_without_type_applies_to_files_and_directories(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n"))
    assert load_appspec(revision).permissions[0].type == ("file", "directory")


def test_a_numeric_permission_owner_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    owner: 1000\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].owner"]


def test_a_permission_except_that_is_not_a_list_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    except: secret.txt\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].except"]


# --- hooks -----------------------------------------------------------------------------------------------------------


def test_an_unknown_hook_event_is_a_warning_saying_its_scripts_never_run(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterInstal:\n    - location: scripts/start.sh\n"))
    ((_, key, message),) = warnings_of(revision)
    assert (key, "never run" in message, message.endswith("did you mean 'AfterInstall'?")) == (
        "hooks.AfterInstal",
        True,
        True,
    )


def test_an_ecs_only_hook_event_is_a_warning(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterAllowTestTraffic:\n    - location: scripts/start.sh\n"))
    assert [key for _, key, _ in warnings_of(revision)] == ["hooks.AfterAllowTestTraffic"]


@pytest.mark.parametrize("event", ["DownloadBundle", "Install", "AllowTraffic", "BlockTraffic"])
def test_a_reserved_event_with_scripts_is_a_warning_because_the_agent_ignores_them(revision: Path, event: str) -> None:
    with_appspec(revision, minimal(f"hooks:\n  {event}:\n    - location: scripts/start.sh\n"))
    ((_, key, message),) = warnings_of(revision)
    assert (key, "never runs scripts" in message) == (f"hooks.{event}", True)


@pytest.mark.parametrize("event", ["BeforeBlockTraffic", "AfterBlockTraffic", "BeforeAllowTraffic", "AfterInstall"])
def test_every_scriptable_blue_green_event_is_accepted(revision: Path, event: str) -> None:
    with_appspec(revision, minimal(f"hooks:\n  {event}:\n    - location: scripts/start.sh\n"))
    assert list(load_appspec(revision).hooks) == [event]


def test_an_event_without_scripts_is_skipped_with_a_warning_as_the_agent_skips_it(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  BeforeInstall:\n  AfterInstall: []\n"))
    assert dict(load_appspec(revision).hooks) == {}
    assert [key for _, key, _ in warnings_of(revision)] == ["hooks.BeforeInstall", "hooks.AfterInstall"]


def test_a_hook_script_missing_from_the_revision_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterInstall:\n    - location: scripts/migrate.sh\n"))
    (problem,) = problems_of(revision)
    assert (problem.file, problem.key, problem.message) == (
        "appspec.yml",
        "hooks.AfterInstall[0].location",
        "ScriptMissing on the instance: 'scripts/migrate.sh' does not exist in the revision "
        "(hook locations are relative to the revision root)",
    )


def test_a_hook_script_without_location_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterInstall:\n    - timeout: 30\n"))
    assert [p.key for p in problems_of(revision)] == ["hooks.AfterInstall[0].location"]


def test_a_hook_script_that_is_not_executable_is_a_warning_against_the_script_as_the_agent_chmods_it(
    revision: Path,
) -> None:
    write(revision, "scripts/migrate.sh", "#!/bin/sh\n")
    with_appspec(revision, minimal("hooks:\n  AfterInstall:\n    - location: scripts/migrate.sh\n"))
    ((file, _, message),) = warnings_of(revision)
    assert (file, "the agent makes it executable" in message) == ("scripts/migrate.sh", True)


def test_a_hook_script_excluded_by_deployignore_is_reported_as_not_bundled(revision: Path) -> None:
    write(revision, ".deployignore", "*.sh\n")
    (problem, *_others) = problems_of(revision)
    assert "exists but is not in the bundle" in problem.message


def test_a_hook_location_with_a_leading_slash_is_relative_to_the_revision_root(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterInstall:\n    - location: /scripts/start.sh\n"))
    assert load_appspec(revision).hooks["AfterInstall"][0].location == "scripts/start.sh"
    assert [key for _, key, _ in warnings_of(revision)] == ["hooks.AfterInstall[0].location"]


@pytest.mark.parametrize("timeout", ["0", "3601", "-5", '"none"', "true", "0.5"])
def test_a_timeout_outside_one_to_3600_whole_seconds_is_reported(revision: Path, timeout: str) -> None:
    with_appspec(
        revision, minimal(f"hooks:\n  AfterInstall:\n    - location: scripts/start.sh\n      timeout: {timeout}\n")
    )
    assert [p.key for p in problems_of(revision)] == ["hooks.AfterInstall[0].timeout"]


@pytest.mark.parametrize(("timeout", "seconds"), [('"300"', 300), ("'45'", 45), ("90.9", 90), ("0600", 384)])
def test_a_timeout_the_agent_converts_is_accepted_as_it_converts_it_with_a_warning(
    revision: Path, timeout: str, seconds: int
) -> None:
    with_appspec(
        revision, minimal(f"hooks:\n  AfterInstall:\n    - location: scripts/start.sh\n      timeout: {timeout}\n")
    )
    assert load_appspec(revision).hooks["AfterInstall"][0].timeout_seconds == seconds
    assert [key for _, key, _ in warnings_of(revision)] == ["hooks.AfterInstall[0].timeout"]


def test_timeouts_of_one_event_adding_up_to_more_than_an_hour_are_reported(revision: Path) -> None:
    with_appspec(
        revision,
        minimal(
            """\
            hooks:
              AfterInstall:
                - location: scripts/start.sh
                  timeout: 1800
                - location: scripts/stop.sh
                  timeout: 1801
            """
        ),
    )
    assert [p.key for p in problems_of(revision)] == ["hooks.AfterInstall"]


def test_a_non_string_runas_is_reported(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterInstall:\n    - location: scripts/start.sh\n      runas: [app]\n"))
    assert [p.key for p in problems_of(revision)] == ["hooks.AfterInstall[0].runas"]


def test_a_misspelt_script_key_is_a_warning_instead_of_silently_defaulting(revision: Path) -> None:
    with_appspec(revision, minimal("hooks:\n  AfterInstall:\n    - location: scripts/start.sh\n      timout: 60\n"))
    ((_, key, message),) = warnings_of(revision)
    assert (key, message.endswith("did you mean 'timeout'?")) == ("hooks.AfterInstall[0].timout", True)


def test_the_sudo_key_of_a_script_is_read_as_the_agent_reads_it(revision: Path) -> None:
    with_appspec(
        revision,
        minimal("hooks:\n  AfterInstall:\n    - location: scripts/start.sh\n      runas: root\n      sudo: true\n"),
    )
    appspec = load_appspec(revision)
    assert appspec.hooks["AfterInstall"] == (HookScript("scripts/start.sh", 3600, "root", sudo=True),)
    assert appspec.warnings == ()


# --- the file itself -------------------------------------------------------------------------------------------------


def test_a_missing_appspec_is_reported(revision: Path) -> None:
    (revision / "appspec.yml").unlink()
    assert [(p.file, p.message) for p in problems_of(revision)] == [("appspec.yml", "is missing at the revision root")]


def test_an_appspec_yaml_is_reported_with_the_name_codedeploy_expects(revision: Path) -> None:
    (revision / "appspec.yml").rename(revision / "appspec.yaml")
    assert "rename appspec.yaml to appspec.yml" in problems_of(revision)[0].message


def test_an_appspec_excluded_by_deployignore_is_reported(revision: Path) -> None:
    write(revision, ".deployignore", "appspec.yml\n")
    assert "excluded" in problems_of(revision)[0].message


def test_invalid_yaml_is_reported_with_its_line(revision: Path) -> None:
    with_appspec(revision, "version: 0.0\nos: [linux\n")
    (problem,) = problems_of(revision)
    assert problem.key.startswith("line ")


def test_a_key_given_twice_is_reported_because_yaml_would_drop_one(revision: Path) -> None:
    with_appspec(
        revision,
        minimal(
            """\
            hooks:
              AfterInstall:
                - location: scripts/start.sh
              AfterInstall:
                - location: scripts/stop.sh
            """
        ),
    )
    (problem,) = problems_of(revision)
    assert (problem.key, "given twice" in problem.message) == ("line 6", True)


def test_every_problem_is_reported_at_once_not_only_the_first(revision: Path) -> None:
    # Given three independent mistakes
    with_appspec(
        revision,
        """\
        version: 0.0
        os: windows
        files:
          - source: app
            destination: relative
        hooks:
          Install:
            - location: scripts/start.sh
        """,
    )
    # When
    problems = problems_of(revision)
    # Then
    assert [p.key for p in problems] == ["os", "files[0].destination"]


def test_an_appspec_error_is_bad_input_and_lists_file_and_key_in_its_message(revision: Path) -> None:
    with_appspec(revision, "version: 0.0\nos: windows\n")
    with pytest.raises(AppSpecError) as caught:
        load_appspec(revision)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "appspec.yml: os: must be 'linux'" in caught.value.describe()


def test_validation_uses_the_given_file_list_instead_of_the_directory(revision: Path) -> None:
    # Given a file list without the start script (as if it were not bundled)
    included = set(revision_files(revision)) - {"scripts/start.sh"}
    # When
    with pytest.raises(AppSpecError) as caught:
        load_appspec(revision, included=included)
    # Then
    assert [p.key for p in caught.value.problems] == ["hooks.ApplicationStart[0].location"]


# --- the agent's parse rules for permissions (ace_info.rb, context_info.rb, range_info.rb, mode_info.rb) -------------


@pytest.mark.parametrize("ace", ["u:app:rwx", "g:web:r-x", "d:u:app:rw", "m::rx", "default:group:web:5"])
def test_acl_entries_the_agent_accepts_are_accepted(revision: Path, ace: str) -> None:
    with_appspec(revision, minimal(f"permissions:\n  - object: /opt/app\n    acls:\n      - '{ace}'\n"))
    assert load_appspec(revision).permissions[0].acls == (ace,)


@pytest.mark.parametrize(
    ("ace", "reason"),
    [
        ("rwx", "is not an ACL entry"),
        ("x:app:rwx", "has an unknown entry type"),
        ("u::rwx", "sets a base entry; use mode"),
        ("o:app:r", "names a user or group on a mask or other entry"),
        ("u:app:rwz", "has permissions other than r, w, x and -"),
    ],
)
def test_acl_entries_the_agent_rejects_are_reported_with_the_rule(revision: Path, ace: str, reason: str) -> None:
    with_appspec(revision, minimal(f"permissions:\n  - object: /opt/app\n    acls:\n      - '{ace}'\n"))
    (problem,) = problems_of(revision)
    assert (problem.key, f"'{ace}' {reason}" in problem.message) == ("permissions[0].acls", True)


def test_a_context_without_type_is_reported_as_the_agent_requires_it(revision: Path) -> None:
    with_appspec(revision, minimal("permissions:\n  - object: /opt/app\n    context:\n      name: unconfined_u\n"))
    assert [p.key for p in problems_of(revision)] == ["permissions[0].context.type"]


def test_a_context_range_the_agent_cannot_parse_is_reported(revision: Path) -> None:
    with_appspec(
        revision, minimal("permissions:\n  - object: /opt/app\n    context:\n      type: httpd_t\n      range: s0-\n")
    )
    assert [p.key for p in problems_of(revision)] == ["permissions[0].context.range"]


def test_a_context_user_key_is_a_warning_because_the_agent_reads_name(revision: Path) -> None:
    with_appspec(
        revision, minimal("permissions:\n  - object: /opt/app\n    context:\n      type: httpd_t\n      user: u\n")
    )
    ((_, key, message),) = warnings_of(revision)
    assert (key, message.endswith("did you mean 'name'?")) == ("permissions[0].context.user", True)


def test_a_crlf_env_shebang_is_refused_naming_the_command_env_would_look_for(revision: Path) -> None:
    (revision / "scripts" / "start.sh").write_bytes(b"#!/usr/bin/env bash\r\nexit 0\r\n")
    (problem,) = problems_of(revision)
    assert problem.file == "scripts/start.sh"
    assert "has CRLF (Windows) line endings: Linux looks for 'bash\\r'" in problem.message


def test_crlf_after_the_first_line_only_is_a_warning(revision: Path) -> None:
    (revision / "scripts" / "start.sh").write_bytes(b"#!/bin/sh\nexit 0\r\n")
    assert [(file, "CRLF" in message) for file, _, message in warnings_of(revision)] == [("scripts/start.sh", True)]
