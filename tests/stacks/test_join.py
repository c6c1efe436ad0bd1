"""The JoinLiveSlot construct, in a minimal stack of its own: rule, function, permissions, cdk-nag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from stacks.join import JoinLiveSlot
from tests.stacks.nag_audit import unacknowledged

pytestmark = pytest.mark.slow

APPLICATION = "BlueGreenApp-Application"
DEPLOYMENT_GROUP = "BlueGreenApp-blue-green"


@dataclass
class Synth:
    stack: Stack
    template: Template
    join: JoinLiveSlot
    slot_ids: list[str]
    target_group_id: str


def build() -> tuple[Stack, JoinLiveSlot, list[autoscaling.AutoScalingGroup], elbv2.ApplicationTargetGroup]:
    app = App()
    stack = Stack(app, "JoinTest", env={"account": "123456789012", "region": "eu-west-1"})
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
    )
    template = ec2.LaunchTemplate(
        stack,
        "LaunchTemplate",
        machine_image=ec2.MachineImage.latest_amazon_linux2023(),
        instance_type=ec2.InstanceType("t3.micro"),
        require_imdsv2=True,
    )
    slots = [
        autoscaling.AutoScalingGroup(stack, name, vpc=vpc, launch_template=template, min_capacity=0, max_capacity=2)
        for name in ("SlotA", "SlotB")
    ]
    target_group = elbv2.ApplicationTargetGroup(
        stack, "TargetGroup", vpc=vpc, port=8080, protocol=elbv2.ApplicationProtocol.HTTP
    )
    join = JoinLiveSlot(
        stack,
        "Join",
        slots=slots,
        target_group=target_group,
        application_name=APPLICATION,
        deployment_group_name=DEPLOYMENT_GROUP,
        reserved_concurrency=4,
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    return stack, join, slots, target_group


@pytest.fixture(scope="module")
def synth() -> Synth:
    stack, join, slots, target_group = build()
    template = Template.from_stack(stack)
    return Synth(
        stack=stack,
        template=template,
        join=join,
        slot_ids=[stack.get_logical_id(slot.node.default_child) for slot in slots],
        target_group_id=stack.get_logical_id(target_group.node.default_child),
    )


def join_statements(synth: Synth) -> list[dict[str, Any]]:
    role_id = synth.stack.get_logical_id(synth.join.role.node.default_child)
    return [
        statement
        for policy in synth.template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_rule_matches_exactly_the_slots_successful_launches(synth: Synth) -> None:
    (rule,) = synth.template.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Successful"],
        "detail": {"AutoScalingGroupName": [{"Ref": slot_id} for slot_id in synth.slot_ids]},
    }


def test_the_rule_target_retries_a_bounded_number_of_times_into_the_dead_letter_queue(synth: Synth) -> None:
    (rule,) = synth.template.find_resources("AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    assert "DeadLetterConfig" in target


def test_the_function_is_bounded_reserved_and_configured(synth: Synth) -> None:
    synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "join.handler.lambda_handler",
            "Timeout": 900,
            "ReservedConcurrentExecutions": 4,
            "DeadLetterConfig": {"TargetArn": Match.any_value()},
            "LoggingConfig": {"LogGroup": Match.any_value()},
            "Environment": {
                "Variables": {
                    "TARGET_GROUP_ARN": {"Ref": synth.target_group_id},
                    "APPLICATION_NAME": APPLICATION,
                    "DEPLOYMENT_GROUP_NAME": DEPLOYMENT_GROUP,
                    "POLL_INTERVAL_SECONDS": "10",
                    "METRIC_NAMESPACE": "BlueGreen/Join",
                }
            },
        },
    )
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}
    )
    synth.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_the_dead_letter_queue_is_encrypted_and_tls_only(synth: Synth) -> None:
    synth.template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    synth.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            )
        },
    )


def test_the_role_may_register_with_this_target_group_and_read_this_deployment_group_only(synth: Synth) -> None:
    by_sid = {statement.get("Sid"): statement for statement in join_statements(synth)}
    assert by_sid["RegisterWithTargetGroup"] == {
        "Sid": "RegisterWithTargetGroup",
        "Action": "elasticloadbalancing:RegisterTargets",
        "Effect": "Allow",
        "Resource": {"Ref": synth.target_group_id},
    }
    assert by_sid["ReadDeploymentGroup"] == {
        "Sid": "ReadDeploymentGroup",
        "Action": "codedeploy:GetDeploymentGroup",
        "Effect": "Allow",
        "Resource": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    f":codedeploy:eu-west-1:123456789012:deploymentgroup:{APPLICATION}/{DEPLOYMENT_GROUP}",
                ],
            ]
        },
    }
    assert by_sid["ReadInstanceLifecycleState"] == {
        "Sid": "ReadInstanceLifecycleState",
        "Action": "autoscaling:DescribeAutoScalingInstances",
        "Effect": "Allow",
        "Resource": "*",
    }
    # Besides these three, the role may only write its own logs and send to its own dead-letter queue.
    queue_id = synth.stack.get_logical_id(synth.join.dead_letter_queue.node.default_child)
    for statement in join_statements(synth):
        if "Sid" in statement:
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if actions == ["sqs:SendMessage"]:
            assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        else:
            assert all(action.startswith("logs:") for action in actions), statement


def test_the_join_construct_has_no_unacknowledged_aws_solutions_findings(synth: Synth) -> None:
    # The construct's own resources only: the fixture around it (VPC, slots) is not under test.
    assert unacknowledged(synth.join) == []
