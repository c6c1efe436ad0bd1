"""The command line: parsing (flags win over environment), help, exit codes, and whole runs through `main`."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from release import cli, errors
from release.errors import ExitCode
from release.runtime import Runtime
from release.timeout import DURATION_FORMS

from tests.release import scenarios
from tests.release.fakes import FakeCodeDeploy, client_error
from tests.release.support import APP, BUCKET, GROUP, SLOT_A, SLOT_B, World

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = {
    "Resources": {"Marker": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "stack-marker"}}},
    "Outputs": {
        "ArtifactBucketName": {"Value": BUCKET},
        "ApplicationName": {"Value": APP},
        "DeploymentGroupName": {"Value": GROUP},
        "SlotAName": {"Value": SLOT_A},
        "SlotBName": {"Value": SLOT_B},
        "FleetMinSize": {"Value": "1"},
        "FleetDesiredSize": {"Value": "2"},
        "FleetMaxSize": {"Value": "4"},
        "SiteUrl": {"Value": "http://example.invalid"},
    },
}


def _clients(world: World, codedeploy) -> cli.AwsClients:
    return cli.AwsClients(
        s3=world.s3,
        autoscaling=world.autoscaling,
        codedeploy=codedeploy,
        cloudformation=world.cloudformation,
        elbv2=None,
    )


def _stack(world: World) -> None:
    world.cloudformation.create_stack(StackName="BlueGreenApp", TemplateBody=json.dumps(TEMPLATE))


def _invocation(argv: list[str], env: dict[str, str] | None = None) -> cli.Invocation:
    args = cli.build_parser().parse_args(argv)
    return cli.invocation_from(args, env or {})


# --- parsing --------------------------------------------------------------------------------------------------------


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return capsys.readouterr().out


def _listed_codes(text: str) -> set[int]:
    block = text[text.index("exit codes:") :]
    return {int(match) for match in re.findall(r"^  (\d)  ", block, flags=re.MULTILINE)}


def test_help_documents_every_exit_code_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    # When asking for the release command's help
    text = _help(["release"], capsys)
    # Then every exit code a release can end with, and the main variables, are explained
    assert _listed_codes(text) == {0, 1, 2, 3, 4, 5, 7, 8}
    for variable in (
        "S3_BUCKET",
        "APPLICATION_NAME",
        "DEPLOYMENT_GROUP_NAME",
        "SLOTS",
        "STACK_NAME",
        "AWS_ENDPOINT_URL_<SERVICE>",
        "AWS_PROFILE",
        "AWS_REGION",
        "IGNORE_APPLICATION_STOP_FAILURES",
        "FILE_EXISTS_BEHAVIOR",
    ):
        assert variable in text


@pytest.mark.parametrize("command", sorted(cli.COMMAND_EXIT_CODES))
def test_each_command_help_lists_exactly_its_own_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    # When asking for a command's help, Then it lists the codes that command can end with, and no other
    assert _listed_codes(_help([command], capsys)) == set(cli.COMMAND_EXIT_CODES[command])


def _module_closure(root: str) -> dict[str, ast.Module]:
    """Every module of the `release` package that `root` imports, directly or not, parsed."""
    seen: dict[str, ast.Module] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        seen[name] = tree
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("release"):
                todo.append(node.module)
            elif isinstance(node, ast.Import):
                todo.extend(alias.name for alias in node.names if alias.name.startswith("release"))
    return seen


def _raised_names(trees: list[ast.AST]) -> set[str]:
    """The exception classes `raise X(...)` names; a factory function (`raise make_error(...)`) counts as the class
    its return annotation names."""
    factories = {
        node.name: node.returns.id
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and isinstance(node.returns, ast.Name)
    }
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                names.add(factories.get(node.exc.func.id, node.exc.func.id))
    return names


def _caught_names(trees: Iterable[ast.AST]) -> set[str]:
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                names.update(kind.id for kind in kinds if isinstance(kind, ast.Name))
    return names


def test_bundle_help_lists_the_exit_codes_its_code_can_end_with(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the code `bundle` runs: the CLI's bundle command and every module `release.bundle` imports
    modules = _module_closure("release.bundle")
    command = next(
        node
        for node in ast.walk(ast.parse(Path(cli.__file__).read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "_cmd_bundle"
    )
    trees = [*modules.values(), command]
    # When deriving its exit codes: 0, and the code of every ReleaseError it raises; any other exception it raises
    # must be caught inside that code (else it would be a traceback); and no module of it talks to AWS (no exit 8)
    derived = {int(errors.ExitCode.RELEASED)}
    for name in _raised_names(trees):
        raised = getattr(errors, name, None)
        if isinstance(raised, type) and issubclass(raised, errors.ReleaseError):
            derived.add(int(raised.exit_code))
        else:
            assert name in _caught_names(trees), f"{name} escapes `bundle` as a traceback"
    for tree in modules.values():
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(module.split(".")[0] in ("boto3", "botocore") for module in imported)
    # Then the help lists exactly those codes
    assert derived == {0, 2, 4}
    assert _listed_codes(_help(["bundle"], capsys)) == derived


def test_a_flag_wins_over_its_environment_variable() -> None:
    # Given S3_BUCKET in the environment and --bucket on the command line
    invocation = _invocation(["release", "--bucket", "from-flag"], {"S3_BUCKET": "from-env", "APPLICATION_NAME": "a"})
    # Then the flag's value is used, the variable fills what the flags leave out
    assert invocation.targets.bucket == "from-flag"
    assert invocation.targets.application == "a"


def test_the_default_stack_is_read_when_targets_are_incomplete() -> None:
    # Given only a bucket
    invocation = _invocation(["status", "--bucket", "b"])
    # Then the default stack fills the rest
    assert invocation.targets.stack_name == "BlueGreenApp"


def test_complete_explicit_targets_need_no_stack() -> None:
    # Given every target explicitly
    invocation = _invocation(
        ["status"], {"S3_BUCKET": "b", "APPLICATION_NAME": "a", "DEPLOYMENT_GROUP_NAME": "g", "SLOTS": "x,y"}
    )
    # Then no stack is read
    assert invocation.targets.stack_name is None
    assert invocation.targets.slots == ("x", "y")


def test_an_explicit_target_group_is_taken_from_its_flag_or_variable() -> None:
    invocation = _invocation(["status", "--target-group", "arn:flag"], {"TARGET_GROUP_ARN": "arn:env"})
    assert invocation.targets.target_group_arn == "arn:flag"
    assert _invocation(["status"], {"TARGET_GROUP_ARN": "arn:env"}).targets.target_group_arn == "arn:env"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("1H30M", 5400), ("1h0m5s", 3605)],
)
def test_a_duration_is_read_in_seconds_minutes_and_hours(text: str, seconds: int) -> None:
    # When a duration is given as the flag, Then the release gets it in seconds
    assert _invocation(["release", "--timeout", text]).release.timeout_seconds == seconds


@pytest.mark.parametrize(
    "text", ["30x", "1.5h", "nan", "inf", "-5", "m", "30m1h", "1h 30m", "90ss", "0", "0s", "1h30", "1m30", "30m90s"]
)
def test_a_duration_that_is_not_one_is_refused_in_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    # When the flag is not a duration (or is zero)
    code = cli.main(["release", "--timeout", text, "--app-dir", "sample-app"], env={})
    # Then it exits 2 with one line naming the flag and the accepted forms: no argparse usage dump, nothing read
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert err.count("\n") == 1 and "usage:" not in err
    assert err.startswith(f"--timeout {text!r} ") and "1h30m" in err


@pytest.mark.parametrize(
    ("argv", "env", "source"),
    [
        (["release"], {"RELEASE_TIMEOUT": "30x"}, "RELEASE_TIMEOUT='30x'"),
        (["release", "--scale-timeout", "30x"], {}, "--scale-timeout '30x'"),
        (["release"], {"SCALE_TIMEOUT": "30x"}, "SCALE_TIMEOUT='30x'"),
        (["release", "--cleanup-timeout", "30x"], {}, "--cleanup-timeout '30x'"),
        (["release"], {"CLEANUP_TIMEOUT": "30x"}, "CLEANUP_TIMEOUT='30x'"),
        (["status", "--follow", "--timeout", "30x"], {}, "--timeout '30x'"),
    ],
)
def test_every_duration_flag_and_variable_gets_the_same_message(
    argv: list[str], env: dict[str, str], source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When any duration option or variable is not a duration
    code = cli.main([*argv, "--app-dir", "sample-app"] if argv[0] == "release" else argv, env=env)
    # Then the one parser answers: the same single line, naming where the text came from
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert err == f"{source} is not a duration: write {DURATION_FORMS}\n"


def test_a_variable_and_its_flag_take_the_same_durations() -> None:
    # Given the same durations as variables
    env = {"RELEASE_TIMEOUT": "1h30m", "SCALE_TIMEOUT": "10m", "CLEANUP_TIMEOUT": "90s"}
    # Then they are read as the flags would be
    args = _invocation(["release"], env).release
    assert (args.timeout_seconds, args.scale_timeout_seconds, args.cleanup_timeout_seconds) == (5400, 600, 90)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["rehearse", "--app-dir", "x", "--stop-timeout", "3x"], "argument --stop-timeout: '3x' is not a duration"),
        (["rehearse", "--app-dir", "x", "--healthy-within", "1.5m"], "argument --healthy-within: '1.5m' is not a dura"),
        (["release", "--live", "--plain"], "argument --plain: not allowed with argument --live"),
        (["deploy"], "invalid choice: 'deploy'"),
    ],
)
def test_what_argparse_refuses_is_one_line_too(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When argparse itself refuses an argument (the rehearsal's durations go through the same duration parser)
    with pytest.raises(SystemExit) as ended:
        cli.main(argv, env={})
    # Then it exits 2 with one line saying what and where help is, not the usage dump
    err = capsys.readouterr().err
    assert ended.value.code == ExitCode.BAD_INPUT
    assert err.count("\n") == 1 and expected in err and "usage:" not in err
    assert "--help` lists the options" in err


def test_the_rehearsal_takes_durations_like_the_release() -> None:
    args = cli.build_parser().parse_args(
        ["rehearse", "--app-dir", "x", "--stop-timeout", "2m", "--healthy-within", "90s"]
    )
    assert (args.stop_timeout, args.healthy_within) == (120.0, 90.0)


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["status", "--fleet-min", "x"], {}), (["status"], {"AWS_MAX_ATTEMPTS": "ten"}), (["status", "--last", "-1"], {})],
)
def test_a_number_that_is_not_one_is_refused_in_one_line(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # When a whole-number option is not one, Then exit 2 with one line, no usage dump
    assert cli.main(argv, env=env) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "whole number" in err


def test_slots_must_name_two_groups(capsys: pytest.CaptureFixture[str]) -> None:
    # When SLOTS names one group
    code = cli.main(["status"], env={"SLOTS": "only-one"})
    # Then it exits 2 and says how to write it
    assert code == ExitCode.BAD_INPUT
    assert "SLOT_A,SLOT_B" in capsys.readouterr().err


def test_a_partial_fleet_size_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # When only --fleet-min is given
    code = cli.main(["status", "--fleet-min", "1"], env={})
    # Then it exits 2 naming the missing flags
    assert code == ExitCode.BAD_INPUT
    assert "--fleet-desired" in capsys.readouterr().err


def test_release_without_an_app_dir_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # When releasing with no --app-dir
    code = cli.main(["release"], env={}, clients=_clients(world, world.codedeploy()))
    # Then it exits 2 with what to do
    assert code == ExitCode.BAD_INPUT
    assert "--app-dir" in capsys.readouterr().err


def test_retry_settings_default_to_adaptive_with_ten_attempts() -> None:
    # When nothing is said about retries
    invocation = _invocation(["status"])
    # Then adaptive retries with 10 attempts are used
    assert (invocation.aws.retry_mode, invocation.aws.max_attempts) == ("adaptive", 10)


def test_clients_honour_aws_endpoint_url_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a per-service endpoint override in the environment
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", "http://127.0.0.1:4999")
    # When the clients are built
    clients = cli.build_clients(cli.AwsSettings(None, "eu-west-1", "standard", 3))
    # Then CodeDeploy goes to the override and S3 does not
    assert clients.codedeploy.meta.endpoint_url == "http://127.0.0.1:4999"
    assert "127.0.0.1" not in clients.s3.meta.endpoint_url


# --- bundle ---------------------------------------------------------------------------------------------------------


def test_bundle_prints_the_path_and_hash(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # When bundling a valid revision
    code = cli.main(["bundle", "--app-dir", str(world.app_dir), "--bundle-dir", str(tmp_path / "b")], env={})
    # Then it exits 0 and prints the bundle and its sha256
    out = capsys.readouterr().out
    assert code == 0
    assert "sha256  " in out and ".zip" in out


def test_bundle_says_what_the_agent_accepts_but_warns_about(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a revision with an event key left without scripts (the agent skips it)
    revision = tmp_path / "rev"
    (revision / "app").mkdir(parents=True)
    (revision / "app" / "index.html").write_text("ok\n")
    (revision / "appspec.yml").write_text(
        "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /opt/site\nhooks:\n  BeforeInstall:\n"
    )
    # When it is bundled, Then it is accepted and the warning is printed
    assert cli.main(["bundle", "--app-dir", str(revision), "--bundle-dir", str(tmp_path / "out")]) == 0
    assert "warning: " in capsys.readouterr().err


def test_bundle_of_an_invalid_appspec_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an appspec for Windows
    (world.app_dir / "appspec.yml").write_text("version: 0.0\nos: windows\n")
    # When bundling
    code = cli.main(["bundle", "--app-dir", str(world.app_dir)], env={})
    # Then it exits 2 naming the key
    assert code == ExitCode.BAD_INPUT
    assert "os" in capsys.readouterr().err


def test_ci_true_makes_the_release_print_plain_lines_unless_live_is_asked_for() -> None:
    # Given CI=true (as GitHub Actions and Bitbucket Pipelines set it) and NO_COLOR
    env = {"CI": "true", "NO_COLOR": "1"}
    # When parsing a release without, and with, --live
    plain = _invocation(["release"], env).release
    live = _invocation(["release", "--live"], env).release
    # Then CI forces the plain view, the flag wins, and the live table would have no colour
    assert plain.live_view is False and live.live_view is True
    assert plain.colour is False and _invocation(["release"], {}).release.colour is True


# --- whole runs -----------------------------------------------------------------------------------------------------


def _release_argv(world: World, tmp_path: Path) -> list[str]:
    return [
        "release",
        "--stack",
        "BlueGreenApp",
        "--app-dir",
        str(world.app_dir),
        "--report-dir",
        str(tmp_path / "report"),
        "--plain",
    ]


def test_a_release_through_main_reads_the_stack_and_writes_the_report(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack's outputs in CloudFormation and slot A live
    _stack(world)
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    # When releasing through main
    code = cli.main(
        _release_argv(world, tmp_path),
        env={"GITHUB_SHA": "abc"},
        clients=_clients(world, codedeploy),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    # Then it exits 0, prints the summary and writes the JSON summary and the timeline
    out = capsys.readouterr().out
    assert code == 0
    assert f"{SLOT_A} -> {SLOT_B}" in out
    summary = json.loads((tmp_path / "report" / "release-summary.json").read_text())
    assert summary["outcome"] == "released" and summary["slots"]["liveAfter"] == SLOT_B
    assert (tmp_path / "report" / "timeline.svg").read_text().startswith("<")


def test_a_failed_release_through_main_exits_1_and_annotates_github(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a failing deployment, running in GitHub Actions
    _stack(world)
    world.scale(SLOT_A, 2)
    summary_file = tmp_path / "step-summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary_file)}
    codedeploy = world.codedeploy(SLOT_A, scenarios.failure_at_after_install())
    # When releasing
    code = cli.main(
        _release_argv(world, tmp_path),
        env=env,
        clients=_clients(world, codedeploy),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    # Then it exits 1 with an error annotation and a step summary naming the failure
    out = capsys.readouterr().out
    assert code == ExitCode.DEPLOYMENT_FAILED
    assert "::error title=release deployment failed::" in out
    step_summary = summary_file.read_text()
    assert "AfterInstall failed" in step_summary
    # And the text, the JSON and the step summary link the deployment and CodeDeploy's rollback (F72)
    (deployment_id,) = codedeploy.created
    rollback_id = codedeploy.rollbacks[deployment_id]
    links = json.loads((tmp_path / "report" / "release-summary.json").read_text())["links"]
    for shown in (out, step_summary, json.dumps(links)):
        assert f"/codesuite/codedeploy/deployments/{deployment_id}?region=eu-west-1" in shown
        assert f"/codesuite/codedeploy/deployments/{rollback_id}?region=eu-west-1" in shown


def test_a_missing_stack_exits_2_with_what_to_do(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # When naming a stack that does not exist
    code = cli.main(["status", "--stack", "NoSuchStack"], env={}, clients=_clients(world, world.codedeploy()))
    # Then it exits 2 and suggests deploying or giving explicit targets
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert "NoSuchStack" in err and "What to do:" in err


def test_status_shows_the_live_slot_and_the_deployment_in_flight(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given slot A live and a deployment in progress
    _stack(world)
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A)
    running = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=2)
    # When asking for the status
    code = cli.main(["status"], env={}, clients=_clients(world, codedeploy))
    # Then the live slot and the running deployment are shown
    out = capsys.readouterr().out
    assert code == 0
    assert f"live slot         {SLOT_A}" in out
    assert f"in flight         {running}" in out


def test_stop_stops_the_deployment_in_flight_with_rollback(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a deployment in progress
    _stack(world)
    codedeploy = world.codedeploy(SLOT_A)
    running = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=2)
    # When stopping
    code = cli.main(["stop"], env={}, clients=_clients(world, codedeploy))
    # Then StopDeployment was called with automatic rollback, and the deployment's console page is printed
    assert code == 0
    assert codedeploy.called("stop_deployment") == [{"deploymentId": running, "autoRollbackEnabled": True}]
    assert f"/codesuite/codedeploy/deployments/{running}?region=eu-west-1" in capsys.readouterr().out


def test_rollback_redeploys_the_previous_successful_revision(world: World, tmp_path: Path) -> None:
    # Given two successful releases (old.zip, then current.zip now live on slot A)
    _stack(world)
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, revision_key="old.zip", minutes_ago=120)
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A, revision_key="current.zip", minutes_ago=60)
    # When rolling back
    code = cli.main(
        ["rollback", "--report-dir", str(tmp_path / "r"), "--plain"],
        env={},
        clients=_clients(world, codedeploy),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    # Then the old revision was deployed onto the idle slot, and the report links that deployment
    assert code == 0
    (call,) = codedeploy.called("create_deployment")
    assert call["revision"]["s3Location"]["key"] == "old.zip"
    assert call["targetInstances"] == {"autoScalingGroups": [SLOT_B]}
    links = json.loads((tmp_path / "r" / "release-summary.json").read_text())["links"]
    assert links["deployment"].endswith(f"/deployments/{codedeploy.created[0]}?region=eu-west-1")


def test_rollback_without_an_earlier_release_exits_2(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a single successful release
    _stack(world)
    codedeploy = world.codedeploy(SLOT_A)
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_A, revision_key="only.zip")
    # When rolling back
    code = cli.main(["rollback"], env={}, clients=_clients(world, codedeploy))
    # Then it exits 2 and says how to release a wanted revision instead
    assert code == ExitCode.BAD_INPUT
    assert "--app-dir" in capsys.readouterr().err


# --- a real process against a local endpoint ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_the_script_honours_aws_endpoint_url_and_exits_2_for_a_missing_bucket(world: World, tmp_path: Path) -> None:
    # Given a local S3 stand-in (moto_server) and explicit targets naming a bucket it does not have
    port = _free_port()
    # moto[server] is a test requirement: its entry point sits beside the interpreter running the tests.
    server_bin = str(Path(sys.executable).parent / "moto_server")
    server = subprocess.Popen([server_bin, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "S3_BUCKET": "absent-bucket",
            "APPLICATION_NAME": APP,
            "DEPLOYMENT_GROUP_NAME": GROUP,
            "SLOTS": f"{SLOT_A},{SLOT_B}",
            "FLEET_MIN_SIZE": "1",
            "FLEET_DESIRED_SIZE": "2",
            "FLEET_MAX_SIZE": "4",
        }
        # When running the script as CI would
        done = subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts/deploy.py"),
                "release",
                "--app-dir",
                str(world.app_dir),
                "--report-dir",
                str(tmp_path / "r"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    # Then it exits 2, says the bucket is missing, and prints no control characters
    assert done.returncode == ExitCode.BAD_INPUT, done.stderr + done.stdout
    assert "absent-bucket" in done.stdout
    assert "\x1b" not in done.stdout


# --- AWS unreachable or refusing (issue 12 §5) ------------------------------------------------------------------------


class _Refusing:
    """A CodeDeploy client whose every call AWS refuses or cannot be reached for."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __getattr__(self, name: str):
        def call(*_args, **_kwargs):
            raise self._error

        return call


def test_missing_permissions_exit_8_and_status_does_not_tell_to_run_status(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given credentials that may not read the deployment group
    _stack(world)
    denied = client_error("AccessDeniedException", "GetDeploymentGroup", "not authorized to codedeploy:Get*")
    # When running status
    code = cli.main(["status"], env={}, clients=_clients(world, _Refusing(denied)))
    # Then it exits 8 (not 1, "deployment failed"), naming what helps, and not `status` itself
    err = capsys.readouterr().err
    assert code == ExitCode.AWS_UNAVAILABLE
    assert "aws sts get-caller-identity" in err
    assert "deploy.py status" not in err


def test_an_unreachable_endpoint_during_a_release_exits_8_having_touched_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a CodeDeploy endpoint that cannot be reached (a region typo resolves to a host that does not exist)
    _stack(world)
    world.scale(SLOT_A, 2)
    unreachable = EndpointConnectionError(endpoint_url="https://codedeploy.eu-wset-1.amazonaws.com/")
    # When releasing
    code = cli.main(
        [
            "release",
            "--app-dir",
            str(world.app_dir),
            "--report-dir",
            str(tmp_path / "r"),
        ],
        env={},
        clients=_clients(world, _Refusing(unreachable)),
    )
    # Then it exits 8 with the reason, and no slot was scaled
    out = capsys.readouterr().out
    assert code == ExitCode.AWS_UNAVAILABLE
    assert "eu-wset-1" in out
    assert world.slot(SLOT_B)["DesiredCapacity"] == 0


# --- CreateDeployment options (issue 16, parity with `aws deploy create-deployment`) ----------------------------------


def _release_with(world: World, tmp_path: Path, extra: list[str], env: dict[str, str]):
    _stack(world)
    world.scale(SLOT_A, 2)
    codedeploy = world.codedeploy(SLOT_A, scenarios.success())
    code = cli.main(
        [*_release_argv(world, tmp_path), *extra],
        env=env,
        clients=_clients(world, codedeploy),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    return code, codedeploy


@pytest.mark.parametrize(
    ("extra", "env"),
    [
        (["--ignore-application-stop-failures", "--file-exists-behavior", "overwrite"], {}),
        ([], {"IGNORE_APPLICATION_STOP_FAILURES": "true", "FILE_EXISTS_BEHAVIOR": "OVERWRITE"}),
    ],
)
def test_stop_failures_and_file_exists_options_reach_create_deployment(
    world: World, tmp_path: Path, extra: list[str], env: dict[str, str]
) -> None:
    # When releasing with both options, as flags or as variables
    code, codedeploy = _release_with(world, tmp_path, extra, env)
    # Then CreateDeployment (checked against CodeDeploy's service model) carries them
    assert code == 0
    (call,) = codedeploy.called("create_deployment")
    assert call["ignoreApplicationStopFailures"] is True
    assert call["fileExistsBehavior"] == "OVERWRITE"


def test_without_the_options_codedeploy_keeps_its_defaults(world: World, tmp_path: Path) -> None:
    # When releasing without them
    code, codedeploy = _release_with(world, tmp_path, [], {})
    # Then neither is sent: CodeDeploy's own defaults apply (stop failures fail, DISALLOW)
    (call,) = codedeploy.called("create_deployment")
    assert code == 0
    assert "ignoreApplicationStopFailures" not in call and "fileExistsBehavior" not in call


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["release", "--file-exists-behavior", "REPLACE"], {}, "--file-exists-behavior 'REPLACE'"),
        (["release"], {"FILE_EXISTS_BEHAVIOR": "keep"}, "FILE_EXISTS_BEHAVIOR='keep'"),
        (["release"], {"IGNORE_APPLICATION_STOP_FAILURES": "maybe"}, "IGNORE_APPLICATION_STOP_FAILURES='maybe'"),
    ],
)
def test_a_create_deployment_option_out_of_range_is_refused_in_one_line(
    argv: list[str], env: dict[str, str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When an option has a value CodeDeploy does not know, Then exit 2 in one line naming it, before any AWS call
    assert cli.main([*argv, "--app-dir", "sample-app"], env=env) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(named) and err.count("\n") == 1


# --- an answer of an unexpected shape (issue 12 leftovers) ------------------------------------------------------------


class _ShapelessGroup(FakeCodeDeploy):
    """CodeDeploy (or a stand-in for it) whose GetDeploymentGroup answers without `deploymentGroupInfo`."""

    def get_deployment_group(self, **params):
        self.calls.append(("get_deployment_group", params))
        return {"ResponseMetadata": {}}


class _ShapelessDeployment(FakeCodeDeploy):
    """GetDeployment answers without `deploymentInfo` once the deployment exists."""

    def get_deployment(self, **params):
        self.calls.append(("get_deployment", params))
        return {}


def test_an_answer_without_a_field_the_tool_reads_is_exit_8_with_a_clear_message(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment group read whose answer lacks deploymentGroupInfo
    _stack(world)
    codedeploy = _ShapelessGroup(APP, GROUP, SLOT_A)
    # When asking for the status
    code = cli.main(["status"], env={}, clients=_clients(world, codedeploy))
    # Then it exits 8 naming the call and the missing field, not a traceback (exit 1, "deployment failed")
    err = capsys.readouterr().err
    assert code == ExitCode.AWS_UNAVAILABLE
    assert "GetDeploymentGroup answered without 'deploymentGroupInfo'" in err
    assert "Traceback" not in err and "AWS_ENDPOINT_URL" in err


def test_a_shapeless_answer_while_following_a_release_is_exit_8_not_a_failed_deployment(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a release whose GetDeployment answers come back without deploymentInfo
    _stack(world)
    world.scale(SLOT_A, 2)
    codedeploy = _ShapelessDeployment(APP, GROUP, SLOT_A, script=scenarios.success())
    # When releasing
    code = cli.main(
        _release_argv(world, tmp_path),
        env={},
        clients=_clients(world, codedeploy),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    # Then it exits 8 (AWS answered something unusable), names GetDeployment, and never says "deployment failed"
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "report" / "release-summary.json").read_text())
    assert code == ExitCode.AWS_UNAVAILABLE
    assert "GetDeployment answered without 'deploymentInfo'" in summary["message"]
    assert "deployment failed" not in out
