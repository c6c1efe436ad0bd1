"""The release dashboard: the fleet, the traffic, the rollback alarms, the drain and join Lambdas, every deployment.

CodeDeploy publishes no CloudWatch metric of deployment outcomes; it sends "CodeDeploy Deployment State-change
Notification" events to EventBridge (EventBridge events reference, "AWS CodeDeploy events"; delivery best effort). So
a rule sends this stack's groups' SUCCESS, FAILURE and STOP events to a log group, a metric filter counts them by
group and state, and the dashboard graphs the counts and lists the latest events (deployment ids included). The same
log group is the outcome history, independent of the optional notifications topic.
"""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.interfaces import aws_events as events_refs
from constructs import Construct

DEPLOYMENT_STATE_CHANGE = "CodeDeploy Deployment State-change Notification"
# The outcome states of that event (EventBridge events reference); START and READY are not outcomes.
OUTCOMES = ("SUCCESS", "FAILURE", "STOP")
DEPLOYMENTS_NAMESPACE = "BlueGreen/Deployments"
DEPLOYMENTS_METRIC = "Deployments"
# What lambdas/drain/telemetry.py and lambdas/join/telemetry.py publish (EMF), in the namespaces their stacks set.
DRAIN_METRIC = "DrainSeconds"
JOIN_METRIC = "Joins"
PERIOD = Duration.minutes(1)
WIDTH = 8  # three widgets per row of the 24-column grid


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """A rule target that is a log group, allowed by a resource policy written here.

    CDK's `targets.CloudWatchLogGroup` writes that policy through a custom resource (one more Lambda function); the
    policy is a plain CloudFormation resource (AWS::Logs::ResourcePolicy).
    """

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    def bind(self, rule: events_refs.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._log_group.log_group_arn)


class ReleaseDashboard(Construct):
    """A CloudWatch dashboard over the stack's own resources, and the deployment-outcome metric it needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        slots: Sequence[autoscaling.AutoScalingGroup],
        load_balancer: elbv2.ApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        alarms: Sequence[cloudwatch.Alarm],
        drain_function: lambda_.IFunction,
        drain_namespace: str,
        join_function: lambda_.IFunction,
        join_namespace: str,
        application_name: str,
        deployment_group_names: Sequence[str],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        stack_name = Stack.of(self).stack_name
        self.deployment_group_names = tuple(deployment_group_names)
        self.outcome_log_group = self._outcome_log(stack_name, application_name, log_retention)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{stack_name}-releases",
            default_interval=Duration.hours(24),
        )
        self.dashboard.add_widgets(*self._fleet_widgets(slots, target_group))
        self.dashboard.add_widgets(*self._traffic_widgets(load_balancer, target_group))
        self.dashboard.add_widgets(
            *[cloudwatch.AlarmWidget(alarm=a, title=_alarm_title(a), width=WIDTH) for a in alarms]
        )
        self.dashboard.add_widgets(
            *self._lambda_widgets(slots, drain_function, drain_namespace, join_function, join_namespace)
        )
        self.dashboard.add_widgets(*self._deployment_widgets())

    @property
    def dashboard_name(self) -> str:
        """The dashboard's name (a stack output; the release tool links to it)."""
        return self.dashboard.dashboard_name

    def _outcome_log(self, stack_name: str, application_name: str, retention: logs.RetentionDays) -> logs.LogGroup:
        """Rule → log group → metric filter: `Deployments` by `DeploymentGroup` and `State` (one per outcome seen)."""
        # EventBridge writes only to log groups whose name begins with /aws/events/ (EventBridge user guide, targets).
        log_group = logs.LogGroup(
            self, "DeploymentEvents", log_group_name=f"/aws/events/{stack_name}/deployments", retention=retention
        )
        rule = events.Rule(
            self,
            "DeploymentOutcomes",
            description="Outcomes of this stack's CodeDeploy deployments, for the release dashboard",
            event_pattern=events.EventPattern(
                source=["aws.codedeploy"],
                detail_type=[DEPLOYMENT_STATE_CHANGE],
                detail={
                    "application": [application_name],
                    "deploymentGroup": list(self.deployment_group_names),
                    "state": list(OUTCOMES),
                },
            ),
        )
        rule.add_target(_LogGroupTarget(log_group))
        logs.ResourcePolicy(
            self,
            "EventsToLogs",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                    ],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[log_group.log_group_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
                )
            ],
        )
        logs.MetricFilter(
            self,
            "OutcomeCount",
            log_group=log_group,
            filter_pattern=logs.FilterPattern.exists("$.detail.state"),
            metric_namespace=DEPLOYMENTS_NAMESPACE,
            metric_name=DEPLOYMENTS_METRIC,
            metric_value="1",
            dimensions={"DeploymentGroup": "$.detail.deploymentGroup", "State": "$.detail.state"},
            unit=cloudwatch.Unit.COUNT,
        )
        return log_group

    def deployment_metric(self, group: str, state: str) -> cloudwatch.Metric:
        """How many of `group`'s deployments ended in `state` (SUCCESS, FAILURE, STOP) per hour."""
        return cloudwatch.Metric(
            namespace=DEPLOYMENTS_NAMESPACE,
            metric_name=DEPLOYMENTS_METRIC,
            dimensions_map={"DeploymentGroup": group, "State": state},
            statistic="Sum",
            period=Duration.hours(1),
            label=f"{state.lower()}",
        )

    @staticmethod
    def _fleet_widgets(
        slots: Sequence[autoscaling.AutoScalingGroup], target_group: elbv2.ApplicationTargetGroup
    ) -> list[cloudwatch.IWidget]:
        """Per slot: InService, Pending and Terminating instances (group metrics); the target group's health."""
        widgets: list[cloudwatch.IWidget] = []
        for index, slot in enumerate(slots):
            name = slot.auto_scaling_group_name
            widgets.append(
                cloudwatch.GraphWidget(
                    title=f"Slot {'AB'[index] if index < 2 else index}: instances",
                    width=WIDTH,
                    left=[_group_metric(name, metric, label) for metric, label in _GROUP_METRICS],
                )
            )
        widgets.append(
            cloudwatch.GraphWidget(
                title="Target group: healthy / unhealthy targets (the live slot's registered instances)",
                width=WIDTH,
                left=[
                    target_group.metrics.healthy_host_count(period=PERIOD, statistic="Minimum", label="healthy"),
                    target_group.metrics.unhealthy_host_count(period=PERIOD, statistic="Maximum", label="unhealthy"),
                ],
            )
        )
        return widgets

    @staticmethod
    def _traffic_widgets(
        load_balancer: elbv2.ApplicationLoadBalancer, target_group: elbv2.ApplicationTargetGroup
    ) -> list[cloudwatch.IWidget]:
        """Requests, 5xx (targets' and the load balancer's own) and target response time p50/p99."""
        return [
            cloudwatch.GraphWidget(
                title="Requests",
                width=WIDTH,
                left=[target_group.metrics.request_count(period=PERIOD, statistic="Sum", label="requests")],
            ),
            cloudwatch.GraphWidget(
                title="5xx responses",
                width=WIDTH,
                left=[
                    target_group.metrics.http_code_target(
                        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD, statistic="Sum", label="targets 5xx"
                    ),
                    load_balancer.metrics.http_code_elb(
                        elbv2.HttpCodeElb.ELB_5XX_COUNT, period=PERIOD, statistic="Sum", label="load balancer 5xx"
                    ),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Target response time",
                width=WIDTH,
                left=[
                    target_group.metrics.target_response_time(period=PERIOD, statistic=stat, label=stat)
                    for stat in ("p50", "p99")
                ],
            ),
        ]

    @staticmethod
    def _lambda_widgets(
        slots: Sequence[autoscaling.AutoScalingGroup],
        drain_function: lambda_.IFunction,
        drain_namespace: str,
        join_function: lambda_.IFunction,
        join_namespace: str,
    ) -> list[cloudwatch.IWidget]:
        """Drain time per slot (p50, max), both functions' errors, the join decisions."""
        drain_seconds = [
            cloudwatch.Metric(
                namespace=drain_namespace,
                metric_name=DRAIN_METRIC,
                dimensions_map={"AutoScalingGroupName": slot.auto_scaling_group_name},
                statistic=stat,
                period=Duration.minutes(5),
                label=f"slot {'AB'[index] if index < 2 else index} {stat}",
            )
            for index, slot in enumerate(slots)
            for stat in ("p50", "Maximum")
        ]
        # Decision values are the join Lambda's (lambdas/join/decision.py): a search graphs each one it published.
        joins = cloudwatch.MathExpression(
            expression=f"SEARCH('{{{join_namespace},Decision}} MetricName=\"{JOIN_METRIC}\"', 'Sum', 300)",
            label="",
            period=Duration.minutes(5),
        )
        return [
            cloudwatch.GraphWidget(title="Drain time per leaving instance (s)", width=WIDTH, left=drain_seconds),
            cloudwatch.GraphWidget(
                title="Drain and join Lambda errors",
                width=WIDTH,
                left=[
                    drain_function.metric_errors(period=PERIOD, label="drain errors"),
                    join_function.metric_errors(period=PERIOD, label="join errors"),
                    drain_function.metric_throttles(period=PERIOD, label="drain throttles"),
                    join_function.metric_throttles(period=PERIOD, label="join throttles"),
                ],
            ),
            cloudwatch.GraphWidget(title="Instances joining the live slot, by decision", width=WIDTH, left=[joins]),
        ]

    def _deployment_widgets(self) -> list[cloudwatch.IWidget]:
        """Deployment outcomes per group and state, and the latest outcome events with their deployment ids."""
        return [
            cloudwatch.GraphWidget(
                title="Deployment outcomes (per hour)",
                width=2 * WIDTH,
                view=cloudwatch.GraphWidgetView.BAR,
                left=[
                    self.deployment_metric(group, state) for group in self.deployment_group_names for state in OUTCOMES
                ],
            ),
            cloudwatch.LogQueryWidget(
                title="Latest deployment outcomes",
                width=WIDTH,
                log_group_names=[self.outcome_log_group.log_group_name],
                query_lines=[
                    "fields @timestamp, detail.deploymentGroup, detail.deploymentId, detail.state",
                    "sort @timestamp desc",
                    "limit 20",
                ],
            ),
        ]


# Auto Scaling group metrics (EnableMetricsCollection; the slots enable them in stacks/fleet.py).
_GROUP_METRICS = (
    ("GroupInServiceInstances", "InService"),
    ("GroupPendingInstances", "Pending"),
    ("GroupTerminatingInstances", "Terminating"),
)


def _group_metric(group_name: str, metric: str, label: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/AutoScaling",
        metric_name=metric,
        dimensions_map={"AutoScalingGroupName": group_name},
        statistic="Maximum",
        period=PERIOD,
        label=label,
    )


def _alarm_title(alarm: cloudwatch.Alarm) -> str:
    """`Rollback alarm Target5xx: >= 5 in 1 x 60 s` (the widget also draws the threshold as a line)."""
    cfn = alarm.node.default_child
    assert isinstance(cfn, cloudwatch.CfnAlarm)
    operator = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">"}.get(
        str(cfn.comparison_operator), str(cfn.comparison_operator)
    )
    return f"Rollback alarm {alarm.node.id}: {operator} {cfn.threshold:g} in {cfn.evaluation_periods} x {cfn.period} s"
