"""The CodeDeploy application and its EC2 blue/green deployment group (through a custom resource, DESIGN F1)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Arn, ArnFormat, CustomResource, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.lambda_code import LAMBDA_RUNTIME, handler_name, lambda_code


class BlueGreenDeployment(Construct):
    """A CodeDeploy application and a blue/green deployment group over the two slots.

    CloudFormation supports blue/green only for Lambda and ECS (DESIGN F1), so the group is created, updated and
    deleted by `lambdas/deployment_group` through CDK's provider framework, which always answers CloudFormation.
    The live slot is named on create only; updates leave it to the release tool (DESIGN F3).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slots: Sequence[autoscaling.AutoScalingGroup],
        target_group: elbv2.ApplicationTargetGroup,
        alarms: Sequence[cloudwatch.Alarm],
        deployment_config_name: str,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.application = codedeploy.ServerApplication(self, "Application")
        self.deployment_group_name = f"{stack.stack_name}-blue-green"

        self.service_role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            description="CodeDeploy blue/green over the two slots and the target group",
        )
        slot_arns = [slot.auto_scaling_group_arn for slot in slots]
        # The DISCOVER_EXISTING subset of AWS's AWSCodeDeployRole, scoped to this stack's groups, target group and
        # alarms; Describe* calls take no resource-level permissions.
        self.service_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "autoscaling:CompleteLifecycleAction",
                    "autoscaling:DeleteLifecycleHook",
                    "autoscaling:PutLifecycleHook",
                    "autoscaling:RecordLifecycleActionHeartbeat",
                    "autoscaling:CreateOrUpdateTags",
                    "autoscaling:UpdateAutoScalingGroup",
                    "autoscaling:SuspendProcesses",
                    "autoscaling:ResumeProcesses",
                    "autoscaling:PutNotificationConfiguration",
                ],
                resources=slot_arns,
            )
        )
        self.service_role.add_to_policy(
            iam.PolicyStatement(
                actions=["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                resources=[target_group.target_group_arn],
            )
        )
        self.service_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeLifecycleHooks",
                    "autoscaling:DescribeNotificationConfigurations",
                    "autoscaling:DescribePolicies",
                    "autoscaling:DescribeScheduledActions",
                    "autoscaling:DescribeWarmPool",
                    "cloudwatch:DescribeAlarms",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "tag:GetResources",
                ],
                resources=["*"],
            )
        )

        on_event = lambda_.Function(
            self,
            "GroupProvider",
            runtime=LAMBDA_RUNTIME,
            code=lambda_code("deployment_group"),
            handler=handler_name("deployment_group"),
            timeout=Duration.minutes(5),
            description="Creates, updates and deletes the EC2 blue/green CodeDeploy deployment group",
            log_group=logs.LogGroup(self, "GroupProviderLogs", retention=log_retention),
        )
        group_arn = Arn.format(
            {
                "service": "codedeploy",
                "resource": "deploymentgroup",
                "resource_name": f"{self.application.application_name}/*",
                "arn_format": ArnFormat.COLON_RESOURCE_NAME,
            },
            stack,
        )
        on_event.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "codedeploy:CreateDeploymentGroup",
                    "codedeploy:UpdateDeploymentGroup",
                    "codedeploy:DeleteDeploymentGroup",
                    "codedeploy:GetDeploymentGroup",
                ],
                resources=[group_arn],
            )
        )
        on_event.add_to_role_policy(
            iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.service_role.role_arn])
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=on_event,
            log_group=logs.LogGroup(self, "ProviderFrameworkLogs", retention=log_retention),
        )
        self.deployment_group = CustomResource(
            self,
            "DeploymentGroup",
            service_token=provider.service_token,
            resource_type="Custom::BlueGreenDeploymentGroup",
            properties={
                "ApplicationName": self.application.application_name,
                "DeploymentGroupName": self.deployment_group_name,
                "ServiceRoleArn": self.service_role.role_arn,
                "TargetGroupName": target_group.target_group_name,
                "DeploymentConfigName": deployment_config_name,
                "AlarmNames": [alarm.alarm_name for alarm in alarms],
                "InitialAutoScalingGroup": slots[0].auto_scaling_group_name,
            },
        )
        # The role's policy must exist before CodeDeploy validates the group with it; the ARN alone orders only
        # the role.
        policy = self.service_role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.deployment_group.node.add_dependency(policy)

        NagSuppressions.add_resource_suppressions(
            self.service_role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Describe/Get calls of Auto Scaling, EC2, ELB, CloudWatch and tagging have no "
                    "resource-level permissions; every mutating action is scoped to this stack's resources.",
                    "applies_to": ["Resource::*"],
                }
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            on_event,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AWSLambdaBasicExecutionRole only lets the function write its own logs.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Deployment groups of this stack's application only; the group name is chosen "
                    "by the stack and may be renamed by an update.",
                    "applies_to": [
                        {"regex": "/^Resource::arn:<AWS::Partition>:codedeploy:.*:deploymentgroup:.*\\/\\*$/"}
                    ],
                },
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            provider,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "CDK's provider framework function writes its own logs only.",
                    "applies_to": [
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                    ],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "CDK's provider framework invokes every version of the one on-event function.",
                    "applies_to": [{"regex": "/^Resource::<.*GroupProvider.*\\.Arn>:\\*$/"}],
                },
                {
                    "id": "AwsSolutions-L1",
                    "reason": "The provider framework's runtime is chosen and updated by aws-cdk-lib.",
                },
            ],
            apply_to_children=True,
        )
