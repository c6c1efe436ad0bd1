"""Every cdk-nag acknowledgement still hides a finding: a stale one hid the deployment group's broken ARN (issue 9).

One test per construct of the stack, so a stale acknowledgement names its owner.
"""

from __future__ import annotations

import pytest

from tests.stacks.conftest import Synthesized
from tests.stacks.nag_audit import Acknowledgement, SuppressedFinding, unused

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
    # Given the acknowledgements declared under the construct and the findings cdk-nag suppressed
    synthesized: Synthesized = request.getfixturevalue(variant)
    prefix = f"{synthesized.stack.stack_name}/{construct}"
    declared = [ack for ack in synthesized.acknowledgements if f"{ack.declared_on}/".startswith(f"{prefix}/")]

    # When each is matched against the suppressed findings on the resources it covers
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


def test_an_acknowledgement_that_matches_no_finding_is_reported_with_its_place_and_reason() -> None:
    # Given one acknowledgement used by a finding and one whose applies_to matches nothing
    used = Acknowledgement("AwsSolutions-IAM5", "star", ("Resource::*",), "S/Role", frozenset({"S/Role/Policy"}))
    stale = Acknowledgement(
        "AwsSolutions-IAM5",
        "groups of this application",
        ("regex:/^Resource::arn:.*:deploymentgroup:.*\\/\\*$/",),
        "S/Provider",
        frozenset({"S/Provider/Policy"}),
    )
    findings = [
        SuppressedFinding("AwsSolutions-IAM5", "Resource::*", "S/Role/Policy", "star"),
        # the same rule on another resource does not count for the provider
        SuppressedFinding("AwsSolutions-IAM5", "Resource::arn:aws:codedeploy:r:a:deploymentgroup:x/*", "S/Other", ""),
    ]

    # When they are audited, Then only the stale one is reported, with where it was declared and why
    assert unused([used, stale], findings) == [
        "S/Provider: AwsSolutions-IAM5 applies_to regex:/^Resource::arn:.*:deploymentgroup:.*\\/\\*$/ matches "
        "nothing (groups of this application)"
    ]
