"""The one stack: wires the constructs together and declares what the release tool reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Aspects, CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks.alarms import ReleaseAlarms
from stacks.artifacts import ArtifactStore
from stacks.config import AppConfig
from stacks.deployment import BlueGreenDeployment
from stacks.drain import DrainOnTermination
from stacks.fleet import Fleet
from stacks.load_balancer import LoadBalancer
from stacks.network import Network

# CloudWatch Logs retention periods in days, as aws-cdk-lib names them (config.LOG_RETENTION_DAYS lists the same set).
RETENTION_BY_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

# Output keys are the release tool's contract (scripts/release reads them with DescribeStacks): never exported,
# so several copies of the stack can live in one account and region.
OUTPUT_KEYS = (
    "SiteUrl",
    "ArtifactBucketName",
    "ApplicationName",
    "DeploymentGroupName",
    "SlotAName",
    "SlotBName",
    "TargetGroupArn",
    "FleetMinSize",
    "FleetDesiredSize",
    "FleetMaxSize",
)


class BlueGreenStack(Stack):
    """Artifact bucket, network, load balancer, two slots, drain-on-termination and the blue/green deployment."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = RETENTION_BY_DAYS[config.log_retention_days]

        artifacts = ArtifactStore(
            self,
            "Artifacts",
            noncurrent_version_days=config.artifact_noncurrent_days,
            abort_incomplete_upload_days=config.abort_incomplete_upload_days,
            log_retention_days=max(config.log_retention_days, 90),
        )
        network = Network(
            self,
            "Network",
            existing_vpc=config.existing_vpc,
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            log_retention=retention,
        )
        entry = LoadBalancer(
            self,
            "LoadBalancer",
            vpc=network.vpc,
            health_check=config.health_check,
            deregistration_delay_seconds=config.deregistration_delay_seconds,
            certificate_arn=config.certificate_arn,
            access_logs_bucket=artifacts.log_bucket,
        )
        fleet = Fleet(
            self,
            "Fleet",
            vpc=network.vpc,
            instance_type=config.instance_type,
            max_capacity=config.fleet.maximum,
            artifact_bucket=artifacts.bucket,
        )
        fleet.admit_from(entry.alb, config.app_port)

        DrainOnTermination(
            self,
            "Drain",
            slots=fleet.slots,
            target_group=entry.target_group,
            app_port=config.app_port,
            deregistration_delay=Duration.seconds(config.deregistration_delay_seconds),
            heartbeat_timeout=Duration.seconds(config.drain_heartbeat_seconds),
            connection_count_command=config.drain_command,
            poll_interval=Duration.seconds(config.drain_poll_interval_seconds),
            log_retention=retention,
        )
        alarms = ReleaseAlarms(
            self, "Alarms", target_group=entry.target_group, target_5xx_threshold=config.alarm_5xx_threshold
        )
        deployment = BlueGreenDeployment(
            self,
            "Deployment",
            slots=fleet.slots,
            target_group=entry.target_group,
            alarms=alarms.alarms,
            deployment_config_name=config.deployment_config_name,
            log_retention=retention,
        )

        slot_a, slot_b = fleet.slots
        outputs = {
            "SiteUrl": f"{entry.url_scheme}://{entry.alb.load_balancer_dns_name}",
            "ArtifactBucketName": artifacts.bucket.bucket_name,
            "ApplicationName": deployment.application.application_name,
            "DeploymentGroupName": deployment.deployment_group.get_att_string("DeploymentGroupName"),
            "SlotAName": slot_a.auto_scaling_group_name,
            "SlotBName": slot_b.auto_scaling_group_name,
            "TargetGroupArn": entry.target_group.target_group_arn,
            "FleetMinSize": str(config.fleet.minimum),
            "FleetDesiredSize": str(config.fleet.desired),
            "FleetMaxSize": str(config.fleet.maximum),
        }
        for key in OUTPUT_KEYS:
            CfnOutput(self, key, value=outputs[key])


def build_stack(app: App, config: AppConfig, env: Environment) -> BlueGreenStack:
    """The stack as `cdk synth` builds it, AwsSolutions checks included (app.py and the tests share this)."""
    stack = BlueGreenStack(
        app,
        config.stack_name,
        config=config,
        env=env,
        description="Zero-downtime EC2 blue/green releases on CodeDeploy (two slots, drain-aware termination)",
    )
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return stack
