"""Every synthesized template passes cdk-nag's AwsSolutions pack and cfn-lint; a finding nobody acknowledged fails
`cdk synth` itself (cdk-nag runs as a CDK validation plugin, docs/decisions.md F76)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from stacks import nag
from tests.conftest import FAKE_REGION
from tests.stacks.conftest import Synthesized
from tests.stacks.nag_audit import unacknowledged

pytestmark = pytest.mark.slow

CFN_LINT_CONFIG = Path(__file__).resolve().parents[2] / ".cfnlintrc.yaml"
VARIANTS = ["default_stack", "https_existing_vpc_stack"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_unacknowledged_aws_solutions_findings(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    assert unacknowledged(synthesized.stack) == []


def app_with_a_reader_role(tmp_path: Path) -> tuple[cdk.App, iam.Role, s3.Bucket]:
    """A compliant bucket and a role whose policy reads any of its objects: one AwsSolutions-IAM5 finding."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "NagProbe", env=cdk.Environment(region=FAKE_REGION))
    bucket = s3.Bucket(
        stack,
        "Bucket",
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        server_access_logs_prefix="logs/",
    )
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")]))
    nag.add_checks(app)
    return app, role, bucket


def object_arn_finding(bucket: s3.Bucket) -> str:
    """The finding as cdk-nag names it: the bucket's ARN is a GetAtt of its logical id."""
    logical_id = cdk.Stack.of(bucket).resolve(bucket.node.default_child.logical_id)  # type: ignore[union-attr]
    return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/*]"


def test_an_unacknowledged_finding_fails_the_synthesis_and_names_rule_and_resource(tmp_path: Path) -> None:
    # Given a wildcard object ARN nobody acknowledged
    app, _, bucket = app_with_a_reader_role(tmp_path)

    # When the app synthesizes, Then the AwsSolutions plugin stops it with the finding and where it is
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    assert object_arn_finding(bucket) in str(failure.value)
    assert "NagProbe/Reader/DefaultPolicy/Resource" in str(failure.value)


def acknowledge_objects(role: iam.Role, bucket: s3.Bucket, key_pattern: str) -> None:
    entry = f"Resource::{bucket.arn_for_objects(key_pattern)}"
    nag.acknowledge(role, [nag.Acknowledgement("AwsSolutions-IAM5", "probe", [entry])], apply_to_children=True)


def test_the_finding_acknowledged_on_the_role_lets_the_synthesis_through(tmp_path: Path) -> None:
    # Given the same finding, acknowledged with the ARN the policy grants
    app, role, bucket = app_with_a_reader_role(tmp_path)
    acknowledge_objects(role, bucket, "*")

    # When the app synthesizes, Then nothing stops it
    assembly = app.synth()
    assert assembly.get_stack_by_name("NagProbe").template["Resources"]


def test_an_acknowledgement_of_another_object_arn_does_not_hide_the_finding(tmp_path: Path) -> None:
    # Given an acknowledgement of a narrower ARN than the one granted
    app, role, bucket = app_with_a_reader_role(tmp_path)
    acknowledge_objects(role, bucket, "releases/*")

    # When the app synthesizes, Then the finding still fails it
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    assert object_arn_finding(bucket) in str(failure.value)


@pytest.mark.parametrize("variant", VARIANTS)
def test_template_passes_cfn_lint(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(CFN_LINT_CONFIG),
            "--",
            str(synthesized.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
