"""The release tool is a real package: it imports and runs without the CDK app, and keeps one home per concern."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import release

PACKAGE = Path(release.__file__).resolve().parent
REPO = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: a meta-path finder makes every import of the CDK's packages fail, as in an environment
# where only the release tool's own dependencies are installed. No sitecustomize, no sys.path edit: the package is
# found where `make setup` installed it.
WITHOUT_CDK = """
import importlib.abc, sys

class NoCdk(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("aws_cdk", "cdk_nag", "constructs", "jsii"):
            raise ImportError(f"{name} is not installed here")
        return None

sys.meta_path.insert(0, NoCdk())
for name in [module for module in sys.modules if module.split(".")[0] in ("aws_cdk", "cdk_nag", "constructs")]:
    del sys.modules[name]
try:
    import aws_cdk  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the finder did not block aws_cdk")
import release
import release.cli
"""


def _run_without_cdk(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # -P: the working directory is not put on sys.path, so only the installed package can be imported.
    return subprocess.run(
        [sys.executable, "-P", "-c", WITHOUT_CDK + code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_release_tool_imports_and_shows_its_help_without_aws_cdk(tmp_path: Path) -> None:
    # When importing the tool and asking for its help where aws_cdk cannot be imported
    done = _run_without_cdk("release.cli.main(['--help'])", tmp_path)
    # Then it prints the help (argparse exits 0 after --help)
    assert done.returncode == 0, done.stderr
    assert "blue/green" in done.stdout


@pytest.mark.slow
def test_the_release_tool_bundles_a_revision_without_aws_cdk(tmp_path: Path) -> None:
    # Given a valid revision
    from tests.release.support import write_revision

    revision = write_revision(tmp_path / "revision")
    # When bundling it where aws_cdk cannot be imported
    code = f"sys.exit(release.cli.main(['bundle', '--app-dir', {str(revision)!r}, '--bundle-dir', 'bundles']))"
    done = _run_without_cdk(code, tmp_path)
    # Then the bundle is built
    assert done.returncode == 0, done.stderr
    assert "sha256  " in done.stdout
    assert list((tmp_path / "bundles").glob("*.zip"))


@pytest.mark.slow
def test_the_entry_point_script_runs_from_any_directory(tmp_path: Path) -> None:
    # When running scripts/deploy.py as CI does, from another working directory
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "deploy.py"), "status", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it answers
    assert done.returncode == 0, done.stderr
    assert "live slot" in done.stdout or "--last" in done.stdout


def test_every_codedeploy_call_is_made_by_the_deployments_module() -> None:
    # A call on the CodeDeploy client (`codedeploy.<operation>(`) anywhere but release/deployments.py is a stray.
    call = re.compile(r"\bcodedeploy\.(?!meta\b)[a-z_]+\(")
    strays = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "deployments.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if call.search(line)
    ]
    assert strays == []


def test_nothing_in_the_tool_edits_sys_path() -> None:
    edits = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\[")
    places = [
        *PACKAGE.rglob("*.py"),
        REPO / "scripts" / "deploy.py",
        REPO / "scripts" / "demo.py",
        *(REPO / "benchmarks").glob("*.py"),
    ]
    assert [str(path) for path in places if edits.search(path.read_text(encoding="utf-8"))] == []
