"""The CodeDeploy application and its deployment groups, created through a custom resource (docs/decisions.md F1).

Two groups share one provider and one service role:

* `<stack>-blue-green`: EC2 blue/green over the two slots with traffic control through the target group, green fleet
  DISCOVER_EXISTING and blue instances KEEP_ALIVE (F2), automatic rollback and the release alarms. It names slot A on
  create only; afterwards the live slot is the release tool's (F3).
* `<stack>-bootstrap`: IN_PLACE with traffic control on the same target group and no Auto Scaling groups, so it never
  deploys by itself. The release tool uses it for the very first release, while no slot serves: it points the group
  at the idle slot, deploys in place (CodeDeploy registers each instance with the target group), then names that slot
  in the blue/green group. That path does not depend on whether CodeDeploy runs a blue/green deployment whose
  original environment is empty (F15).

Every setting of both groups is a property of its custom resource, so `cdk diff` shows a change and CloudFormation
sends an Update that applies it. The provider (`lambdas/deployment_group`) holds no defaults; they are here.
How replacement and rollback keep the one live group is explained in `lambdas/deployment_group/handler.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Arn, ArnComponents, ArnFormat, CustomResource, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from bluegreen.config import PROVIDER_RESERVED_CONCURRENCY
from stacks import nag
from stacks.lambda_code import LAMBDA_RUNTIME, handler_name, lambda_code

# CodeDeploy's policy for an EC2/On-Premises service role (CodeDeploy user guide, "Create a service role"; F14).
CODEDEPLOY_MANAGED_POLICY = "service-role/AWSCodeDeployRole"
LAMBDA_BASIC_EXECUTION = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# The provider's actions that take the deploymentgroup resource type (Service Authorization Reference, "Actions,
# resources, and condition keys for AWS CodeDeploy", as shipped in parliament's IAM definitions).
PROVIDER_GROUP_ACTIONS = (
    "codedeploy:CreateDeploymentGroup",
    "codedeploy:UpdateDeploymentGroup",
    "codedeploy:GetDeploymentGroup",
    "codedeploy:DeleteDeploymentGroup",
    "codedeploy:ListDeployments",
)
# StopDeployment lists no resource type there, so only "*" is certain to authorize it; a narrower ARN would deny the
# stop and so the Delete.
PROVIDER_STOP_ACTION = "codedeploy:StopDeployment"
# Role propagation retries (2 min) + waiting for stopped deployments (5 min) + the calls themselves.
PROVIDER_TIMEOUT = Duration.minutes(10)
BLUE_GREEN_ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
# The bootstrap deployment serves no traffic yet, so there is nothing for an alarm to protect.
BOOTSTRAP_ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST")
BOOTSTRAP_DEPLOYMENT_CONFIG = "CodeDeployDefault.AllAtOnce"


class BlueGreenDeployment(Construct):
    """A CodeDeploy application, its blue/green group over the two slots and its in-place bootstrap group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slots: Sequence[autoscaling.AutoScalingGroup],
        launch_template: ec2.LaunchTemplate,
        instance_role: iam.IRole,
        target_group: elbv2.ApplicationTargetGroup,
        alarms: Sequence[cloudwatch.Alarm],
        deployment_config_name: str,
        log_retention: logs.RetentionDays,
        bootstrap_deployment_config_name: str = BOOTSTRAP_DEPLOYMENT_CONFIG,
        provider_concurrency: int | None = PROVIDER_RESERVED_CONCURRENCY,
        triggers: Sequence[Mapping[str, Any]] = (),
        promotion_wait_minutes: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.promotion_wait_minutes = promotion_wait_minutes
        stack = Stack.of(self)
        self.application = codedeploy.ServerApplication(self, "Application")
        self.deployment_group_name = f"{stack.stack_name}-blue-green"
        self.bootstrap_group_name = f"{stack.stack_name}-bootstrap"
        self.service_role = self._service_role(launch_template, instance_role)
        self.on_event = self._provider_function(log_retention, provider_concurrency)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event,
            log_group=logs.LogGroup(self, "ProviderFrameworkLogs", retention=log_retention),
        )
        shared = self._shared_properties(target_group)
        if triggers:
            # CodeDeploy triggers (stacks/notifications.py); absent means none, and the provider then removes any.
            shared["TriggerConfigurations"] = [dict(trigger) for trigger in triggers]
        self.deployment_group = self._group(
            "DeploymentGroup",
            "Custom::BlueGreenDeploymentGroup",
            slots,
            {**shared, **self._blue_green_properties(slots[0], alarms, deployment_config_name)},
        )
        self.bootstrap_group = self._group(
            "BootstrapDeploymentGroup",
            "Custom::BootstrapDeploymentGroup",
            slots,
            {**shared, **self._bootstrap_properties(bootstrap_deployment_config_name)},
        )
        self._acknowledge_findings()

    def _shared_properties(self, target_group: elbv2.ApplicationTargetGroup) -> dict[str, Any]:
        """What both groups declare alike (the provider's property schema: lambdas/deployment_group/group.py)."""
        return {
            "ApplicationName": self.application.application_name,
            "ServiceRoleArn": self.service_role.role_arn,
            "DeploymentOption": "WITH_TRAFFIC_CONTROL",
            "TargetGroupName": target_group.target_group_name,
            # Leaving instances are drained by this stack's own termination hook and Lambda; CodeDeploy's
            # termination deployments would race them on the same instances.
            "TerminationHookEnabled": False,
            "IgnorePollAlarmFailure": False,
            "OutdatedInstancesStrategy": "UPDATE",
        }

    def _blue_green_properties(
        self, initial_slot: autoscaling.AutoScalingGroup, alarms: Sequence[cloudwatch.Alarm], config_name: str
    ) -> dict[str, Any]:
        """Blue/green over the slots (F2): slot A on create only (F3), rollback on every bad end and on alarm."""
        return {
            "DeploymentGroupName": self.deployment_group_name,
            "DeploymentType": "BLUE_GREEN",
            "DeploymentConfigName": config_name,
            "AutoRollbackEvents": list(BLUE_GREEN_ROLLBACK_EVENTS),
            "AlarmNames": [alarm.alarm_name for alarm in alarms],
            "InitialAutoScalingGroup": initial_slot.auto_scaling_group_name,
            "GreenFleetProvisioning": "DISCOVER_EXISTING",
            "BlueInstanceTermination": "KEEP_ALIVE",
            **self._ready_properties(),
        }

    def _ready_properties(self) -> dict[str, Any]:
        """The deployment-ready option: reroute at once, or, with the promotion gate, stop once the replacement slot
        is installed and wait that many minutes for ContinueDeployment (docs/decisions.md F80, F81)."""
        if self.promotion_wait_minutes is None:
            return {"DeploymentReadyAction": "CONTINUE_DEPLOYMENT"}
        return {"DeploymentReadyAction": "STOP_DEPLOYMENT", "DeploymentReadyWaitMinutes": self.promotion_wait_minutes}

    def _bootstrap_properties(self, config_name: str) -> dict[str, Any]:
        """In place with no Auto Scaling group: it deploys only when the release tool gives it the idle slot."""
        return {
            "DeploymentGroupName": self.bootstrap_group_name,
            "DeploymentType": "IN_PLACE",
            "DeploymentConfigName": config_name,
            "AutoRollbackEvents": list(BOOTSTRAP_ROLLBACK_EVENTS),
            "AlarmNames": [],
        }

    def _service_role(self, launch_template: ec2.LaunchTemplate, instance_role: iam.IRole) -> iam.Role:
        """CodeDeploy's service role: AWSCodeDeployRole plus what slots built from a launch template need."""
        role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            description="CodeDeploy blue/green over the two slots and the target group",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CODEDEPLOY_MANAGED_POLICY)],
        )
        for statement in self._launch_template_statements(launch_template, instance_role):
            role.add_to_policy(statement)
        return role

    @staticmethod
    def _launch_template_statements(
        launch_template: ec2.LaunchTemplate, instance_role: iam.IRole
    ) -> list[iam.PolicyStatement]:
        """CodeDeploy's guide requires ec2:RunInstances, ec2:CreateTags and iam:PassRole when the Auto Scaling
        groups use a launch template, because Auto Scaling checks the caller's ec2:RunInstances permission whenever
        it updates such a group (Auto Scaling guide, "Launch template support"). Each is narrowed by a condition to
        this stack's launch template and instance role.
        """
        template_arn = Arn.format(
            ArnComponents(
                service="ec2",
                resource="launch-template",
                resource_name=str(launch_template.launch_template_id),
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            ),
            Stack.of(launch_template),
        )
        return [
            iam.PolicyStatement(
                actions=["ec2:RunInstances"],
                resources=["*"],
                conditions={"ArnLike": {"ec2:LaunchTemplate": template_arn}},
            ),
            iam.PolicyStatement(
                actions=["ec2:CreateTags"],
                resources=["*"],
                conditions={"StringEquals": {"ec2:CreateAction": "RunInstances"}},
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[instance_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
        ]

    def _provider_function(self, log_retention: logs.RetentionDays, concurrency: int | None) -> lambda_.Function:
        on_event = lambda_.Function(
            self,
            "GroupProvider",
            runtime=LAMBDA_RUNTIME,
            code=lambda_code("deployment_group"),
            handler=handler_name("deployment_group"),
            timeout=PROVIDER_TIMEOUT,
            reserved_concurrent_executions=concurrency,
            description="Creates, updates and deletes the CodeDeploy EC2 deployment groups (blue/green, bootstrap)",
            log_group=logs.LogGroup(self, "GroupProviderLogs", retention=log_retention),
        )
        for statement in self._provider_statements():
            on_event.add_to_role_policy(statement)
        return on_event

    def group_arn_patterns(self) -> list[str]:
        """The provider's codedeploy resources: this stack's two group names in any application.

        The ARN is `arn:${Partition}:codedeploy:${Region}:${Account}:deploymentgroup:${ApplicationName}/
        ${DeploymentGroupName}` (Service Authorization Reference). The application part is a wildcard on purpose:
        when CloudFormation replaces the application, the provider reads the old application's group (to carry its
        live slot over) and CloudFormation's cleanup deletes it, with this role already updated to the new
        application. The group names carry the stack name, which never changes for a stack.
        """
        stack = Stack.of(self)
        return [
            Arn.format(
                ArnComponents(
                    service="codedeploy",
                    resource="deploymentgroup",
                    resource_name=f"*/{name}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
                stack,
            )
            for name in (self.deployment_group_name, self.bootstrap_group_name)
        ]

    def _provider_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(actions=list(PROVIDER_GROUP_ACTIONS), resources=self.group_arn_patterns()),
            iam.PolicyStatement(actions=[PROVIDER_STOP_ACTION], resources=["*"]),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.service_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "codedeploy.amazonaws.com"}},
            ),
        ]

    def _group(
        self,
        construct_id: str,
        resource_type: str,
        slots: Sequence[autoscaling.AutoScalingGroup],
        properties: Mapping[str, Any],
    ) -> CustomResource:
        group = CustomResource(
            self,
            construct_id,
            service_token=self.provider.service_token,
            resource_type=resource_type,
            properties=dict(properties),
        )
        # The role's inline policy must exist before CodeDeploy validates the group with it (the ARN alone orders
        # only the role); both slots must outlive the group, so that its Delete finds them and CloudFormation
        # deletes them only afterwards.
        policy = self.service_role.node.try_find_child("DefaultPolicy")
        for dependency in (policy, *slots):
            if dependency is not None:
                group.node.add_dependency(dependency)
        return group

    def _acknowledge_findings(self) -> None:
        """cdk-nag acknowledgements, each narrowed to the finding it answers (a test checks each still matches)."""
        nag.acknowledge(self.service_role, self._service_role_acknowledgements(), apply_to_children=True)
        nag.acknowledge(self.on_event, self._provider_function_acknowledgements(), apply_to_children=True)
        nag.acknowledge(self.provider, self._framework_acknowledgements(), apply_to_children=True)

    @staticmethod
    def _service_role_acknowledgements() -> list[nag.Acknowledgement]:
        return [
            nag.Acknowledgement(
                id="AwsSolutions-IAM4",
                reason="AWSCodeDeployRole is the policy AWS documents for an EC2/On-Premises CodeDeploy service role "
                "and keeps current as CodeDeploy calls new actions (ELB Describe*Attributes, "
                "autoscaling:DescribeAutoScalingInstances); the hand-copied subset it replaces had drifted.",
                applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRole"],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason="ec2:RunInstances and ec2:CreateTags, required by CodeDeploy for Auto Scaling groups built "
                "from a launch template, are limited by conditions to this stack's launch template and to "
                "tagging at launch.",
                applies_to=["Resource::*"],
            ),
        ]

    def _provider_function_acknowledgements(self) -> list[nag.Acknowledgement]:
        return [
            nag.Acknowledgement(
                id="AwsSolutions-IAM4",
                reason="AWSLambdaBasicExecutionRole only lets the function write its own logs.",
                applies_to=[LAMBDA_BASIC_EXECUTION],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason="This stack's two deployment group names, in whichever application the stack has now or had "
                "before a replacement.",
                applies_to=[f"Resource::{arn}" for arn in self.group_arn_patterns()],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason="codedeploy:StopDeployment has no resource-level permission; the provider stops only the "
                "deployments ListDeployments (scoped to this stack's groups) returns, before deleting their group.",
                applies_to=["Resource::*"],
            ),
        ]

    def _framework_acknowledgements(self) -> list[nag.Acknowledgement]:
        return [
            nag.Acknowledgement(
                id="AwsSolutions-IAM4",
                reason="CDK's provider framework function writes its own logs only.",
                applies_to=[LAMBDA_BASIC_EXECUTION],
            ),
            nag.Acknowledgement(
                id="AwsSolutions-IAM5",
                reason="CDK's provider framework invokes every version of the one on-event function.",
                applies_to=[f"Resource::{self.on_event.function_arn}:*"],
            ),
        ]
