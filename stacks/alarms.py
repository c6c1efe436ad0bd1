"""The CloudWatch alarms that stop a deployment and roll it back (attached to the deployment group)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct


class ReleaseAlarms(Construct):
    """Target 5xx responses and unhealthy hosts of the target group, evaluated every minute.

    Missing data is "not breaching": an idle site or an empty target group between releases is not an incident.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        target_group: elbv2.ApplicationTargetGroup,
        target_5xx_threshold: int,
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.minutes(1)
        self.target_5xx = cloudwatch.Alarm(
            self,
            "Target5xx",
            alarm_description="Targets answer 5xx: a release in progress is stopped and rolled back",
            metric=target_group.metrics.http_code_target(
                elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=period, statistic="Sum"
            ),
            threshold=target_5xx_threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.unhealthy_hosts = cloudwatch.Alarm(
            self,
            "UnhealthyHosts",
            alarm_description="A registered target fails its health check: a release in progress is rolled back",
            metric=target_group.metrics.unhealthy_host_count(period=period, statistic="Maximum"),
            threshold=1,
            # Two minutes: one failed probe window during a traffic switch is not yet an outage.
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms = (self.target_5xx, self.unhealthy_hosts)
