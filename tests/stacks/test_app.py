"""`app.py` (what `cdk synth` runs) refuses bad input before building anything, with exit code 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import aws_cdk
import pytest

from app import StackEnvironment, cli_default_region_note, stack_environment
from bluegreen.config import CDK_JSON, ConfigError, check_region_listed, load_config
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def clean_env() -> dict[str, str]:
    """The environment without any AWS or CDK variable, and without the developer's AWS config files."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CDK_", "AWS_"))}
    env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    return env


def run_app(
    tmp_path: Path, context: dict, region: str | None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    # The CDK CLI hands context and the output directory to the app through these variables.
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    env["CDK_OUTDIR"] = str(tmp_path)
    if region is not None:
        env["CDK_DEFAULT_REGION"] = region
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def test_an_invalid_setting_stops_synth_with_exit_2_naming_the_key(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"healthCheckTimeoutSeconds": 9}, region="eu-west-1")
    assert result.returncode == 2
    assert "'healthCheckTimeoutSeconds': 9 must be less than healthCheckIntervalSeconds (5)" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_a_renamed_setting_stops_synth_naming_its_new_key(tmp_path: Path) -> None:
    # Given a cdk.json (or -c) that still uses the drain's old key
    result = run_app(tmp_path, {"drainConnectionCountCommand": "ss -Htn | wc -l"}, region="eu-west-1")
    # Then synth refuses it, naming the key that replaced it, instead of synthesizing the default silently
    assert result.returncode == 2, result.stderr
    assert "drainInFlightCommand" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_synth_without_a_region_stops_with_exit_2_saying_how_to_set_one(tmp_path: Path) -> None:
    result = run_app(tmp_path, {}, region=None)
    assert result.returncode == 2
    assert "set AWS_REGION" in result.stderr


def test_a_certificate_from_another_region_than_the_stack_stops_synth_with_exit_2(tmp_path: Path) -> None:
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    result = run_app(tmp_path, {"certificateArn": certificate}, region="eu-west-1")
    assert result.returncode == 2
    assert "the certificate is in us-east-1, the stack in eu-west-1" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_the_full_stack_puts_a_termination_hook_on_both_slots(default_stack: Synthesized) -> None:
    hooks = default_stack.template.find_resources(
        "AWS::AutoScaling::LifecycleHook",
        {"Properties": {"LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING", "DefaultResult": "CONTINUE"}},
    )
    slots = default_stack.template.find_resources("AWS::AutoScaling::AutoScalingGroup")
    assert sorted(hook["Properties"]["AutoScalingGroupName"]["Ref"] for hook in hooks.values()) == sorted(slots)


def manifest_environment(out_dir: Path) -> str:
    """The environment the cloud assembly records for the stack, `aws://<account>/<region>`."""
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    (environment,) = {
        artifact["environment"]
        for artifact in manifest["artifacts"].values()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    return str(environment)


# -- unknown keys and instance types, end to end (issue 16) -----------------------------------------------------------


def test_cdk_synth_refuses_a_misspelt_setting_naming_the_one_it_resembles_without_a_traceback(tmp_path: Path) -> None:
    # Given the pinned CLI, with the project's Python first on PATH as `make synth` sets it
    env = clean_env()
    env["PATH"] = os.pathsep.join([str(REPO / "node_modules" / ".bin"), str(Path(sys.executable).parent), env["PATH"]])
    env.update(
        {"AWS_REGION": "eu-west-1", "CDK_DISABLE_VERSION_CHECK": "1", "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"}
    )
    # When a typo is passed on the command line
    result = subprocess.run(
        ["cdk", "synth", "--quiet", "--output", str(tmp_path), "-c", "healthCheckIntervalSecond=5"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    # Then synth fails with one line that names the key and the setting it resembles, and nothing is synthesized
    assert result.returncode != 0
    assert "'healthCheckIntervalSecond' is not a setting; did you mean healthCheckIntervalSeconds?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_an_instance_type_ec2_does_not_list_stops_synth_with_exit_2_and_a_suggestion(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"instanceType": "t3.mirco"}, region="eu-west-1")
    assert result.returncode == 2
    assert "did you mean t3.micro?" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


# -- where the region and the account come from -----------------------------------------------------------------------


def test_python_app_py_without_the_cli_takes_the_region_and_account_from_the_sdk_variables(tmp_path: Path) -> None:
    # Given no CDK_DEFAULT_* (no CLI), only the variables the AWS SDKs and CLI read
    extra = {"AWS_REGION": "eu-central-1", "AWS_ACCOUNT_ID": "111122223333"}
    # When the app runs on its own
    result = run_app(tmp_path, {}, region=None, extra_env=extra)
    # Then the stack is synthesized for that account and region
    assert result.returncode == 0, result.stderr
    assert manifest_environment(tmp_path) == "aws://111122223333/eu-central-1"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AWS_DEFAULT_REGION": "us-west-2"}, StackEnvironment("us-west-2", None, "AWS_DEFAULT_REGION")),
        (
            {"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-west-2"},
            StackEnvironment("eu-west-3", None, "AWS_REGION"),
        ),
        (
            {"CDK_DEFAULT_REGION": "eu-north-1", "AWS_REGION": "eu-west-3", "CDK_DEFAULT_ACCOUNT": "444455556666"},
            StackEnvironment("eu-north-1", "444455556666", "CDK_DEFAULT_REGION"),
        ),
        (
            {"AWS_REGION": "eu-west-3", "AWS_ACCOUNT_ID": "111122223333", "CDK_DEFAULT_ACCOUNT": "444455556666"},
            StackEnvironment("eu-west-3", "444455556666", "AWS_REGION"),
        ),
    ],
)
def test_the_clis_resolution_wins_then_aws_region_then_aws_default_region(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: StackEnvironment
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # botocore's profile lookup reads it; here `environ` decides
    assert stack_environment(environ) == expected


def test_without_variables_the_profiles_region_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given a shared config file whose named profile has a region, and no region variable
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = ap-southeast-2\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ops")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    # Then the stack goes to the profile's region
    assert stack_environment({}) == StackEnvironment("ap-southeast-2", None, "the AWS profile")


def test_without_any_region_there_is_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert stack_environment({}) is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "AWS_REGION",
            "eu-west-1 ",
            r"^Invalid region: the stack's region \(AWS_REGION\): 'eu-west-1 ' has blanks in it",
        ),
        ("AWS_REGION", "mars-1", r"\(AWS_REGION\): 'mars-1' is not an AWS region botocore .* knows"),
        ("CDK_DEFAULT_REGION", "eu-wset-1", r"\(CDK_DEFAULT_REGION\): .*did you mean eu-west-1\?"),
    ],
)
def test_a_region_aws_does_not_have_stops_synth_with_one_line_and_exit_2(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    # Given a region variable with a blank, an invented name or a typo
    result = run_app(tmp_path, {}, region=None, extra_env={variable: value})
    # Then synth stops before building anything, with one line naming the variable (no traceback from cdk-nag)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(expected, result.stderr), result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_the_region_the_cli_copied_from_aws_region_is_named_by_its_origin() -> None:
    # Given what the CDK CLI hands the app when AWS_REGION holds a blank: the same value in CDK_DEFAULT_REGION
    environ = {"CDK_DEFAULT_REGION": "eu-west-1 ", "AWS_REGION": "eu-west-1 "}
    # Then the message can name the variable the user set
    env = stack_environment(environ)
    assert env is not None and env.source == "CDK_DEFAULT_REGION, from AWS_REGION"


def test_allow_unlisted_region_lets_a_region_newer_than_botocore_through_but_never_blanks() -> None:
    # Given a region name botocore does not list, and the escape hatch set
    config = load_config({"allowUnlistedRegion": "true"})
    # Then a well-formed unlisted name passes, and one with a blank is still refused
    check_region_listed(config, "xx-newplace-1", "AWS_REGION")
    with pytest.raises(ConfigError, match="blanks"):
        check_region_listed(config, "xx-newplace-1 ", "AWS_REGION")


def test_a_stage_in_a_mistyped_region_is_refused_naming_the_stage_region() -> None:
    with pytest.raises(ConfigError, match=r"\(the stage's region\): 'eu-wset-1'.*did you mean eu-west-1\?"):
        check_region_listed(load_config({}), "eu-wset-1", "the stage's region")


def test_the_clis_silent_us_east_1_is_named_when_nothing_else_gives_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given what the CDK CLI hands the app when no variable, profile or instance metadata names a region
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    environ = {"CDK_DEFAULT_REGION": "us-east-1"}
    env = stack_environment(environ)
    assert env is not None
    # Then app.py says which region it synthesizes for and that it is the CLI's default
    note = cli_default_region_note(env, environ)
    assert note is not None
    assert "region us-east-1: the CDK CLI's default" in note and "set AWS_REGION" in note


@pytest.mark.parametrize(
    "environ",
    [
        {"CDK_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"},
        {"CDK_DEFAULT_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"},
        {"CDK_DEFAULT_REGION": "eu-west-1"},
    ],
)
def test_a_region_someone_chose_gets_no_note(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    env = stack_environment(environ)
    assert env is not None
    assert cli_default_region_note(env, environ) is None


def test_a_profile_region_of_us_east_1_gets_no_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given the profile names us-east-1 (the CLI read it from there)
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    environ = {"CDK_DEFAULT_REGION": "us-east-1"}
    env = stack_environment(environ)
    assert env is not None
    assert cli_default_region_note(env, environ) is None


# -- feature flags ----------------------------------------------------------------------------------------------------


def recommended_feature_flags() -> dict[str, object]:
    """The flags the installed aws-cdk-lib recommends, as `cdk init` writes them (recommended-feature-flags.json)."""
    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        return dict(json.load(member))


def test_cdk_json_configures_every_flag_the_pinned_aws_cdk_lib_recommends() -> None:
    # An upgrade that adds a flag fails here: decide it (on, or off with the reason in docs/decisions.md)
    context = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    assert sorted(set(recommended_feature_flags()) - set(context)) == []
