"""Each Lambda asset holds exactly its own package, and its handler imports with nothing but that asset on the path
(plus the SDK, which the Lambda runtime provides)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.lambda_code import handler_name
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow


def asset_of(synthesized: Synthesized, package: str) -> Path:
    (asset,) = [path for path in synthesized.template_path.parent.glob("asset.*") if (path / package).is_dir()]
    return asset


@pytest.mark.parametrize("package", ["drain", "deployment_group", "join"])
def test_asset_holds_only_its_own_package(default_stack: Synthesized, package: str) -> None:
    asset = asset_of(default_stack, package)
    assert sorted(entry.name for entry in asset.iterdir()) == [package]
    assert not list(asset.rglob("__pycache__"))


@pytest.mark.parametrize("package", ["drain", "deployment_group", "join", "finisher"])
def test_handler_imports_from_its_asset_alone(default_stack: Synthesized, package: str) -> None:
    asset = asset_of(default_stack, package)
    module, _, function = handler_name(package).rpartition(".")
    env = {**os.environ, "PYTHONPATH": str(asset)}
    # -P: the working directory is not put on sys.path, so the repository cannot leak into the import.
    result = subprocess.run(
        [sys.executable, "-P", "-c", f"import {module}; assert callable({module}.{function})"],
        cwd=asset,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
