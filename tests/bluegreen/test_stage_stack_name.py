"""`make deploy STAGE=...` / `make diff STAGE=...` act on exactly that stage's stack (bluegreen.stages main)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bluegreen.stages import main

ROOT = Path(__file__).resolve().parents[2]


def cdk_json(tmp_path: Path, stages: list[dict]) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"app": "python3 app.py", "context": {"stages": stages}}), encoding="utf-8")
    return path


def us_and_production_us(tmp_path: Path) -> Path:
    return cdk_json(tmp_path, [{"name": "us", "region": "us-east-1"}, {"name": "production-us", "region": "us-east-1"}])


def test_the_stack_name_of_stage_us_is_its_own_not_production_us_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given stages `us` and `production-us` (both stack names end in "-us")
    path = us_and_production_us(tmp_path)

    # When the Makefile's helper names the stack of STAGE=us
    code = main(["stack-name", "us"], cdk_json=path)

    # Then it prints exactly that one stack name
    assert code == 0
    assert capsys.readouterr().out.splitlines() == ["BlueGreenApp-us"]


def test_an_undeclared_stage_exits_2_with_one_line_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given stages `us` and `production-us`
    path = us_and_production_us(tmp_path)

    # When the helper is asked for a stage that is not declared
    code = main(["stack-name", "eu"], cdk_json=path)

    # Then it exits 2 with the declared stages named and what to do, printing no stack name
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    problem, hint = captured.err.strip().splitlines()
    assert "'eu' is not declared" in problem and "production-us" in problem
    assert hint.startswith("What to do:")


@pytest.mark.parametrize("target", ["deploy", "diff"])
def test_make_with_a_stage_checks_it_first_then_gives_cdk_its_exact_stack_name_never_a_glob(target: str) -> None:
    # When make prints what `make TARGET STAGE=us` would run
    result = subprocess.run(
        ["make", "-n", target, "STAGE=us"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )

    # Then a line of its own checks the stage (make stops at a failing line), before any cdk command,
    # and cdk gets the helper's one name, not a wildcard matching other stages' stacks
    lines = result.stdout.splitlines()
    helper = ".venv/bin/python -m bluegreen.stages stack-name 'us'"
    check = lines.index(f"{helper} >/dev/null")
    cdk = next(number for number, line in enumerate(lines) if line.startswith(f"cdk {target}"))
    assert check < cdk
    assert lines[cdk].endswith(f'"$({helper})"')
    assert "*" not in result.stdout


def test_the_stage_check_fails_for_an_undeclared_stage_so_make_stops_there() -> None:
    # Given the repository's cdk.json
    # When the Makefile's stage check runs for a stage it does not declare
    result = subprocess.run(
        [sys.executable, "-m", "bluegreen.stages", "stack-name", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # Then it exits 2 (make stops the recipe there) with what to do, and prints no stack name
    assert result.returncode == 2
    assert result.stdout == ""
    assert "What to do:" in result.stderr
    assert "Traceback" not in result.stderr
