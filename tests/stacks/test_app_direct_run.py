"""`python app.py` run without the CDK CLI reads cdk.json's context itself (app.direct_run_context)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import direct_run_context
from bluegreen.config import ConfigError
from tests.stacks.test_app import REPO, clean_env


def write_cdk_json(directory: Path, context: dict) -> Path:
    path = directory / "cdk.json"
    path.write_text(json.dumps({"app": "python3 app.py", "context": context}), encoding="utf-8")
    return path


def run_app_directly(
    tmp_path: Path, context: dict, region: str | None = "eu-west-1"
) -> subprocess.CompletedProcess[str]:
    """app.py run as `python app.py` (no CDK_CONTEXT_JSON) from a project whose cdk.json holds `context`."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "app.py", project / "app.py")
    write_cdk_json(project, context)
    env = clean_env()
    env.update({"PYTHONPATH": str(REPO), "CDK_OUTDIR": str(tmp_path / "out")})
    if region is not None:
        env["AWS_REGION"] = region
    return subprocess.run(
        [sys.executable, "app.py"], cwd=project, env=env, capture_output=True, text=True, check=False, timeout=300
    )


@pytest.mark.parametrize("variable", ["CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV"])
def test_under_the_cdk_cli_the_app_leaves_the_context_to_the_cli(tmp_path: Path, variable: str) -> None:
    # Given the CLI passed the context (inline or, when large, in a file)
    path = write_cdk_json(tmp_path, {"instanceType": "t3.small"})
    # Then the app does not read cdk.json a second time (the CLI's -c values would be overridden)
    assert direct_run_context({variable: "{}"}, path) is None


def test_run_directly_the_app_takes_cdk_jsons_context(tmp_path: Path) -> None:
    path = write_cdk_json(tmp_path, {"instanceType": "t3.small", "@aws-cdk/core:checkSecretUsage": True})
    assert direct_run_context({}, path) == {"instanceType": "t3.small", "@aws-cdk/core:checkSecretUsage": True}


def test_run_directly_an_unreadable_cdk_json_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "cdk.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot be read as cdk\.json"):
        direct_run_context({}, path)


def test_python_app_py_refuses_a_misspelt_instance_type_in_cdk_json(tmp_path: Path) -> None:
    # Given a cdk.json with a misspelt instance type
    # When app.py is run directly, without the CDK CLI
    result = run_app_directly(tmp_path, {"instanceType": "t3.mirco"})

    # Then it refuses it with exit 2, as `cdk synth` does, and writes no template
    assert result.returncode == 2, result.stderr
    assert "t3.mirco" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "out").glob("*.template.json"))


@pytest.mark.slow
def test_python_app_py_builds_one_stack_per_stage_cdk_json_declares(tmp_path: Path) -> None:
    # Given a cdk.json declaring two stages, and no region in the environment (each stage names its own)
    stages = [{"name": "staging", "region": "eu-west-1"}, {"name": "production", "region": "eu-central-1"}]

    # When app.py is run directly
    result = run_app_directly(tmp_path, {"stages": stages}, region=None)

    # Then it synthesizes the stages' stacks, not the single default stack
    assert result.returncode == 0, result.stderr
    templates = sorted(path.name for path in (tmp_path / "out").glob("*.template.json"))
    assert templates == ["BlueGreenApp-production.template.json", "BlueGreenApp-staging.template.json"]
