"""Every command line the README (and the docs' shell blocks) tells a reader to run works as written.

Each line is classified (a new kind of command fails `test_every_documented_command_is_one_the_tests_check` until a
check exists for it) and checked offline against the real thing: a `make` target against the Makefile, the release
tool's arguments against its own parser and validation, `cdk` against the pinned CLI's help, `aws` against botocore's
service models, `python -c` snippets by compiling them. What needs no account also runs for real (marked `slow`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from release.cli import COMMAND_EXIT_CODES, build_parser, invocation_from
from release.timeout import parse_duration

from tests.docs.checks import (
    check_aws_arguments,
    check_cdk_arguments,
    check_release_arguments,
    existing,
    make_targets,
    subcommands,
    subparser,
    with_examples,
)
from tests.docs.doc_commands import (
    ROOT,
    SKIPPED,
    DocCommand,
    commands,
    deploy_argv,
    kind_of,
    split_env,
)

COMMANDS = commands()


def _of_kind(*kinds: str) -> list[DocCommand]:
    return [command for command in COMMANDS if kind_of(command) in kinds]


def _ids(found: list[DocCommand]) -> list[str]:
    return [command.where for command in found]


def _params(*kinds: str) -> pytest.MarkDecorator:
    found = _of_kind(*kinds)
    return pytest.mark.parametrize("command", found, ids=_ids(found))


def _venv_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# ---------------------------------------------------------------------------------------------------------------------
# Every line is read and classified
# ---------------------------------------------------------------------------------------------------------------------


def test_the_readme_shows_the_commands_a_newcomer_runs_first() -> None:
    # Given the README's command lines
    readme = {command.text.split("#")[0].strip() for command in COMMANDS if command.doc == "README.md"}

    # Then the ones the README's first sections give are among them (the extraction reads them)
    assert {"make demo", "make test", "make setup", "make bootstrap", "make deploy"} <= readme


def test_every_documented_command_is_one_the_tests_check() -> None:
    # Given every command line of the documents
    # When each is classified
    unclassified = [str(command) for command in COMMANDS if kind_of(command) == "unclassified"]

    # Then none is left that no check covers
    assert not unclassified, "add a check for these (tests/docs/checks.py):\n" + "\n".join(unclassified)


# What `make setup` creates (Makefile: VENV := .venv, `npm ci` fills node_modules), relative to the checkout.
SETUP_DIRS = {".venv/bin", "node_modules/.bin"}


@_params("export")
def test_an_exported_region_is_one_aws_has_and_an_exported_path_names_what_setup_creates(command: DocCommand) -> None:
    # Given `export NAME=VALUE ...`
    exported = split_env(command.words()[1:])[0]
    checked = {"AWS_REGION", "AWS_DEFAULT_REGION", "PATH"} & set(exported)
    if not checked:
        pytest.skip(f"{command.where}: {', '.join(exported)} {SKIPPED['export']}")
    for name in checked:
        value = exported[name]
        if name == "PATH":
            # Then the PATH puts the project's tools first: only directories `make setup` creates, then $PATH
            *dirs, rest = value.split(":")
            assert rest == "$PATH" and {entry.removeprefix("$PWD/") for entry in dirs} <= SETUP_DIRS, str(command)
            assert "VENV := .venv" in (ROOT / "Makefile").read_text(encoding="utf-8")
        else:
            # Then a region is one botocore's endpoints list (a typo would send every call nowhere)
            assert value in botocore.session.get_session().get_available_regions("codedeploy"), str(command)


@_params("source")
def test_the_virtualenv_a_block_activates_is_the_one_make_setup_creates(command: DocCommand) -> None:
    # Given `source .venv/bin/activate`
    script = command.words()[1]

    # Then it is the activation script of the virtualenv the Makefile creates
    assert script == ".venv/bin/activate", str(command)
    assert "VENV := .venv" in (ROOT / "Makefile").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------------
# Interpreters: what a shell block runs must be the project's
# ---------------------------------------------------------------------------------------------------------------------


_RUNNING_PYTHON = [
    command
    for command in _of_kind("deploy", "python-c", "python-module", "python-script", "cdk")
    if command.in_block  # inline mentions are checked for their arguments only
]


@pytest.mark.parametrize("command", _RUNNING_PYTHON, ids=_ids(_RUNNING_PYTHON))
def test_a_shell_block_runs_the_projects_python_and_cdk_not_whatever_the_machine_has(command: DocCommand) -> None:
    # Given a line of a shell block that runs Python (or the cdk CLI, whose app is `python3 app.py`)
    _, words = split_env(command.words())

    # Then it names the virtualenv's interpreter, or the block put the project's tools first on PATH before it: a
    # fresh machine's `python` may not exist or lack boto3, and `./node_modules/.bin/cdk` alone runs the app with the
    # system Python (ModuleNotFoundError: aws_cdk), as issue 16 found.
    projects = words[0].startswith(".venv/bin/") or command.project_path
    assert projects, f"{command}: use .venv/bin/python, a make target, or put .venv/bin and node_modules/.bin first"


# ---------------------------------------------------------------------------------------------------------------------
# make
# ---------------------------------------------------------------------------------------------------------------------


@_params("make")
def test_each_make_target_the_docs_name_is_in_the_makefile(command: DocCommand) -> None:
    # Given `make TARGET...`
    # (VAR=value words set a make variable, e.g. `make deploy STAGE=staging`)
    targets = [word for word in command.words()[1:] if not word.startswith("-") and "=" not in word]

    # Then every target is a rule of the Makefile
    assert targets, str(command)
    assert set(targets) <= make_targets(), f"{command}: no such target in the Makefile"


@pytest.mark.slow
@_params("make")
def test_each_make_command_dry_runs_without_error(command: DocCommand) -> None:
    # Given `make TARGET...` (no $(shell ...) in the Makefile, so -n runs nothing)
    assert "$(shell" not in (ROOT / "Makefile").read_text(encoding="utf-8")

    # When make only prints what it would do
    result = subprocess.run(
        ["make", "-n", *command.words()[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )

    # Then it knows how to make every target
    assert result.returncode == 0, f"{command}: {result.stderr}"


def test_make_demo_and_make_test_set_themselves_up_as_the_readme_says() -> None:
    # Given the Makefile's rules
    rules = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()

    # Then demo and test depend on setup ("Both first run `make setup`")
    for target in ("demo", "test"):
        head = next(line for line in rules if line.startswith(f"{target}:"))
        assert "setup" in head.split(":", 1)[1].split(), head


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    # Given the README's command "what CI runs"
    readme = next(
        command for command in COMMANDS if command.doc == "README.md" and "what CI runs" in command.text
    ).words()

    # When .ci/run's command lines are read
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    # Then CI runs exactly that command
    assert " ".join(readme) in lines


# ---------------------------------------------------------------------------------------------------------------------
# The release tool
# ---------------------------------------------------------------------------------------------------------------------


@_params("deploy")
def test_each_release_tool_command_parses_with_the_tools_own_parser(command: DocCommand) -> None:
    # Given `scripts/deploy.py ...` with its placeholders (DIR, ID, $STACK_NAME, ...) filled in
    for argv in with_examples(deploy_argv(command.words())):
        # Then the real parser and the tool's validation accept it (an unknown flag, a bad duration fails)
        check_release_arguments(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["release", "--app-dir", "sample-app", "--auto-scaling-groups", "a,b"],
        ["deploy", "--app-dir", "sample-app"],
        ["promote", "--wait", "soon"],
    ],
)
def test_an_unknown_flag_command_or_value_fails_the_release_tool_check(argv: list[str]) -> None:
    # Given a command line the tool refuses
    # Then the check fails as it would for a documented one
    with pytest.raises(AssertionError):
        check_release_arguments(argv)


def test_placeholders_become_example_values_and_command_every_command() -> None:
    # Given the README's forms
    # Then DIR becomes a real directory, a trailing … disappears, COMMAND becomes each command
    assert with_examples(["release", "--app-dir", "DIR"]) == [["release", "--app-dir", "sample-app"]]
    assert with_examples(["release", "…"]) == [["release"]]
    assert ["status", "--help"] in with_examples(["COMMAND", "--help"])
    assert with_examples(["status", "--follow", "[--deployment-id", "ID]"]) == [
        ["status", "--follow", "--deployment-id", "d-EXAMPLE111"]
    ]


def _command_reference() -> list[tuple[list[str], set[int]]]:
    """README "Command reference": each row's command form (shell words) and the exit codes it lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Command reference", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `([^`]+)` \|.*\| ([0-9 ]+) \|$", section, flags=re.M)
    return [(shlex.split(form), {int(code) for code in codes.split()}) for form, codes in rows]


def test_the_command_reference_has_a_row_for_every_command_of_the_tool() -> None:
    # Given the README's command reference and the tool's parser
    documented = {words[0] for words, _ in _command_reference()}

    # Then every command has a row, and every row names a command
    assert documented == set(subcommands())


@pytest.mark.parametrize("form", [form for form, _ in _command_reference()], ids=" ".join)
def test_each_command_reference_form_parses_with_the_tools_parser(form: list[str]) -> None:
    # Given a row such as `status --follow [--deployment-id ID]`, with its placeholders filled in
    for argv in with_examples(form):
        # Then the tool accepts it
        check_release_arguments(argv)


def test_the_command_references_exit_codes_are_the_ones_each_commands_help_lists() -> None:
    # Given the exit codes the README lists per row (a command may have several rows: status, status --follow)
    documented: dict[str, set[int]] = {}
    for words, codes in _command_reference():
        documented.setdefault(words[0], set()).update(codes)

    # Then they are, per command, the codes the tool says it can end with (its --help lists the same)
    assert documented == {name: {int(code) for code in COMMAND_EXIT_CODES[name]} for name in documented}


def _release_options_table() -> list[tuple[list[str], str, str]]:
    """README's table of `release`/`rollback` options: (flags, variable, default) per row, backticks removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| Option | Variable | Default | Meaning |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| `--")]
    return [(re.findall(r"`(--[a-z-]+)`", cells[0]), cells[1].strip("` "), cells[2].strip("` ")) for cells in rows]


@pytest.mark.parametrize("command", ["release", "rollback"])
def test_every_option_in_the_readmes_release_table_is_one_release_and_rollback_take(command: str) -> None:
    # Given the flags of the README's options table
    flags = {flag for row in _release_options_table() for flag in row[0]}

    # Then the command's parser has each of them
    accepted = subparser(command)._option_string_actions
    assert flags and flags <= set(accepted), sorted(flags - set(accepted))


def test_the_durations_the_readme_gives_as_defaults_are_the_tools_defaults() -> None:
    # Given the table's duration defaults (15m, 2m) and what the tool sets with neither flag nor variable
    defaults = {row[0][0]: row[2] for row in _release_options_table()}
    invocation = invocation_from(build_parser().parse_args(["release", "--app-dir", "sample-app"]), {})

    # Then they are the same
    assert parse_duration(defaults["--scale-timeout"], "README") == invocation.release.scale_timeout_seconds
    assert parse_duration(defaults["--cleanup-timeout"], "README") == invocation.release.cleanup_timeout_seconds


def _runnable_offline() -> list[DocCommand]:
    """Release-tool lines that need no account: help, bundle, rehearse."""
    return [
        command
        for command in _of_kind("deploy")
        if (argv := deploy_argv(command.words()))
        and ("--help" in argv or argv[0] in ("bundle", "rehearse"))
        and "COMMAND" not in argv
        and "…" not in argv
    ]


def test_the_docs_show_release_tool_commands_that_run_offline() -> None:
    # Given the commands that need no account
    runnable = {deploy_argv(command.words())[0] for command in _runnable_offline()}

    # Then bundle and the help are among them (so the run below is not vacuous)
    assert {"bundle", "--help"} <= runnable


@pytest.mark.slow
@pytest.mark.parametrize("command", _runnable_offline(), ids=_ids(_runnable_offline()))
def test_release_tool_commands_that_need_no_account_run_and_exit_0(command: DocCommand, tmp_path: Path) -> None:
    # Given a copy of the sample revision beside a working directory, as in a fresh clone
    shutil.copytree(ROOT / "sample-app", tmp_path / "sample-app")
    env, _ = split_env(command.words())
    argv = deploy_argv(command.words())

    # When the line runs as written, with the project's interpreter
    result = subprocess.run(
        [_venv_python(), str(ROOT / "scripts" / "deploy.py"), *argv],
        cwd=tmp_path,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT / "scripts")},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    # Then it exits 0, as the docs say
    assert result.returncode == 0, (
        f"{command}: exit {result.returncode}\n{result.stdout[-800:]}\n{result.stderr[-800:]}"
    )


@pytest.mark.slow
def test_every_commands_help_runs_and_exits_0() -> None:
    # Given `python scripts/deploy.py COMMAND --help` (README, Releasing), for each command
    for argv in with_examples(["COMMAND", "--help"]):
        # When it runs
        result = subprocess.run(
            [_venv_python(), str(ROOT / "scripts" / "deploy.py"), *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # Then it prints the help and exits 0
        assert result.returncode == 0 and "usage:" in result.stdout, f"{argv}: {result.stderr}"


# ---------------------------------------------------------------------------------------------------------------------
# Other Python commands
# ---------------------------------------------------------------------------------------------------------------------


@_params("python-c")
def test_each_python_snippet_compiles(command: DocCommand) -> None:
    # Given `python -c '...'`
    code = split_env(command.words())[1][2]

    # Then it is valid Python
    compile(code, command.where, "exec")


@_params("python-module", "python-script")
def test_each_python_script_or_module_the_docs_run_exists_and_parses_its_arguments(command: DocCommand) -> None:
    # Given `python SCRIPT.py ...` or `python -m MODULE ...`
    words = split_env(command.words())[1]
    path = words[2].replace(".", "/") + ".py" if words[1] == "-m" else words[1]
    source = existing(path).read_text(encoding="utf-8")

    # Then the file is valid Python, and one given arguments reads them with argparse (run by the slow check below)
    compile(source, path, "exec")
    given = words[3:] if words[1] == "-m" else words[2:]
    assert not given or "argparse" in source, f"{command}: {path} has no argparse parser for {given}"


# Runs the script or module as __main__ but stops right after argparse has parsed the arguments: exit 0 when they
# parse, argparse's exit 2 otherwise; nothing of the script's work runs.
_PARSE_ONLY = """
import argparse, os, runpy, sys
parse = argparse.ArgumentParser.parse_args
def parse_then_stop(self, args=None, namespace=None):
    parse(self, args, namespace)
    sys.stdout.flush()
    os._exit(0)
argparse.ArgumentParser.parse_args = parse_then_stop
target, sys.argv = sys.argv[1], sys.argv[1:]
if target == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.path.insert(0, os.path.dirname(os.path.abspath(target)))  # as `python SCRIPT` puts the script's folder first
    runpy.run_path(target, run_name="__main__")
sys.exit("the script ended without parsing its arguments")
"""


@pytest.mark.slow
@_params("python-module", "python-script")
def test_each_python_script_or_module_accepts_the_arguments_the_docs_give(command: DocCommand) -> None:
    # Given `python SCRIPT.py ARGS` (with its environment, e.g. PYTHONPATH=lambdas)
    env, words = split_env(command.words())
    if words[1] != "-m" and len(words) == 2 and "argparse" not in (ROOT / words[1]).read_text(encoding="utf-8"):
        pytest.skip(f"{words[1]} takes no arguments; tests/stacks/test_app.py runs app.py without the CLI")
    extra = {name: str(ROOT / value) if name == "PYTHONPATH" else value for name, value in env.items()}
    path = os.pathsep.join(filter(None, [str(ROOT), extra.get("PYTHONPATH", "")]))

    # When it runs only as far as parsing its arguments
    result = subprocess.run(
        [_venv_python(), "-c", _PARSE_ONLY, *words[1:]],
        cwd=ROOT,
        env={**os.environ, **extra, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then argparse accepted them
    assert result.returncode == 0, f"{command}: {result.stderr[-800:]}"


# ---------------------------------------------------------------------------------------------------------------------
# cdk, aws, git
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@_params("cdk")
def test_each_cdk_command_and_option_exists_in_the_pinned_cli(command: DocCommand) -> None:
    # Given `cdk SUB --option value ...`
    # Then the pinned CLI has that command, those options and those values
    check_cdk_arguments(split_env(command.words())[1])


def _makefile_cdk_recipes() -> list[list[str]]:
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.startswith("\tcdk ")]


def test_the_makefile_runs_cdk_in_its_recipes() -> None:
    # The make targets the README gives (synth, bootstrap, diff, deploy) are cdk calls checked below
    assert {words[1] for words in _makefile_cdk_recipes()} >= {"synth", "bootstrap", "diff", "deploy"}


@pytest.mark.slow
@pytest.mark.parametrize("words", _makefile_cdk_recipes(), ids=" ".join)
def test_the_makefiles_cdk_recipes_use_commands_options_and_values_the_pinned_cli_has(words: list[str]) -> None:
    # Given a recipe line such as `cdk deploy --require-approval never --progress events`
    # Then the pinned CLI has that command, those options and those values
    check_cdk_arguments(words)


@pytest.mark.slow
@pytest.mark.parametrize(
    "words",
    [["cdk", "deplyo"], ["cdk", "deploy", "--require-approvals", "never"], ["cdk", "deploy", "--progress", "all"]],
)
def test_a_cdk_command_option_or_value_the_cli_lacks_fails_the_check(words: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_cdk_arguments(words)


@_params("aws")
def test_each_aws_cli_command_matches_the_service_model(command: DocCommand) -> None:
    # Given `aws SERVICE OPERATION --option value ...`
    # Then the operation, its options, required members, enum values and --query fields are the model's
    check_aws_arguments(split_env(command.words())[1])


@pytest.mark.parametrize(
    ("words", "why"),
    [
        (["aws", "deploy", "create-deployment", "--application-name", "a", "--auto-scaling-groups", "x"], "member"),
        (["aws", "cloudformation", "list-stacks", "--stack-status-filter", "DELETED"], "allowed"),
        (["aws", "logs", "delete-log-group"], "requires"),
        (["aws", "cloudformation", "describe-stacks", "--query", "Stacks[].StackNam"], "output"),
        (["aws", "cloudformation", "describe-stacks", "--query", "Stacks[?StackStatus=='DELETED']"], "allowed"),
        (
            ["aws", "cloudformation", "list-stacks", "--query", "StackSummaries[0].StackId", "--output", "text"],
            "each page",
        ),
    ],
)
def test_an_aws_command_the_model_does_not_allow_fails_the_check(words: list[str], why: str) -> None:
    # Given a wrong option, value, a missing required member, a field the output lacks, or an index per page
    # Then the check fails, saying which
    with pytest.raises(AssertionError, match=why):
        check_aws_arguments(words)


def test_create_deployment_takes_the_auto_scaling_groups_inside_target_instances_as_the_model_has_them() -> None:
    # Given CodeDeploy's CreateDeployment: autoScalingGroups is a member of targetInstances, not of the input (F96)
    # Then the CLI options derived from the model's top-level members are accepted, enum values included
    check_aws_arguments(
        [
            "aws",
            "deploy",
            "create-deployment",
            "--application-name",
            "app",
            "--target-instances",
            "autoScalingGroups=slot-b",
            "--no-ignore-application-stop-failures",
            "--file-exists-behavior",
            "OVERWRITE",
        ]
    )


@_params("git")
def test_each_path_a_git_command_names_exists(command: DocCommand) -> None:
    # Given `git diff PATH` / `git add PATH`
    paths = [word for word in command.words()[2:] if not word.startswith("-")]

    # Then each path is in the repository
    assert paths, str(command)
    for path in paths:
        existing(path)
