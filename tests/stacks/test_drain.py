"""The DrainOnTermination construct, in a minimal stack of its own: hook, rule, function, permissions, cdk-nag."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk.assertions import Match, Template

from bluegreen.config import DEFAULT_DRAIN_IN_FLIGHT_COMMAND, drain_timing
from stacks.drain import DrainOnTermination
from tests.stacks.nag_audit import unacknowledged

pytestmark = pytest.mark.slow

COMMAND = DEFAULT_DRAIN_IN_FLIGHT_COMMAND
TIMING = drain_timing(30)


@dataclass
class Synth:
    stack: Stack
    template: Template
    drain: DrainOnTermination
    slot_ids: list[str]
    target_group_id: str


def build(**overrides: Any) -> tuple[Stack, DrainOnTermination, list[autoscaling.AutoScalingGroup], Any]:
    app = App()
    stack = Stack(app, "DrainTest", env={"account": "123456789012", "region": "eu-west-1"})
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
    load_balancer = elbv2.ApplicationLoadBalancer(stack, "Alb", vpc=vpc, internet_facing=True)
    target_group = elbv2.ApplicationTargetGroup(
        stack,
        "TargetGroup",
        vpc=vpc,
        port=8080,
        protocol=elbv2.ApplicationProtocol.HTTP,
        target_type=elbv2.TargetType.INSTANCE,
        deregistration_delay=Duration.seconds(30),
    )
    load_balancer.add_listener("Http", port=80, default_target_groups=[target_group])
    settings: dict[str, Any] = {
        "slots": slots,
        "target_group": target_group,
        "app_port": 8080,
        "deregistration_delay": Duration.seconds(30),
        "heartbeat_timeout": Duration.seconds(TIMING.heartbeat_seconds),
        "connection_count_command": COMMAND,
        "poll_interval": Duration.millis(500),
        "reserved_concurrency": 4,
    }
    settings.update(overrides)
    drain = DrainOnTermination(stack, "Drain", **settings)
    return stack, drain, slots, target_group


@pytest.fixture(scope="module")
def synth() -> Synth:
    stack, drain, slots, target_group = build()
    template = Template.from_stack(stack)  # synthesizes once
    return Synth(
        stack=stack,
        template=template,
        drain=drain,
        slot_ids=[stack.get_logical_id(slot.node.default_child) for slot in slots],
        target_group_id=stack.get_logical_id(target_group.node.default_child),
    )


def statements(synth: Synth) -> list[dict[str, Any]]:
    role_id = synth.stack.get_logical_id(synth.drain.role.node.default_child)
    policies = synth.template.find_resources("AWS::IAM::Policy")
    return [
        statement
        for policy in policies.values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_each_slot_gets_a_termination_hook_that_defaults_to_continue(synth: Synth) -> None:
    # Given the synthesized stack, Then both slots have a termination hook with CONTINUE and the heartbeat
    hooks = synth.template.find_resources("AWS::AutoScaling::LifecycleHook")
    assert sorted(hook["Properties"]["AutoScalingGroupName"]["Ref"] for hook in hooks.values()) == sorted(
        synth.slot_ids
    )
    for hook in hooks.values():
        assert hook["Properties"]["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hook["Properties"]["DefaultResult"] == "CONTINUE"
        assert hook["Properties"]["HeartbeatTimeout"] == 330
        assert "NotificationTargetARN" not in hook["Properties"]


def test_the_rule_matches_only_these_hooks_terminate_actions(synth: Synth) -> None:
    # Given the synthesized stack, Then the rule matches the slots' names and the hooks' names, nothing wider
    (rule,) = synth.template.find_resources("AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    hook_ids = sorted(synth.template.find_resources("AWS::AutoScaling::LifecycleHook"))
    assert pattern["source"] == ["aws.autoscaling"]
    assert pattern["detail-type"] == ["EC2 Instance-terminate Lifecycle Action"]
    assert sorted(ref["Ref"] for ref in pattern["detail"]["AutoScalingGroupName"]) == sorted(synth.slot_ids)
    assert sorted(ref["Ref"] for ref in pattern["detail"]["LifecycleHookName"]) == hook_ids


def test_the_rule_target_retries_a_bounded_number_of_times_into_the_dead_letter_queue(synth: Synth) -> None:
    # Given the synthesized stack, Then the rule's target has a retry policy and the DLQ
    (rule,) = synth.template.find_resources("AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60}
    assert "DeadLetterConfig" in target


def test_the_function_retries_once_and_then_goes_to_the_dead_letter_queue(synth: Synth) -> None:
    # Given the synthesized stack, Then async invocations are bounded and failures land in the DLQ
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 210}
    )
    synth.template.has_resource_properties(
        "AWS::Lambda::Function", {"DeadLetterConfig": {"TargetArn": Match.any_value()}}
    )


def test_the_hook_outlives_the_oldest_deliverable_event_plus_the_whole_drain(synth: Synth) -> None:
    # Given the synthesized rule target, async-invoke configuration, function and hooks
    (rule,) = synth.template.find_resources("AWS::Events::Rule").values()
    (invoke,) = synth.template.find_resources("AWS::Lambda::EventInvokeConfig").values()
    rule_age = rule["Properties"]["Targets"][0]["RetryPolicy"]["MaximumEventAgeInSeconds"]
    function_age = invoke["Properties"]["MaximumEventAgeInSeconds"]
    (function,) = [
        f
        for f in synth.template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "drain.handler.lambda_handler"
    ]
    timeout = function["Properties"]["Timeout"]
    delay = int(function["Properties"]["Environment"]["Variables"]["DEREGISTRATION_DELAY_SECONDS"])

    # Then an event delivered at the latest still finds its lifecycle action waiting, with the drain's time ahead
    # of it, and the function's one retry (a minute after a failed attempt) fits in its event age
    for hook in synth.template.find_resources("AWS::AutoScaling::LifecycleHook").values():
        assert hook["Properties"]["HeartbeatTimeout"] > rule_age + function_age + delay
    assert function_age >= timeout + 60


def test_the_function_gets_the_drain_settings_with_the_port_filled_in(synth: Synth) -> None:
    # Given the synthesized stack, Then the environment carries the bound, the poll interval and the command
    synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "drain.handler.lambda_handler",
            "Timeout": 90,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "APP_PORT": "8080",
                        "DEREGISTRATION_DELAY_SECONDS": "30",
                        "HEARTBEAT_TIMEOUT_SECONDS": "330",
                        "POLL_INTERVAL_SECONDS": "0.5",
                        "IN_FLIGHT_COMMAND": "curl -fsS --max-time 1 http://127.0.0.1:8080/in-flight",
                        "TARGET_GROUP_ARN": {"Ref": synth.target_group_id},
                    }
                )
            },
        },
    )


def test_the_function_logs_to_a_group_with_retention(synth: Synth) -> None:
    # Given the synthesized stack, Then the function's log group keeps logs for a month
    synth.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    synth.template.has_resource_properties("AWS::Lambda::Function", {"LoggingConfig": {"LogGroup": Match.any_value()}})


def test_no_statement_grants_a_wildcard_action(synth: Synth) -> None:
    # Given the function's policy, Then every action is named in full
    for statement in statements(synth):
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement


def test_lifecycle_actions_are_allowed_on_the_two_slots_only(synth: Synth) -> None:
    # Given the function's policy, Then complete/heartbeat name each slot's ARN
    (statement,) = [s for s in statements(synth) if s.get("Sid") == "CompleteSlotLifecycleActions"]
    rendered = json.dumps(statement["Resource"])
    assert len(statement["Resource"]) == 2
    for slot_id in synth.slot_ids:
        assert f'{{"Ref": "{slot_id}"}}' in rendered
    assert "autoScalingGroup:*:autoScalingGroupName/" in rendered


def test_deregistration_is_allowed_on_this_target_group_only(synth: Synth) -> None:
    (statement,) = [s for s in statements(synth) if s.get("Sid") == "DeregisterFromTargetGroup"]
    assert statement["Action"] == "elasticloadbalancing:DeregisterTargets"
    assert statement["Resource"] == {"Ref": synth.target_group_id}


def test_only_read_actions_without_resource_level_support_get_a_star_resource(synth: Synth) -> None:
    star = [s for s in statements(synth) if s["Resource"] == "*"]
    assert [sorted(as_list(s["Action"])) for s in star] == [
        ["elasticloadbalancing:DescribeTargetHealth", "ssm:GetCommandInvocation"]
    ]


def test_send_command_is_limited_to_the_shell_document_and_the_slots_instances(synth: Synth) -> None:
    send = [s for s in statements(synth) if "ssm:SendCommand" in as_list(s["Action"])]
    by_sid = {s["Sid"]: s for s in send}
    assert set(by_sid) == {"RunShellScriptDocument", "RunCommandOnSlotInstances"}
    assert by_sid["RunShellScriptDocument"]["Resource"] == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:eu-west-1:*:document/AWS-RunShellScript"]]
    }
    condition = by_sid["RunCommandOnSlotInstances"]["Condition"]["StringEquals"]
    assert sorted(ref["Ref"] for ref in condition["ssm:resourceTag/aws:autoscaling:groupName"]) == sorted(
        synth.slot_ids
    )


def test_the_dead_letter_queue_is_encrypted_and_tls_only(synth: Synth) -> None:
    synth.template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    synth.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_cdk_nag_aws_solutions_finds_nothing_unsuppressed(synth: Synth) -> None:
    # The construct's own resources only: the fixture around it (VPC, slots, load balancer) is not under test.
    assert unacknowledged(synth.drain) == []


def test_the_function_reserves_the_concurrency_it_is_given(synth: Synth) -> None:
    # Given a reservation of 4 (bluegreen.config.drain_reserved_concurrency derives it from the fleet maximum)
    # Then the function can neither starve other functions nor be starved by them beyond it
    synth.template.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "drain.handler.lambda_handler", "ReservedConcurrentExecutions": 4}
    )


def test_the_template_passes_cfn_lint(synth: Synth, tmp_path: Any) -> None:
    # Given the synthesized template, When cfn-lint checks it, Then it finds nothing
    # W3010: the fixture stack's VPC uses CDK's dummy availability zones, not this construct's concern.
    # W3005: ignored project-wide with its reason in .cfnlintrc.yaml (CDK's DependsOn on the function's role).
    import subprocess
    import sys
    from pathlib import Path

    path = Path(tmp_path) / "drain.template.json"
    path.write_text(json.dumps(synth.template.to_json()))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W3010", "W3005", "--", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
