"""Optional SNS notifications: deployments of the CodeDeploy groups and the rollback alarms publish to one topic.

Setting `notificationsTopic` (bluegreen/config.py): `true` creates the topic here, an ARN uses an existing standard
topic, `false` (the default) builds nothing. The topic is wired as each group's CodeDeploy trigger (part of the
group's desired state: `TriggerConfigurations`, lambdas/deployment_group/group.py) and as the alarm and OK action of
the alarms that roll a deployment back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import nag

# The deployment events a team wants to hear about (TriggerEventType, CodeDeploy API reference); the instance-level
# events would publish once per instance.
TRIGGER_EVENTS = (
    "DeploymentStart",
    "DeploymentSuccess",
    "DeploymentFailure",
    "DeploymentStop",
    "DeploymentRollback",
)
TRIGGER_NAME = "notifications"
CLOUDWATCH = "cloudwatch.amazonaws.com"


class ReleaseNotifications(Construct):
    """The topic deployments and rollback alarms publish to: created (KMS-encrypted, TLS-only) or an existing one.

    A created topic is encrypted with a customer-managed key, because the AWS-managed SNS key's policy cannot be
    extended and CloudWatch alarms can publish to an encrypted topic only when the key lets cloudwatch.amazonaws.com
    use it (SNS developer guide, "Enable compatibility between event sources from AWS services and encrypted
    topics"). CodeDeploy publishes triggers as the group's service role, which `allow_publish` grants.
    """

    def __init__(self, scope: Construct, construct_id: str, *, existing_topic_arn: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.key: kms.Key | None = None
        if existing_topic_arn is not None:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", existing_topic_arn)
            return
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the release notifications topic",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True)
        alarm_arns = f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
        # enforce_ssl writes a topic policy, which replaces SNS's default one: CloudWatch then needs its own statement,
        # limited to this account's alarms (SNS developer guide, confused-deputy prevention).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": alarm_arns},
                },
            )
        )
        self.topic = topic

    def trigger_configurations(self) -> list[dict[str, Any]]:
        """The groups' `TriggerConfigurations` property (the provider's schema: lambdas/deployment_group/group.py)."""
        return [
            {
                "TriggerName": TRIGGER_NAME,
                "TriggerTargetArn": self.topic.topic_arn,
                "TriggerEvents": list(TRIGGER_EVENTS),
            }
        ]

    def allow_publish(self, role: iam.IRole) -> None:
        """Let CodeDeploy's service role publish the triggers (sns:Publish; the key's data-key use when encrypted)."""
        self.topic.grant_publish(role)
        if self.key is not None:
            nag.acknowledge(
                role,
                [
                    nag.Acknowledgement(
                        id="AwsSolutions-IAM5",
                        reason="SNS encrypts each trigger message with a new data key from the topic's own key "
                        "(kms:GenerateDataKey*, the grant CDK's grantPublish gives for an encrypted topic).",
                        applies_to=["Action::kms:GenerateDataKey*"],
                    )
                ],
                apply_to_children=True,
            )

    def notify_on(self, alarms: Iterable[cloudwatch.Alarm]) -> None:
        """Publish each alarm's transitions to ALARM and back to OK."""
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
