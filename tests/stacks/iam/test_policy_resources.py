"""Each policy of the artifacts, network and drain constructs (and of the VPC default-group provider), statement by
statement, with its exact resources.

The policies are compared after resolving intrinsics (tests/stacks/iam/policy_lint.py): names are derived from the
constructs' logical ids at run time, so nothing here spells a hashed id, and a resource that widens, narrows or
changes format fails the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aws_cdk import CfnElement

from tests.stacks.conftest import Synthesized
from tests.stacks.iam.policy_lint import ACCOUNT, PARTITION, REGION, Resolver

pytestmark = pytest.mark.slow

# The account Elastic Load Balancing writes eu-west-1's access logs from (ELB guide, "Enable access logs", regions
# available before August 2022); aws-cdk-lib adds it for the stack's region next to the log-delivery service.
ELB_ACCOUNT_EU_WEST_1 = "156460612806"
TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


class Policies:
    """The default stack's policies by construct path, intrinsics resolved, and the names the resolver gave."""

    def __init__(self, synthesized: Synthesized) -> None:
        self._stack = synthesized.stack
        template = synthesized.template.to_json()
        self._resolver = Resolver(template, self._stack.stack_name)
        self._resources: Mapping[str, Any] = template["Resources"]
        self._ids = {
            element.node.path: self._stack.resolve(element.logical_id)
            for element in self._stack.node.find_all()
            if CfnElement.is_cfn_element(element)
        }

    def name(self, path: str) -> str:
        """The resolved physical name of the resource at `<stack>/<path>`."""
        return self._resolver.name_of(self._ids[f"{self._stack.stack_name}/{path}"])

    def statements(self, path: str, inline_policy: str | None = None) -> list[dict[str, Any]]:
        """The statements of the policy resource at `path`, or of the inline policy of the role at `path`."""
        properties = self._resources[self._ids[f"{self._stack.stack_name}/{path}"]]["Properties"]
        if inline_policy is None:
            document = properties["PolicyDocument"]
        else:
            (document,) = [p["PolicyDocument"] for p in properties["Policies"] if p["PolicyName"] == inline_policy]
        return list(self._resolver.resolve(document)["Statement"])


@pytest.fixture(scope="module")
def policies(default_stack: Synthesized) -> Policies:
    return Policies(default_stack)


def test_the_access_log_bucket_admits_only_its_two_log_writers_under_their_prefixes(policies: Policies) -> None:
    logs = f"arn:{PARTITION}:s3:::{policies.name('Artifacts/AccessLogs/Resource')}"
    revisions = f"arn:{PARTITION}:s3:::{policies.name('Artifacts/Revisions/Resource')}"
    alb_logs = f"{logs}/alb/AWSLogs/{ACCOUNT}/*"
    assert policies.statements("Artifacts/AccessLogs/Policy/Resource") == [
        {
            "Action": "s3:*",
            "Condition": TLS_ONLY,
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": [logs, f"{logs}/*"],
        },
        {
            "Action": "s3:PutObject",
            "Condition": {"ArnLike": {"aws:SourceArn": revisions}, "StringEquals": {"aws:SourceAccount": ACCOUNT}},
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Resource": f"{logs}/s3/revisions/*",
        },
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{PARTITION}:iam::{ELB_ACCOUNT_EU_WEST_1}:root"},
            "Resource": alb_logs,
        },
        {
            "Action": "s3:PutObject",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Resource": alb_logs,
        },
        {
            "Action": "s3:GetBucketAcl",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Resource": logs,
        },
    ]


def test_the_revisions_bucket_policy_only_denies_requests_without_tls(policies: Policies) -> None:
    revisions = f"arn:{PARTITION}:s3:::{policies.name('Artifacts/Revisions/Resource')}"
    assert policies.statements("Artifacts/Revisions/Policy/Resource") == [
        {
            "Action": "s3:*",
            "Condition": TLS_ONLY,
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": [revisions, f"{revisions}/*"],
        }
    ]


def test_the_flow_log_role_writes_only_to_the_flow_log_group(policies: Policies) -> None:
    group = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{policies.name('Network/FlowLogs/Resource')}:*"
    assert policies.statements("Network/Vpc/rejected/IAMRole/DefaultPolicy/Resource") == [
        {
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": group,
        }
    ]


def test_the_default_security_group_provider_changes_only_the_new_vpcs_default_group(policies: Policies) -> None:
    # aws-cdk-lib's provider behind @aws-cdk/aws-ec2:restrictDefaultSecurityGroup (the resolver names the VPC's
    # default group sg-0fedcba9876543210)
    assert policies.statements("Custom::VpcRestrictDefaultSGCustomResourceProvider/Role", inline_policy="Inline") == [
        {
            "Effect": "Allow",
            "Action": [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress",
            ],
            "Resource": [f"arn:{PARTITION}:ec2:{REGION}:{ACCOUNT}:security-group/sg-0fedcba9876543210"],
        }
    ]


def test_the_dead_letter_queue_takes_messages_only_from_the_drain_rule_and_only_over_tls(policies: Policies) -> None:
    queue = f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{policies.name('Drain/DeadLetterQueue/Resource')}"
    rule = f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{policies.name('Drain/Rule/Resource')}"
    statements = policies.statements("Drain/DeadLetterQueue/Policy/Resource")
    for statement in statements:
        statement.pop("Sid", None)  # aws-cdk-lib names it after the rule's path
    assert statements == [
        {"Action": "sqs:*", "Condition": TLS_ONLY, "Effect": "Deny", "Principal": {"AWS": "*"}, "Resource": queue},
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": queue,
        },
    ]


def test_the_drain_role_acts_only_on_the_slots_the_target_group_the_shell_document_and_its_own_queue_and_logs(
    policies: Policies,
) -> None:
    slots = [policies.name(f"Fleet/{slot}/ASG") for slot in ("SlotA", "SlotB")]
    group_arns = [
        f"arn:{PARTITION}:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{slot}"
        for slot in slots
    ]
    target_group = policies.name("LoadBalancer/TargetGroup/Resource")
    log_group = policies.name("Drain/LogGroup/Resource")
    assert policies.statements("Drain/Role/DefaultPolicy/Resource") == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{log_group}:*",
        },
        {
            "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
            "Effect": "Allow",
            "Resource": group_arns,
            "Sid": "CompleteSlotLifecycleActions",
        },
        {
            "Action": "elasticloadbalancing:DeregisterTargets",
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{target_group[:32]}"
            "/0123456789abcdef",
            "Sid": "DeregisterFromTargetGroup",
        },
        {
            "Action": ["elasticloadbalancing:DescribeTargetHealth", "ssm:GetCommandInvocation"],
            "Effect": "Allow",
            "Resource": "*",
            "Sid": "ReadTargetHealth",
        },
        {
            "Action": "ssm:SendCommand",
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:ssm:{REGION}:*:document/AWS-RunShellScript",
            "Sid": "RunShellScriptDocument",
        },
        {
            "Action": "ssm:SendCommand",
            "Condition": {"StringEquals": {"ssm:resourceTag/aws:autoscaling:groupName": slots}},
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:ec2:{REGION}:{ACCOUNT}:instance/*",
            "Sid": "RunCommandOnSlotInstances",
        },
        {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Resource": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{policies.name('Drain/DeadLetterQueue/Resource')}",
        },
    ]
