"""`promote-waves` without `--wave` runs the waves cdk.json declares (setting `waves`, bluegreen.stages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from release import cli
from release.errors import ExitCode

from tests.release.support import REGION

STAGES = [
    {"name": "staging", "region": REGION},
    {"name": "production-eu", "region": REGION},
    {"name": "production-us", "region": "us-east-1"},
    {"name": "production-ap", "region": "ap-southeast-2"},
]
OWN = cli.AwsClients(s3=None, autoscaling=None, codedeploy=None, cloudformation=None, elbv2=None)


def _promoted(monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]) -> list[str]:
    """Releases recorded instead of run: the stage each promote-revision was given, in order."""
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: context)
    monkeypatch.setattr(cli, "build_clients", lambda settings: f"clients of {settings.region}")
    promoted: list[str] = []

    def promote(invocation: cli.Invocation, clients: Any, runtime: Any) -> int:
        promoted.append(str(invocation.stages.stage))
        return 0

    monkeypatch.setattr(cli, "_cmd_promote_revision", promote)
    return promoted


def test_without_wave_flags_the_waves_declared_in_cdk_json_are_run_in_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given cdk.json declaring two waves
    waves = [["production-us"], ["production-ap", "production-eu"]]
    promoted = _promoted(monkeypatch, {"stages": STAGES, "waves": waves})
    # When promote-waves runs without --wave
    argv = ["promote-waves", "--from-stage", "staging", "--report-dir", str(tmp_path)]
    code = cli.main(argv, env={"AWS_REGION": REGION}, clients=OWN)
    # Then every stage of the declared waves is released, wave by wave
    assert code == ExitCode.RELEASED
    assert promoted == ["production-us", "production-ap", "production-eu"]


def test_wave_flags_take_precedence_over_the_declared_waves(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    promoted = _promoted(monkeypatch, {"stages": STAGES, "waves": [["production-us"], ["production-eu"]]})
    argv = ["promote-waves", "--from-stage", "staging", "--wave", "production-ap", "--report-dir", str(tmp_path)]
    assert cli.main(argv, env={"AWS_REGION": REGION}, clients=OWN) == ExitCode.RELEASED
    assert promoted == ["production-ap"]


def test_without_wave_flags_or_declared_waves_nothing_is_released_and_the_exit_is_2(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    promoted = _promoted(monkeypatch, {"stages": STAGES})
    code = cli.main(["promote-waves", "--from-stage", "staging"], env={"AWS_REGION": REGION}, clients=OWN)
    assert code == ExitCode.BAD_INPUT
    assert promoted == []
    assert "promote-waves needs its waves" in capsys.readouterr().err


def test_declared_waves_naming_an_undeclared_stage_release_nothing_and_name_the_wave(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    promoted = _promoted(monkeypatch, {"stages": STAGES, "waves": [["production-eu"], ["production-mars"]]})
    code = cli.main(["promote-waves", "--from-stage", "staging"], env={"AWS_REGION": REGION}, clients=OWN)
    assert code == ExitCode.BAD_INPUT
    assert promoted == []
    assert "wave 2: stage 'production-mars' is not declared" in capsys.readouterr().err
