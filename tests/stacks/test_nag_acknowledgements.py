"""Every cdk-nag acknowledgement still hides a finding: a stale one hid the deployment group's broken ARN (issue 9).

One test per construct of the stack, so a stale acknowledgement names its owner; each acknowledgement has a reason
and names the exact finding it accepts; stacks/nag.py writes them the way cdk-nag reads them.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from stacks import nag
from tests.conftest import FAKE_REGION
from tests.stacks.conftest import Synthesized
from tests.stacks.nag_audit import (
    Acknowledgement,
    Finding,
    declared_acknowledgements,
    findings,
    unacknowledged,
    unused,
)

pytestmark = pytest.mark.slow

VARIANTS = ["default_stack", "https_existing_vpc_stack"]
CONSTRUCTS = [
    "Artifacts",
    "Network",
    "LoadBalancer",
    "Fleet",
    "Drain",
    "Join",
    "Finisher",
    "Alarms",
    "Deployment",
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_every_acknowledgement_of_the_construct_matches_a_suppressed_finding(
    variant: str, construct: str, request: pytest.FixtureRequest
) -> None:
    # Given the acknowledgements recorded under the construct and every finding cdk-nag makes
    synthesized: Synthesized = request.getfixturevalue(variant)
    prefix = f"{synthesized.stack.stack_name}/{construct}"
    declared = [ack for ack in synthesized.acknowledgements if f"{ack.declared_on}/".startswith(f"{prefix}/")]

    # When each is matched against the findings on the resources it covers
    stale = unused(declared, synthesized.suppressed)

    # Then none is left without a finding
    assert stale == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_acknowledgement_belongs_to_one_of_the_constructs_checked_here(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    names = [c if isinstance(c, str) else c.values[0] for c in CONSTRUCTS]
    prefixes = tuple(f"{synthesized.stack.stack_name}/{name}/" for name in names)
    outside = [
        ack.declared_on for ack in synthesized.acknowledgements if not f"{ack.declared_on}/".startswith(prefixes)
    ]
    assert outside == []


# Rules whose findings cdk-nag names one by one: an acknowledgement of one of them must name the finding.
RULES_WITH_FINDINGS = ("AwsSolutions-IAM4", "AwsSolutions-IAM5")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_acknowledgement_has_a_reason_and_names_its_finding_below_the_stack(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    stack_path = synthesized.stack.node.path
    too_broad = [
        f"{ack.declared_on}: {ack.rule_id}"
        for ack in synthesized.acknowledgements
        if not ack.reason.strip()
        or ack.declared_on == stack_path
        or (ack.rule_id.startswith(RULES_WITH_FINDINGS) and not ack.rule_id.endswith("]"))
    ]
    assert synthesized.acknowledgements
    assert too_broad == []


def test_an_acknowledgement_that_matches_no_finding_is_reported_with_its_place_and_reason() -> None:
    # Given one acknowledgement used by a finding below it and one whose finding is on another resource
    used = Acknowledgement("AwsSolutions-IAM5[Resource::*]", "star", "S/Role")
    stale = Acknowledgement("AwsSolutions-IAM5[Resource::arn:aws:codedeploy:r:a:deploymentgroup:*/x]", "groups", "S/P")
    found = [
        Finding("AwsSolutions-IAM5[Resource::*]", "S/Role/DefaultPolicy/Resource"),
        # the same finding on a resource outside the provider does not count for it, nor does a sibling path prefix
        Finding("AwsSolutions-IAM5[Resource::arn:aws:codedeploy:r:a:deploymentgroup:*/x]", "S/Other/Resource"),
        Finding("AwsSolutions-IAM5[Resource::arn:aws:codedeploy:r:a:deploymentgroup:*/x]", "S/Provider/Resource"),
    ]

    # When they are audited, Then only the stale one is reported, with where it was recorded and why
    assert unused([used, stale], found) == [
        "S/P: AwsSolutions-IAM5[Resource::arn:aws:codedeploy:r:a:deploymentgroup:*/x] matches nothing (groups)"
    ]


# --- stacks/nag.py: acknowledgements are recorded where and as cdk-nag reads them ---------------------------------


def reader_stack() -> tuple[cdk.Stack, iam.Role, s3.Bucket]:
    """A role reading any object of a bucket (AwsSolutions-IAM5 on the object ARN) and a bucket with findings."""
    stack = cdk.Stack(cdk.App(), "NagHelper", env=cdk.Environment(region=FAKE_REGION))
    bucket = s3.Bucket(stack, "Bucket")
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects("*")]))
    return stack, role, bucket


def test_an_entry_with_tokens_acknowledges_exactly_the_finding_cdk_nag_makes_for_that_arn() -> None:
    # Given the object ARN acknowledged as the policy writes it, with its tokens
    stack, role, bucket = reader_stack()
    nag.acknowledge(
        role,
        [nag.Acknowledgement("AwsSolutions-IAM5", "reads revisions", [f"Resource::{bucket.arn_for_objects('*')}"])],
        apply_to_children=True,
    )

    # When cdk-nag checks the role, Then it reports nothing there, and the audit finds the acknowledgement used
    assert unacknowledged(role) == []
    assert unused(declared_acknowledgements(stack), findings(stack)) == []


def test_without_apply_to_children_only_the_constructs_own_resource_is_covered() -> None:
    # Given AwsSolutions-S1 (no access logs) acknowledged on the bucket itself, and a role below another construct
    stack, role, bucket = reader_stack()
    nag.acknowledge(bucket, [nag.Acknowledgement("AwsSolutions-S1", "probe")])
    nag.acknowledge(role, [nag.Acknowledgement("AwsSolutions-IAM5", "probe", ["Resource::*"])])

    # When cdk-nag checks the stack
    reported = unacknowledged(stack)

    # Then the bucket's S1 is hidden, and the role's own resource (not its DefaultPolicy child) got the other one
    assert not [line for line in reported if line.startswith("AwsSolutions-S1 ")]
    declared_on = [ack.declared_on for ack in declared_acknowledgements(stack)]
    assert declared_on == ["NagHelper/Bucket/Resource", "NagHelper/Reader/Resource"]
    assert any(line.startswith("AwsSolutions-IAM5[Resource::<") for line in reported)


def test_an_acknowledgement_without_a_reason_is_refused() -> None:
    _, role, _ = reader_stack()
    with pytest.raises(ValueError, match="needs a reason"):
        nag.acknowledge(role, [nag.Acknowledgement("AwsSolutions-IAM5", " ", ["Resource::*"])], apply_to_children=True)


def test_a_construct_without_its_own_resource_needs_apply_to_children() -> None:
    # Given a construct that only groups others (a stack), When an acknowledgement would cover just its own resource
    # Then it is refused rather than silently widened to everything below it
    with pytest.raises(ValueError, match="apply_to_children=True"):
        nag.acknowledge(cdk.Stack(cdk.App(), "Other"), [nag.Acknowledgement("AwsSolutions-S1", "probe")])


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b/*"]]}, "arn:<AWS::Partition>:s3:::b/*"),
        ({"Fn::GetAtt": ["Fn", "Arn"]}, "<Fn.Arn>"),
        ({"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}"}, "arn:<AWS::Partition>:sns:<AWS::Region>"),
        ({"Fn::ImportValue": "Shared"}, "Shared"),
        ({"Fn::Select": [0, ["a"]]}, '{"Fn::Select":[0,["a"]]}'),
    ],
)
def test_a_resolved_value_is_rendered_as_cdk_nag_flattens_it(value: object, rendered: str) -> None:
    assert nag.render(value) == rendered
