"""The AWS-side finisher: a release completes even when its runner dies (issue 12 §4; README, "If the runner dies")."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from bluegreen.bake import window_key
from bluegreen.lease import lease_key
from stacks import nag
from stacks.drain import slot_arn
from stacks.lambda_code import function_surroundings

DEPLOYMENT_STATE_CHANGE = "CodeDeploy Deployment State-change Notification"
# The deployment states that end a deployment (docs/decisions.md F59); START, READY and the rest are not acted on.
ENDED_STATES = ("SUCCESS", "FAILURE", "STOP")
# A handful of reads and writes, each with the SDK's retries: two minutes is ample, and far below the lease's TTL.
FUNCTION_TIMEOUT = Duration.minutes(2)
# A late finish is still correct (the function reads the group's state when it runs, docs/decisions.md F62), so an
# event is kept an hour; older ones go to the dead-letter queue, and the sweep converges anyway.
MAX_EVENT_AGE = Duration.hours(1)


class ReleaseFinisher(Construct):
    """Completes a release whose runner died: the finish or cleanup the release tool would do, through the same code.

    Two EventBridge rules invoke the finisher Lambda (`lambdas/finisher`): CodeDeploy's deployment state-change events
    of this stack's blue/green group that end a deployment (SUCCESS, FAILURE, STOP), and a sweep every `sweep_interval`
    (events are delivered on a best-effort basis, and the one that matters can arrive while the dying run's lease is
    still valid: docs/decisions.md F59, F61). The function takes the release lease in the artifact bucket like any
    release; while a live run holds it, it does nothing. Bootstrap-group (first release) events never reach it: the
    rule filters on the blue/green group, and the function leaves a first release to the next release.

    Reserved concurrency (one at a time, unless lambdaReservedConcurrency is false), bounded retries, an encrypted
    dead-letter queue with an alarm, and least-privilege permissions: the two slots, the deployment groups, the lease
    key and the bake window's key, reads of the target group's health.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slots: Sequence[autoscaling.AutoScalingGroup],
        target_group: elbv2.ApplicationTargetGroup,
        artifact_bucket: s3.IBucket,
        application_name: str,
        deployment_group_name: str,
        bootstrap_group_name: str,
        sweep_interval: Duration,
        reserved_concurrency: int | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if len(slots) != 2:
            raise ValueError("ReleaseFinisher needs the two slots")
        surroundings = function_surroundings(
            self,
            role_description="Finisher Lambda: completes a release whose runner died (switch or clean up, resume)",
            log_retention=log_retention,
        )
        self.dead_letter_queue = surroundings.dead_letter_queue
        self.log_group = surroundings.log_group
        self.role = surroundings.role
        self._grant(slots, artifact_bucket, application_name, (deployment_group_name, bootstrap_group_name))
        self.function = surroundings.function(
            self,
            package="finisher",
            shared=("bluegreen",),
            description="Completes a blue/green release whose runner died, once its release lease is free",
            timeout=FUNCTION_TIMEOUT,
            # bluegreen.config.FINISHER_RESERVED_CONCURRENCY (1: serialised), or None (lambdaReservedConcurrency false).
            reserved_concurrency=reserved_concurrency,
            environment={
                "APPLICATION_NAME": application_name,
                "DEPLOYMENT_GROUP_NAME": deployment_group_name,
                "BOOTSTRAP_GROUP_NAME": bootstrap_group_name,
                "SLOT_NAMES": ",".join(slot.auto_scaling_group_name for slot in slots),
                "ARTIFACT_BUCKET": artifact_bucket.bucket_name,
                "TARGET_GROUP_ARN": target_group.target_group_arn,
            },
            # Two retries (Lambda's maximum, docs/decisions.md F63): a step that keeps failing belongs in the
            # dead-letter queue, where the alarm below shows it.
            retry_attempts=2,
            max_event_age=MAX_EVENT_AGE,
        )
        target = targets.LambdaFunction(
            self.function, dead_letter_queue=self.dead_letter_queue, retry_attempts=2, max_event_age=MAX_EVENT_AGE
        )
        self.deployment_rule = events.Rule(
            self,
            "DeploymentEnded",
            description="A deployment of the blue/green group ended: finish the release if its runner is gone",
            event_pattern=events.EventPattern(
                source=["aws.codedeploy"],
                detail_type=[DEPLOYMENT_STATE_CHANGE],
                detail={
                    "application": [application_name],
                    "deploymentGroup": [deployment_group_name],
                    "state": list(ENDED_STATES),
                },
            ),
        )
        self.deployment_rule.add_target(target)
        self.sweep_rule = events.Rule(
            self,
            "Sweep",
            description="Look for a release left unfinished (cheap when there is none)",
            schedule=events.Schedule.rate(sweep_interval),
        )
        self.sweep_rule.add_target(target)
        self.dead_letters = cloudwatch.Alarm(
            self,
            "DeadLetters",
            alarm_description=(
                "The release finisher failed an event after its retries: a release may be unfinished; read the "
                "function's log and run the next release (it converges first)"
            ),
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._suppress_nag(slots)

    def _grant(
        self,
        slots: Sequence[autoscaling.AutoScalingGroup],
        artifact_bucket: s3.IBucket,
        application_name: str,
        groups: tuple[str, str],
    ) -> None:
        """Least privilege: each statement names exactly the resources the finisher acts on (the target group is read
        with DescribeTargetHealth, which takes no resource ARN; the function reads only the one in its environment)."""
        stack = Stack.of(self)
        blue_green, bootstrap = (
            stack.format_arn(
                service="codedeploy",
                resource="deploymentgroup",
                resource_name=f"{application_name}/{name}",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in groups
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadDeploymentGroups",
                actions=["codedeploy:GetDeploymentGroup"],
                resources=[blue_green, bootstrap],
            ),
            iam.PolicyStatement(
                sid="FinishBlueGreenGroup",
                actions=["codedeploy:ListDeployments", "codedeploy:GetDeployment", "codedeploy:UpdateDeploymentGroup"],
                resources=[blue_green],
            ),
            iam.PolicyStatement(
                sid="EmptyAndResumeSlots",
                actions=["autoscaling:UpdateAutoScalingGroup", "autoscaling:ResumeProcesses"],
                resources=[slot_arn(stack, slot) for slot in slots],
            ),
            iam.PolicyStatement(
                sid="ReleaseLease",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[
                    artifact_bucket.arn_for_objects(lease_key(application_name, groups[0]))  # the one lease key
                ],
            ),
            iam.PolicyStatement(
                # The bake window's record (bluegreen.bake): read to keep the old slot, written to close the window.
                sid="BakeWindow",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[artifact_bucket.arn_for_objects(window_key(application_name, groups[0]))],
            ),
            iam.PolicyStatement(
                sid="ReadSlotsTargetsAndDeploymentTargets",
                actions=[
                    "autoscaling:DescribeAutoScalingGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "codedeploy:ListDeploymentTargets",
                    "codedeploy:BatchGetDeploymentTargets",
                ],
                resources=["*"],
            ),
        ]
        for statement in statements:
            self.role.add_to_policy(statement)

    def _suppress_nag(self, slots: Sequence[autoscaling.AutoScalingGroup]) -> None:
        """cdk-nag findings on this construct's own resources, each with its reason and the narrowest scope."""
        stack = Stack.of(self)
        nag.acknowledge(
            self.role,
            [
                nag.Acknowledgement(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "autoscaling:DescribeAutoScalingGroups, elasticloadbalancing:DescribeTargetHealth, "
                        "codedeploy:ListDeploymentTargets and codedeploy:BatchGetDeploymentTargets support no "
                        "resource-level permissions (Service Authorization Reference), so they need '*'; all are "
                        "read-only."
                    ),
                    applies_to=["Resource::*"],
                ),
                nag.Acknowledgement(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "An Auto Scaling group ARN contains a UUID that CloudFormation does not expose; the wildcard "
                        "stands for that UUID only, the group name is fixed."
                    ),
                    applies_to=[f"Resource::{slot_arn(stack, slot)}" for slot in slots],
                ),
            ],
            apply_to_children=True,
        )


__all__ = ["ReleaseFinisher"]
