"""The stage flags of `status --all-stages`, `promote-revision` and `promote-waves` (release.cli): contradictions and
unknown stages refused offline (exit 2), each stage read in its own region, exit 8 when no stage could be read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from release import cli
from release.errors import ExitCode

from tests.release.test_promotion import STAGES, declared_stages  # noqa: F401 - the fixture


@pytest.fixture
def no_clients(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records every client set the command builds (there must be none for input refused offline)."""
    built: list[Any] = []

    def build(settings: Any) -> Any:
        built.append(settings)
        raise AssertionError(f"clients built for {settings}: the input should have been refused offline")

    monkeypatch.setattr(cli, "build_clients", build)
    return built


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def refused_clients(settings: Any) -> Any:
    """Clients of `settings`' region whose credentials CloudFormation refuses (expired token)."""
    cloudformation = boto3.client("cloudformation", region_name=settings.region)
    stubber = Stubber(cloudformation)
    stubber.add_client_error("describe_stacks", "ExpiredToken", "The security token expired", 403)
    stubber.activate()
    return cli.AwsClients(s3=None, autoscaling=None, codedeploy=None, cloudformation=cloudformation, elbv2=None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "--all-stages", "--follow"], "status --all-stages cannot --follow"),
        (["status", "--all-stages", "--stage", "production"], "--stage (or RELEASE_STAGE) names production"),
        (["promote-revision", "--from-stage", "staging", "--stage", "staging"], "--from-stage staging is the stage"),
        (["promote-waves", "--from-stage", "nope", "--wave", "production"], "--from-stage nope: stage 'nope' is not"),
        (["promote-revision", "--from-stage", "nope", "--stage", "production"], "--from-stage nope: stage 'nope'"),
    ],
)
@pytest.mark.usefixtures("declared_stages")
def test_contradictory_or_unknown_stage_flags_exit_2_before_any_client_is_built(
    no_clients: list[Any], argv: list[str], message: str, capsys: Any
) -> None:
    # When the stage flags contradict each other or name an undeclared stage
    code = cli.main(argv, env={"AWS_REGION": "eu-west-1"})
    # Then the command exits 2 with the reason and what to do, and AWS is never asked
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT, err
    assert message in err and "What to do:" in err
    assert no_clients == []


@pytest.mark.parametrize(
    "argv", [["status", "--all-stages"], ["promote-waves", "--from-stage", "staging", "--wave", "production"]]
)
def test_without_declared_stages_the_stage_wide_commands_say_so_first_even_without_a_region(
    monkeypatch: pytest.MonkeyPatch, no_clients: list[Any], argv: list[str], capsys: Any
) -> None:
    # Given a cdk.json without stages and no region anywhere
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: {})
    # When a command over every stage runs
    code = cli.main(argv, env={})
    # Then it says that no stages are declared (not that a region is missing), exit 2
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert err.startswith("cdk.json declares no stages"), err


@pytest.mark.usefixtures("declared_stages")
def test_status_all_stages_reads_each_stage_in_its_region_without_aws_region(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Given no region in the environment (each stage declares its own) and no stage deployed yet
    regions: list[str | None] = []
    build = cli.build_clients

    def recording(settings: Any) -> Any:
        regions.append(settings.region)
        return build(settings)

    monkeypatch.setattr(cli, "build_clients", recording)
    # When every stage's status is asked for
    code = cli.main(["status", "--all-stages"], env={})
    # Then each stage was read in its own region, and the answer (not deployed) counts as read: exit 0
    out = capsys.readouterr().out
    assert code == ExitCode.RELEASED, out
    assert regions == [stage["region"] for stage in STAGES]
    assert all(f"BlueGreenApp-{stage['name']}" in out for stage in STAGES)


@pytest.mark.usefixtures("declared_stages")
def test_status_all_stages_exits_8_when_no_stage_could_be_read(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    # Given credentials that every stage's region refuses
    monkeypatch.setattr(cli, "build_clients", refused_clients)
    # When every stage's status is asked for
    code = cli.main(["status", "--all-stages"], env={})
    # Then each stage's line says why, and the command exits 8 (AWS unavailable), not 0
    captured = capsys.readouterr()
    assert code == ExitCode.AWS_UNAVAILABLE, captured.err
    assert captured.out.count("ExpiredToken") == len(STAGES)
    assert "No stage could be read." in captured.err and "What to do:" in captured.err


@pytest.mark.usefixtures("declared_stages")
def test_promote_waves_builds_each_stages_clients_in_its_region_without_aws_region(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    # Given no region in the environment, and credentials every region refuses
    regions: list[str | None] = []

    def refused(settings: Any) -> Any:
        regions.append(settings.region)
        return refused_clients(settings)

    monkeypatch.setattr(cli, "build_clients", refused)
    # When staging's revision is promoted in one wave to production
    argv = ["promote-waves", "--from-stage", "staging", "--wave", "production", "--report-dir", str(tmp_path)]
    code = cli.main(argv, env={})
    # Then the clients were built for production's own region (no "no region" refusal), and the refused
    # credentials stop the wave with exit 8
    captured = capsys.readouterr()
    assert None not in regions and regions[0] == "eu-west-1", regions
    assert code == ExitCode.AWS_UNAVAILABLE, captured.err
