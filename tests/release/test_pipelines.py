"""The pipelines give the release credentials and time outliving its worst case, apart from `cdk deploy` (#12 §4)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from release.timeout import worst_case_seconds

REPO = Path(__file__).resolve().parents[2]


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


def test_bitbucket_runs_cdk_deploy_and_the_release_in_steps_of_one_locked_stage() -> None:
    # Given the main branch's pipeline
    pipeline = yaml.safe_load((REPO / "bitbucket-pipelines.yml").read_text())["pipelines"]["branches"]["main"]
    (stage,) = [item["stage"] for item in pipeline if "stage" in item]
    deploy, release = (item["step"] for item in stage["steps"])
    # Then the stage holds the production lock, cdk deploy and the release are separate steps,
    # and the release step may run for the release's worst case
    assert stage["deployment"] == "production"
    assert "make deploy" in deploy["script"] and not any("deploy.py" in str(line) for line in deploy["script"])
    assert any("deploy.py release" in str(line) for line in release["script"])
    assert "make deploy" not in release["script"]
    exported = next(str(line) for line in release["script"] if "RELEASE_TIMEOUT" in str(line))
    timeout = int(re.search(r":-(\d+)", exported).group(1))  # type: ignore[union-attr]
    assert int(release["max-time"]) * 60 >= worst_case_seconds(timeout)
