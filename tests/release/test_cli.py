"""The command line: parsing (flags win over environment), help, exit codes, and whole runs through `main`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from release import cli
from release.errors import ExitCode
from release.runtime import Runtime

from tests.release import scenarios
from tests.release.fakes import client_error
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


def test_help_documents_every_exit_code_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    # When asking for the release command's help
    with pytest.raises(SystemExit):
        cli.main(["release", "--help"])
    text = capsys.readouterr().out
    # Then every exit code and the main variables are explained
    for code in (0, 1, 2, 3, 4, 5, 7, 8):
        assert f"\n  {code}  " in text
    for variable in (
        "S3_BUCKET",
        "APPLICATION_NAME",
        "DEPLOYMENT_GROUP_NAME",
        "SLOTS",
        "STACK_NAME",
        "AWS_ENDPOINT_URL_<SERVICE>",
        "AWS_PROFILE",
        "AWS_REGION",
    ):
        assert variable in text


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
    ("argv", "env"),
    [
        (["release", "--timeout", "nan"], {}),
        (["release", "--timeout", "inf"], {}),
        (["release"], {"RELEASE_TIMEOUT": "nan"}),
        (["release", "--scale-timeout", "nan"], {}),
    ],
)
def test_a_timeout_that_could_never_pass_is_refused(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # When a timeout is not a finite number, Then it exits 2 naming it, before anything is read or written
    assert cli.main([*argv, "--app-dir", "sample-app"], env=env) == ExitCode.BAD_INPUT
    assert "finite" in capsys.readouterr().err


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
        "--bundle-dir",
        str(tmp_path / "bundles"),
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
    assert "AfterInstall failed" in summary_file.read_text()


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


def test_stop_stops_the_deployment_in_flight_with_rollback(world: World) -> None:
    # Given a deployment in progress
    _stack(world)
    codedeploy = world.codedeploy(SLOT_A)
    running = codedeploy.add_deployment(status="InProgress", target_slot=SLOT_B, minutes_ago=2)
    # When stopping
    code = cli.main(["stop"], env={}, clients=_clients(world, codedeploy))
    # Then StopDeployment was called with automatic rollback
    assert code == 0
    assert codedeploy.called("stop_deployment") == [{"deploymentId": running, "autoRollbackEnabled": True}]


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
    # Then the old revision was deployed onto the idle slot
    assert code == 0
    (call,) = codedeploy.called("create_deployment")
    assert call["revision"]["s3Location"]["key"] == "old.zip"
    assert call["targetInstances"] == {"autoScalingGroups": [SLOT_B]}


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
                "--bundle-dir",
                str(tmp_path / "b"),
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
            "--bundle-dir",
            str(tmp_path / "b"),
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
