"""The one stack: wires the constructs together and declares what the release tool reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from bluegreen import outputs as output_names
from bluegreen.config import LOG_RETENTION_DAYS, AppConfig, lambda_reservations
from stacks import nag
from stacks.alarms import ReleaseAlarms
from stacks.artifacts import ArtifactStore
from stacks.dashboard import ReleaseDashboard
from stacks.deployment import BlueGreenDeployment
from stacks.drain import METRIC_NAMESPACE as DRAIN_METRIC_NAMESPACE
from stacks.drain import DrainOnTermination
from stacks.finisher import ReleaseFinisher
from stacks.fleet import Fleet
from stacks.join import METRIC_NAMESPACE as JOIN_METRIC_NAMESPACE
from stacks.join import JoinLiveSlot
from stacks.load_balancer import LoadBalancer
from stacks.network import Network
from stacks.notifications import ReleaseNotifications


class BlueGreenStack(Stack):
    """Artifact bucket, network, load balancer, two slots, drain-on-termination and the blue/green deployment."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention: logs.RetentionDays = getattr(logs.RetentionDays, LOG_RETENTION_DAYS[config.log_retention_days])
        # All three, or none with lambdaReservedConcurrency false (an account whose quota cannot hold them, F25).
        reservations = lambda_reservations(config)

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
            promotion=config.promotion,
        )
        fleet = Fleet(
            self,
            "Fleet",
            vpc=network.vpc,
            instance_type=config.instance_type,
            max_capacity=config.fleet.maximum,
            artifact_bucket=artifacts.bucket,
            agent_ready_timeout=Duration.seconds(config.agent_ready_timeout_seconds),
            warm_pool_size=config.warm_pool_size,
            machine_image=config.machine_image,
            managed_policies=config.instance_role_managed_policies,
            user_data_fragment=config.user_data_fragment,
        )
        fleet.admit_from(entry.alb, config.app_port)

        drain = DrainOnTermination(
            self,
            "Drain",
            slots=fleet.slots,
            target_group=entry.target_group,
            app_port=config.app_port,
            deregistration_delay=Duration.seconds(config.deregistration_delay_seconds),
            heartbeat_timeout=Duration.seconds(config.drain_heartbeat_seconds),
            connection_count_command=config.drain_command,
            poll_interval=Duration.seconds(config.drain_poll_interval_seconds),
            reserved_concurrency=reservations.drain,
            log_retention=retention,
        )
        alarms = ReleaseAlarms(
            self, "Alarms", target_group=entry.target_group, target_5xx_threshold=config.alarm_5xx_threshold
        )
        notifications = _notifications(self, config)
        deployment = BlueGreenDeployment(
            self,
            "Deployment",
            slots=fleet.slots,
            launch_template=fleet.launch_template,
            instance_role=fleet.role,
            target_group=entry.target_group,
            alarms=alarms.alarms,
            deployment_config_name=config.deployment_config_name,
            log_retention=retention,
            provider_concurrency=reservations.provider,
            triggers=notifications.trigger_configurations() if notifications else (),
            promotion_wait_minutes=config.promotion.wait_minutes if config.promotion else None,
        )
        if notifications is not None:
            notifications.allow_publish(deployment.service_role)
            notifications.notify_on(alarms.alarms)
            CfnOutput(self, output_names.NOTIFICATIONS_TOPIC_ARN, value=notifications.topic.topic_arn)
        join = JoinLiveSlot(
            self,
            "Join",
            slots=fleet.slots,
            target_group=entry.target_group,
            application_name=deployment.application.application_name,
            deployment_group_name=deployment.deployment_group_name,
            reserved_concurrency=reservations.join,
            log_retention=retention,
        )
        if config.finisher_enabled:
            ReleaseFinisher(
                self,
                "Finisher",
                slots=fleet.slots,
                target_group=entry.target_group,
                artifact_bucket=artifacts.bucket,
                application_name=deployment.application.application_name,
                deployment_group_name=deployment.deployment_group_name,
                bootstrap_group_name=deployment.bootstrap_group_name,
                sweep_interval=Duration.minutes(config.finisher_sweep_minutes),
                reserved_concurrency=reservations.finisher,
                log_retention=retention,
            )
        dashboard = ReleaseDashboard(
            self,
            "Dashboard",
            slots=fleet.slots,
            load_balancer=entry.alb,
            target_group=entry.target_group,
            alarms=alarms.alarms,
            drain_function=drain.function,
            drain_namespace=DRAIN_METRIC_NAMESPACE,
            join_function=join.function,
            join_namespace=JOIN_METRIC_NAMESPACE,
            application_name=deployment.application.application_name,
            deployment_group_names=(deployment.deployment_group_name, deployment.bootstrap_group_name),
            log_retention=retention,
        )

        slot_a, slot_b = fleet.slots
        # The release tool reads these names (bluegreen.outputs); never exported, so stacks can share a region.
        values = {
            output_names.SITE_URL: f"{entry.url_scheme}://{entry.alb.load_balancer_dns_name}",
            output_names.ARTIFACT_BUCKET: artifacts.bucket.bucket_name,
            output_names.APPLICATION: deployment.application.application_name,
            output_names.DEPLOYMENT_GROUP: deployment.deployment_group.get_att_string("DeploymentGroupName"),
            output_names.BOOTSTRAP_DEPLOYMENT_GROUP: deployment.bootstrap_group.get_att_string("DeploymentGroupName"),
            output_names.SLOT_A: slot_a.auto_scaling_group_name,
            output_names.SLOT_B: slot_b.auto_scaling_group_name,
            output_names.TARGET_GROUP_ARN: entry.target_group.target_group_arn,
            output_names.FLEET_MIN_SIZE: str(config.fleet.minimum),
            output_names.FLEET_DESIRED_SIZE: str(config.fleet.desired),
            output_names.FLEET_MAX_SIZE: str(config.fleet.maximum),
            output_names.DASHBOARD: dashboard.dashboard_name,
        }
        for key in output_names.ALL:
            CfnOutput(self, key, value=values[key])
        if entry.preview is not None:
            CfnOutput(self, output_names.PREVIEW_TARGET_GROUP_ARN, value=entry.preview.target_group.target_group_arn)
            CfnOutput(self, output_names.TEST_URL, value=entry.preview.url)
            CfnOutput(
                self,
                output_names.PREVIEW_REGISTRATION_POLICY_ARN,
                value=entry.preview.registration_policy.managed_policy_arn,
            )


def _notifications(scope: Construct, config: AppConfig) -> ReleaseNotifications | None:
    """The notifications topic setting notificationsTopic asks for: none, a new one, or an existing one by ARN."""
    if config.notifications_topic is False:
        return None
    existing = config.notifications_topic if isinstance(config.notifications_topic, str) else None
    return ReleaseNotifications(scope, "Notifications", existing_topic_arn=existing)


def build_stack(app: App, config: AppConfig, env: Environment, *, nag_checks: bool = True) -> BlueGreenStack:
    """The stack as `cdk synth` builds it, AwsSolutions checks included (app.py and the tests share this).

    The checks run when the app synthesizes; an unacknowledged finding fails the synthesis (stacks/nag.py). They
    cover the whole app, so an app of several stacks (stages) adds them with its first stack only (`nag_checks`).
    """
    stack = BlueGreenStack(
        app,
        config.stack_name,
        config=config,
        env=env,
        description="Zero-downtime EC2 blue/green releases on CodeDeploy (two slots, drain-aware termination)",
    )
    if nag_checks:
        nag.add_checks(app)
    return stack
