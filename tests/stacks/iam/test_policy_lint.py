"""Every IAM policy of both stack variants passes parliament, with intrinsics resolved to a concrete deployment.

One test per construct, so a finding names its owner. Accepted findings are listed in ACCEPTED with their reason and
must each still occur (a stale entry would hide a future finding).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import CfnElement, Stack

from tests.stacks.conftest import Synthesized
from tests.stacks.iam.policy_lint import ACCOUNT, REGION, Finding, lint, lint_template, policy_documents

VARIANTS = ["default_stack", "https_existing_vpc_stack"]
CONSTRUCTS = [
    "Artifacts",
    "Network",
    "Fleet",
    "Drain",
    "Join",
    "Finisher",
    "Deployment",
    # aws-cdk-lib's own provider that empties the new VPC's default security group
    # (@aws-cdk/aws-ec2:restrictDefaultSecurityGroup).
    "Custom::VpcRestrictDefaultSGCustomResourceProvider",
]


@dataclass(frozen=True)
class Accepted:
    """A parliament finding accepted on purpose: where, which issue and detail, and why."""

    location: str  # regular expression over "<construct path>/<statement>"
    issue: str
    detail: Any
    reason: str

    def matches(self, finding: Finding) -> bool:
        return bool(re.search(self.location, finding.location)) and (finding.issue, finding.detail) == (
            self.issue,
            self.detail,
        )


ACCEPTED = (
    Accepted(
        location=r"/Fleet/InstanceRole/DefaultPolicy/Resource/Statement\[0\]$",
        issue="RESOURCE_MISMATCH",
        detail=[
            {"action": action, "required_format": required}
            for action, required in (
                ("s3:GetObjectAttributes", "arn:*:s3:*:*:accesspoint/*"),
                ("s3:ListAccessGrants", "arn:*:s3:*:*:access-grants/default"),
                ("s3:ListAccessGrantsInstances", "*"),
                ("s3:ListAccessGrantsLocations", "arn:*:s3:*:*:access-grants/default"),
                ("s3:ListAccessPoints", "*"),
                ("s3:ListAccessPointsForObjectLambda", "*"),
                ("s3:ListAllMyBuckets", "*"),
                ("s3:ListCallerAccessGrants", "arn:*:s3:*:*:access-grants/default"),
                ("s3:ListJobs", "*"),
                ("s3:ListMultiRegionAccessPoints", "*"),
                ("s3:ListStorageLensConfigurations", "*"),
                ("s3:ListStorageLensGroups", "*"),
            )
        ],
        reason="aws-cdk-lib's Bucket.grant_read writes s3:GetObject*, s3:GetBucket* and s3:List*; parliament "
        "expands each wildcard to every action it covers, and these expansions act on account-level resources "
        "or access points, not on the bucket and object ARNs named, so they grant nothing here. Naming the "
        "actions in stacks/fleet.py would remove the entry.",
    ),
    Accepted(
        location=r"/Drain/Role/DefaultPolicy/Resource/Statement\[\d+\]/RunCommandOnSlotInstances$",
        issue="RESOURCE_MISMATCH",
        detail=[{"action": "ssm:SendCommand", "required_format": "arn:*:ssm:*:*:document/*"}],
        reason="parliament wants each statement with ssm:SendCommand to name a document; IAM authorizes the "
        "request against each resource separately, and the document is allowed by the RunShellScriptDocument "
        "statement. The two cannot merge: the tag condition on the instances would then apply to the document.",
    ),
    Accepted(
        location=r"/Deployment/ServiceRole/DefaultPolicy/Resource/Statement\[\d+\]$",
        issue="RESOURCE_STAR",
        detail=["ec2:RunInstances"],
        reason="CodeDeploy's guide requires ec2:RunInstances for the service role when the Auto Scaling groups use a "
        "launch template (stacks/deployment.py). One RunInstances request is authorized against every resource it "
        "touches: image, instance, network-interface, security-group and subnet are required resource types (Service "
        "Authorization Reference, as shipped in parliament), plus the volumes, key pair and launch template the "
        "template uses. Listing each of them by ARN cannot be checked offline, and one missed type denies every "
        "launch of a slot; '*' with the ec2:LaunchTemplate condition (this stack's launch template only) is the "
        "narrowing that holds for all of them.",
    ),
)


def construct_paths(stack: Stack) -> Mapping[str, str]:
    """Logical id -> construct path, so that findings name paths and never hashed logical ids."""
    return {
        stack.resolve(element.logical_id): element.node.path
        for element in stack.node.find_all()
        if CfnElement.is_cfn_element(element)
    }


def findings_of(synthesized: Synthesized) -> list[Finding]:
    template = synthesized.template.to_json()
    return lint_template(template, synthesized.stack.stack_name, construct_paths(synthesized.stack))


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_no_unexplained_parliament_finding_in_the_policies_of_the_construct(
    variant: str, construct: str, request: pytest.FixtureRequest
) -> None:
    # Given every policy of the construct, intrinsics resolved
    synthesized: Synthesized = request.getfixturevalue(variant)
    prefix = f"{synthesized.stack.stack_name}/{construct}/"

    # When parliament checks them
    findings = [finding for finding in findings_of(synthesized) if finding.location.startswith(prefix)]

    # Then each finding is an accepted one
    assert [str(f) for f in findings if not any(accepted.matches(f) for accepted in ACCEPTED)] == []


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_policy_belongs_to_a_construct_checked_here(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    names = [c if isinstance(c, str) else c.values[0] for c in CONSTRUCTS]
    prefixes = tuple(f"{synthesized.stack.stack_name}/{name}/" for name in names)
    documents = policy_documents(
        synthesized.template.to_json(), synthesized.stack.stack_name, construct_paths(synthesized.stack)
    )
    assert [document.location for document in documents if not document.location.startswith(prefixes)] == []


@pytest.mark.slow
@pytest.mark.parametrize("accepted", ACCEPTED, ids=lambda accepted: accepted.location)
def test_every_accepted_finding_still_occurs(accepted: Accepted, default_stack: Synthesized) -> None:
    assert any(accepted.matches(finding) for finding in findings_of(default_stack))


def test_a_deployment_group_arn_without_application_and_group_is_flagged() -> None:
    # Given the policy issue 9 found: the group actions on an ARN that ends at "deploymentgroup"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["codedeploy:CreateDeploymentGroup", "codedeploy:DeleteDeploymentGroup"],
                "Resource": f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup",
            }
        ],
    }

    # When parliament checks it, Then it reports that the resource cannot be a deployment group
    (finding,) = lint(policy)
    assert finding.issue == "RESOURCE_MISMATCH"
    assert {item["required_format"] for item in finding.detail} == {"arn:*:codedeploy:*:*:deploymentgroup:*/*"}


def test_the_intended_deployment_group_arn_passes() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["codedeploy:CreateDeploymentGroup", "codedeploy:DeleteDeploymentGroup"],
                "Resource": f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:BlueGreenApp-App/*",
            }
        ],
    }
    assert lint(policy) == []


def test_intrinsics_resolve_to_the_documented_arn_formats() -> None:
    # Given a policy that names a bucket's objects and a role through intrinsics
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Role": {"Type": "AWS::IAM::Role"},
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "s3:GetObject",
                                "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
                            },
                            {
                                "Effect": "Allow",
                                "Action": "iam:PassRole",
                                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Role}"},
                            },
                        ],
                    }
                },
            },
        }
    }

    # When resolved, Then the resources are concrete ARNs
    (document,) = policy_documents(template, "S", {"Policy": "S/Policy/Resource"})
    assert [statement["Resource"] for statement in document.document["Statement"]] == [
        "arn:aws:s3:::s-bucket/*",
        f"arn:aws:iam::{ACCOUNT}:role/S-Role",
    ]
