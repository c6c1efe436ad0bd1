"""Drain-aware termination: a termination hook on both slots, the EventBridge rule for it, and the drain Lambda."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from bluegreen.config import DrainTiming, drain_timing
from stacks import nag
from stacks.lambda_code import function_surroundings

SHELL_DOCUMENT = "AWS-RunShellScript"
# Auto Scaling tags every instance it launches with the name of its group.
GROUP_TAG = "aws:autoscaling:groupName"
METRIC_NAMESPACE = "BlueGreen/Drain"


class DrainOnTermination(Construct):
    """Lets every instance leaving a slot go as soon as its last request in flight has ended (docs/drain.md).

    Creates a termination lifecycle hook on each slot (default result CONTINUE), an EventBridge rule matching
    exactly those hooks' "EC2 Instance-terminate Lifecycle Action" events, and the drain Lambda with an encrypted
    dead-letter queue, bounded retries, bounded concurrency, a log group with retention and least-privilege
    permissions.

    The arguments are the validated settings (`bluegreen.config` checks every limit, including that the
    deregistration delay fits in one Lambda invocation); this construct only builds the resources.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slots: Sequence[autoscaling.AutoScalingGroup],
        target_group: elbv2.ApplicationTargetGroup,
        app_port: int,
        deregistration_delay: Duration,
        heartbeat_timeout: Duration,
        connection_count_command: str,
        poll_interval: Duration,
        reserved_concurrency: int | None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        # The function's timeout and both maximum event ages; the heartbeat (derived by the same function, at least
        # its default) outlives the oldest event either can deliver plus the whole drain (docs/drain.md, "Late events").
        timing = drain_timing(int(deregistration_delay.to_seconds()))
        self.hooks = [
            autoscaling.LifecycleHook(
                self,
                f"Hook{index}",
                auto_scaling_group=slot,
                lifecycle_transition=autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
                default_result=autoscaling.DefaultResult.CONTINUE,
                heartbeat_timeout=heartbeat_timeout,
            )
            for index, slot in enumerate(slots)
        ]
        surroundings = function_surroundings(
            self,
            role_description="Drain Lambda: completes termination lifecycle actions of the slots",
            log_retention=log_retention,
        )
        self.surroundings = surroundings
        self.dead_letter_queue = surroundings.dead_letter_queue
        self.log_group = surroundings.log_group
        self.role = surroundings.role
        self._grant(slots, target_group)
        self.function = self._function(
            target_group=target_group,
            app_port=app_port,
            deregistration_delay=deregistration_delay,
            heartbeat_timeout=heartbeat_timeout,
            connection_count_command=connection_count_command,
            poll_interval=poll_interval,
            reserved_concurrency=reserved_concurrency,
            timing=timing,
        )
        self.rule = self._rule(slots, Duration.seconds(timing.rule_max_event_age_seconds))
        self._suppress_nag(slots)

    def _function(
        self,
        *,
        target_group: elbv2.ApplicationTargetGroup,
        app_port: int,
        deregistration_delay: Duration,
        heartbeat_timeout: Duration,
        connection_count_command: str,
        poll_interval: Duration,
        reserved_concurrency: int | None,
        timing: DrainTiming,
    ) -> lambda_.Function:
        """The drain Lambda: one invocation waits out at most the deregistration delay."""
        delay_seconds = deregistration_delay.to_seconds()
        return self.surroundings.function(
            self,
            package="drain",
            description="Deregisters a terminating slot instance and completes its lifecycle hook once drained",
            timeout=Duration.seconds(timing.function_timeout_seconds),
            # bluegreen.config.drain_reserved_concurrency: both slots emptied at once, each at its maximum; None
            # when lambdaReservedConcurrency is false.
            reserved_concurrency=reserved_concurrency,
            environment={
                "TARGET_GROUP_ARN": target_group.target_group_arn,
                "APP_PORT": str(app_port),
                "DEREGISTRATION_DELAY_SECONDS": str(int(delay_seconds)),
                "HEARTBEAT_TIMEOUT_SECONDS": str(int(heartbeat_timeout.to_seconds())),
                "POLL_INTERVAL_SECONDS": str(poll_interval.to_milliseconds() / 1000),
                # str.replace, not str.format: shell commands are full of braces (awk '{print $1}').
                # The in-flight check (drainInFlightCommand) the one on-instance wait runs.
                "IN_FLIGHT_COMMAND": connection_count_command.replace("{port}", str(app_port)),
                "METRIC_NAMESPACE": METRIC_NAMESPACE,
            },
            # One retry: the function absorbs AWS errors itself, so a failure is one CompleteLifecycleAction
            # refused; a second try after the first has run its course is enough.
            retry_attempts=1,
            max_event_age=Duration.seconds(timing.function_max_event_age_seconds),
        )

    def _rule(self, slots: Sequence[autoscaling.AutoScalingGroup], max_event_age: Duration) -> events.Rule:
        """The EventBridge rule for these hooks' terminate actions, with bounded retries into the DLQ."""
        rule = events.Rule(
            self,
            "Rule",
            description="Termination lifecycle actions of the slots' drain hooks",
            event_pattern=events.EventPattern(
                source=["aws.autoscaling"],
                detail_type=["EC2 Instance-terminate Lifecycle Action"],
                detail={
                    "AutoScalingGroupName": [slot.auto_scaling_group_name for slot in slots],
                    "LifecycleHookName": [hook.lifecycle_hook_name for hook in self.hooks],
                },
            ),
        )
        rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=2,
                max_event_age=max_event_age,
            )
        )
        return rule

    def _grant(self, slots: Sequence[autoscaling.AutoScalingGroup], target_group: elbv2.ApplicationTargetGroup) -> None:
        """Least privilege: each action on these groups, this target group and these instances only."""
        stack = Stack.of(self)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="CompleteSlotLifecycleActions",
                actions=["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
                resources=[slot_arn(stack, slot) for slot in slots],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DeregisterFromTargetGroup",
                actions=["elasticloadbalancing:DeregisterTargets"],
                resources=[target_group.target_group_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTargetHealth",
                actions=["elasticloadbalancing:DescribeTargetHealth", "ssm:GetCommandInvocation"],
                resources=["*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RunShellScriptDocument",
                actions=["ssm:SendCommand"],
                # Any account: whether an AWS-owned document's ARN carries an account is not documented, and only
                # AWS can own a document named AWS-* (CreateDocument reserves the "aws" prefix).
                resources=[_shell_document_arn(stack)],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RunCommandOnSlotInstances",
                actions=["ssm:SendCommand"],
                resources=[_instance_arns(stack)],
                conditions={
                    "StringEquals": {f"ssm:resourceTag/{GROUP_TAG}": [slot.auto_scaling_group_name for slot in slots]}
                },
            )
        )

    def _suppress_nag(self, slots: Sequence[autoscaling.AutoScalingGroup]) -> None:
        """cdk-nag findings on this construct's own resources, each with its reason and the narrowest scope."""
        # No AwsSolutions-SQS3 acknowledgement for the dead-letter queue: cdk-nag recognises it as one.
        nag.acknowledge(self.role, self._role_acknowledgements(slots), apply_to_children=True)

    def _role_acknowledgements(self, slots: Sequence[autoscaling.AutoScalingGroup]) -> list[nag.Acknowledgement]:
        """One AwsSolutions-IAM5 acknowledgement per wildcard resource of the role's policy."""
        stack = Stack.of(self)
        return [
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason=(
                    "elasticloadbalancing:DescribeTargetHealth and ssm:GetCommandInvocation support no "
                    "resource-level permissions (Service Authorization Reference), so they need '*'; both "
                    "are read-only."
                ),
                applies_to=["Resource::*"],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason=(
                    "Instance ids are not known at synth time: SendCommand is allowed on instances only when "
                    f"their {GROUP_TAG} tag names one of the slots (ssm:resourceTag condition)."
                ),
                applies_to=[f"Resource::{_instance_arns(stack)}"],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason=(
                    "An Auto Scaling group ARN contains a UUID that CloudFormation does not expose; the "
                    "wildcard stands for that UUID only, the group name is fixed."
                ),
                applies_to=[f"Resource::{slot_arn(stack, slot)}" for slot in slots],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason=(
                    f"The account of the AWS-owned {SHELL_DOCUMENT} document: only AWS can own a document whose "
                    "name starts with AWS (CreateDocument reserves the prefix), so the wildcard admits no other."
                ),
                applies_to=[f"Resource::{_shell_document_arn(stack)}"],
            ),
        ]


def slot_arn(stack: Stack, slot: autoscaling.AutoScalingGroup) -> str:
    """The ARN of a slot; its middle part is a UUID CloudFormation does not return, hence the one wildcard."""
    return stack.format_arn(
        service="autoscaling",
        resource="autoScalingGroup",
        resource_name=f"*:autoScalingGroupName/{slot.auto_scaling_group_name}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


__all__ = ["DrainOnTermination", "slot_arn"]


def _instance_arns(stack: Stack) -> str:
    """Every EC2 instance of the stack's account and region; the policy narrows it by tag (ssm:resourceTag)."""
    return stack.format_arn(service="ec2", resource="instance", resource_name="*")


def _shell_document_arn(stack: Stack) -> str:
    """The AWS-owned shell document in the stack's region, whatever account AWS keeps it in."""
    return stack.format_arn(service="ssm", account="*", resource="document", resource_name=SHELL_DOCUMENT)
