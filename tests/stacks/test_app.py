"""`app.py` (what `cdk synth` runs) refuses bad input before building anything, with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import aws_cdk
import pytest

from bluegreen.config import CDK_JSON
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def run_app(tmp_path: Path, context: dict, region: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CDK_", "AWS_"))}
    # The CDK CLI hands context and the output directory to the app through these variables.
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    env["CDK_OUTDIR"] = str(tmp_path)
    if region is not None:
        env["CDK_DEFAULT_REGION"] = region
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
