"""Instances that join the live slot outside a release: a rule for the slots' launches and the join Lambda."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import nag
from stacks.lambda_code import function_surroundings

LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
METRIC_NAMESPACE = "BlueGreen/Join"
# The function may wait, polling, for an instance still Pending (lambdas/join/decision.py): Lambda's maximum.
FUNCTION_TIMEOUT = Duration.minutes(15)
# A late registration is still correct (the function reads the instance's state and the live slot when it runs), so
# throttled events are kept as long as Lambda allows (6 hours).
MAX_EVENT_AGE = Duration.hours(6)


class JoinLiveSlot(Construct):
    """Registers with the target group each instance that joins the live slot outside a release (issue 9 §4).

    A scaling policy, a health replacement or a manual resize launches an instance into the live slot; the slots are not
    attached to the target group, and whether CodeDeploy's automatic launch deployment registers the instance is not
    documented (docs/decisions.md F15, U2). So an EventBridge rule for the slots' "EC2 Instance Launch Successful"
    events invokes the join Lambda, which registers the instance only when it is InService (all launch hooks done, F20,
    F21, CodeDeploy's deployment of the last successful revision included, F19) and its slot is the one the blue/green
    deployment group lists (docs/decisions.md F3). RegisterTargets is idempotent, so whether or not CodeDeploy
    registered the instance too, the result is the same. The events are delivered on a best-effort basis (EventBridge
    events reference, Auto Scaling): a lost one leaves a live instance out of the target group (capacity, not wrong
    traffic).

    Bounded retries, a dead-letter queue (encrypted), reserved concurrency (unless lambdaReservedConcurrency is false),
    a log group with the stack's retention and least-privilege permissions: RegisterTargets on this target group,
    GetDeploymentGroup on this deployment group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slots: Sequence[autoscaling.AutoScalingGroup],
        target_group: elbv2.ApplicationTargetGroup,
        application_name: str,
        deployment_group_name: str,
        reserved_concurrency: int | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if not slots:
            raise ValueError("JoinLiveSlot needs at least one slot")
        surroundings = function_surroundings(
            self,
            role_description="Join Lambda: registers instances that joined the live slot with the target group",
            log_retention=log_retention,
        )
        self.dead_letter_queue = surroundings.dead_letter_queue
        self.log_group = surroundings.log_group
        self.role = surroundings.role
        self._grant(target_group, application_name, deployment_group_name)

        self.function = surroundings.function(
            self,
            package="join",
            description="Registers an instance that joined the live slot outside a release with the target group",
            timeout=FUNCTION_TIMEOUT,
            # bluegreen.config.join_reserved_concurrency, or None (lambdaReservedConcurrency false).
            reserved_concurrency=reserved_concurrency,
            environment={
                "TARGET_GROUP_ARN": target_group.target_group_arn,
                "APPLICATION_NAME": application_name,
                "DEPLOYMENT_GROUP_NAME": deployment_group_name,
                "POLL_INTERVAL_SECONDS": "10",
                "METRIC_NAMESPACE": METRIC_NAMESPACE,
            },
            # Two retries (Lambda's maximum): an AWS call that keeps failing, or an instance still Pending after
            # three invocations, belongs in the dead-letter queue where an operator sees it.
            retry_attempts=2,
            max_event_age=MAX_EVENT_AGE,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description="Instances launched into either slot (the function decides whether the slot is live)",
            event_pattern=events.EventPattern(
                source=["aws.autoscaling"],
                detail_type=[LAUNCH_SUCCESSFUL],
                detail={"AutoScalingGroupName": [slot.auto_scaling_group_name for slot in slots]},
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=2,
                max_event_age=Duration.hours(1),
            )
        )
        self._suppress_nag()

    def _grant(
        self, target_group: elbv2.ApplicationTargetGroup, application_name: str, deployment_group_name: str
    ) -> None:
        """Least privilege: register with this target group, read this deployment group, find an instance's group."""
        stack = Stack.of(self)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RegisterWithTargetGroup",
                actions=["elasticloadbalancing:RegisterTargets"],
                resources=[target_group.target_group_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadDeploymentGroup",
                actions=["codedeploy:GetDeploymentGroup"],
                # Keyword arguments, never a dict: jsii drops snake_case dict keys silently (docs/decisions.md F16).
                resources=[
                    stack.format_arn(
                        service="codedeploy",
                        resource="deploymentgroup",
                        resource_name=f"{application_name}/{deployment_group_name}",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadInstanceLifecycleState",
                actions=["autoscaling:DescribeAutoScalingInstances"],
                resources=["*"],
            )
        )

    def _suppress_nag(self) -> None:
        """cdk-nag findings on this construct's own resources, each with its reason and the narrowest scope."""
        nag.acknowledge(
            self.role,
            [
                nag.Acknowledgement(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "autoscaling:DescribeAutoScalingInstances supports no resource-level permissions (Service "
                        "Authorization Reference), so it needs '*'; it is read-only."
                    ),
                    applies_to=["Resource::*"],
                ),
            ],
            apply_to_children=True,
        )


__all__ = ["JoinLiveSlot"]
