"""The release dashboard: each widget graphs the stack's own resources and metrics (issue 18).

The dashboard body is a JSON string joined with references; `body` renders each reference as `<...>` and parses it,
and every expected reference is rendered the same way from the construct's own token, never from a logical id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Match

from bluegreen import outputs as output_names
from stacks.alarms import ReleaseAlarms
from stacks.blue_green_stack import BlueGreenStack
from stacks.dashboard import DEPLOYMENTS_METRIC, DEPLOYMENTS_NAMESPACE, OUTCOMES, ReleaseDashboard
from stacks.deployment import BlueGreenDeployment
from stacks.drain import METRIC_NAMESPACE as DRAIN_NAMESPACE
from stacks.drain import DrainOnTermination
from stacks.fleet import Fleet
from stacks.join import METRIC_NAMESPACE as JOIN_NAMESPACE
from stacks.join import JoinLiveSlot
from stacks.load_balancer import LoadBalancer
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow


def render(value: Any) -> str:
    """A resolved value as text: strings as they are, references as `<Ref X>`, `<GetAtt X.Y>`, `<{...}>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<Ref {value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<GetAtt {}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    # Any other intrinsic (Fn::Select of a full name, ...): its JSON with single quotes, so the body stays JSON.
    return "<" + json.dumps(value, sort_keys=True).replace('"', "'") + ">"


def ref(stack: Stack, token: str) -> str:
    return render(stack.resolve(token))


def child(stack: Stack, construct_id: str, kind: type) -> Any:
    found = stack.node.find_child(construct_id)
    assert isinstance(found, kind)
    return found


@pytest.fixture(scope="module")
def synth(default_stack: Synthesized) -> Synthesized:
    return default_stack


@pytest.fixture(scope="module")
def widgets(synth: Synthesized) -> list[dict[str, Any]]:
    (dashboard,) = synth.template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    return list(body["widgets"])


def metrics_of(widgets: list[dict[str, Any]], title: str) -> list[list[Any]]:
    (widget,) = [w for w in widgets if w["properties"].get("title", "").startswith(title)]
    return list(widget["properties"]["metrics"])


def names(metrics: list[list[Any]]) -> Iterator[tuple[Any, ...]]:
    """Each metric line without its trailing options object."""
    for line in metrics:
        yield tuple(item for item in line if not isinstance(item, dict))


def test_each_slot_has_its_in_service_pending_and_terminating_instances(
    synth: Synthesized, widgets: list[dict[str, Any]]
) -> None:
    fleet = child(synth.stack, "Fleet", Fleet)
    for letter, slot in zip("AB", fleet.slots, strict=True):
        group = ref(synth.stack, slot.auto_scaling_group_name)
        assert list(names(metrics_of(widgets, f"Slot {letter}: instances"))) == [
            ("AWS/AutoScaling", metric, "AutoScalingGroupName", group)
            for metric in ("GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances")
        ]


def test_the_slots_publish_the_group_metrics_the_dashboard_graphs(synth: Synthesized) -> None:
    synth.template.all_resources_properties(
        "AWS::AutoScaling::AutoScalingGroup",
        {"MetricsCollection": [{"Granularity": "1Minute"}]},
    )


def test_healthy_and_unhealthy_targets_come_from_the_stacks_target_group(
    synth: Synthesized, widgets: list[dict[str, Any]]
) -> None:
    entry = child(synth.stack, "LoadBalancer", LoadBalancer)
    target_group = ref(synth.stack, entry.target_group.target_group_full_name)
    lines = list(names(metrics_of(widgets, "Target group: healthy / unhealthy")))
    assert [line[:2] for line in lines] == [
        ("AWS/ApplicationELB", "HealthyHostCount"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
    ]
    assert all(target_group in line for line in lines)


def test_requests_5xx_and_response_time_percentiles_are_graphed(
    synth: Synthesized, widgets: list[dict[str, Any]]
) -> None:
    entry = child(synth.stack, "LoadBalancer", LoadBalancer)
    target_group = ref(synth.stack, entry.target_group.target_group_full_name)
    load_balancer = ref(synth.stack, entry.alb.load_balancer_full_name)
    assert [line[1] for line in names(metrics_of(widgets, "Requests"))] == ["RequestCount"]
    five_xx = list(names(metrics_of(widgets, "5xx responses")))
    assert [line[1] for line in five_xx] == ["HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"]
    assert target_group in five_xx[0] and load_balancer in five_xx[1]
    latency = metrics_of(widgets, "Target response time")
    assert [line[-1]["stat"] for line in latency] == ["p50", "p99"]
    assert all(target_group in line for line in names(latency))


def test_each_rollback_alarm_is_shown_with_its_threshold(synth: Synthesized, widgets: list[dict[str, Any]]) -> None:
    alarms = child(synth.stack, "Alarms", ReleaseAlarms)
    shown = {
        w["properties"]["title"]: w["properties"]["annotations"]["alarms"]
        for w in widgets
        if "annotations" in w["properties"]
    }
    assert shown == {
        "Rollback alarm Target5xx: >= 5 in 1 x 60 s": [ref(synth.stack, alarms.target_5xx.alarm_arn)],
        "Rollback alarm UnhealthyHosts: >= 1 in 2 x 60 s": [ref(synth.stack, alarms.unhealthy_hosts.alarm_arn)],
    }


def test_drain_time_per_slot_is_the_metric_the_drain_lambda_publishes(
    synth: Synthesized, widgets: list[dict[str, Any]]
) -> None:
    fleet = child(synth.stack, "Fleet", Fleet)
    lines = metrics_of(widgets, "Drain time per leaving instance")
    assert {(line[0], line[1], line[3], line[-1]["stat"]) for line in lines} == {
        (DRAIN_NAMESPACE, "DrainSeconds", ref(synth.stack, slot.auto_scaling_group_name), stat)
        for slot in fleet.slots
        for stat in ("p50", "Maximum")
    }


def test_the_drain_and_join_functions_errors_and_the_join_decisions_are_graphed(
    synth: Synthesized, widgets: list[dict[str, Any]]
) -> None:
    drain = child(synth.stack, "Drain", DrainOnTermination)
    join = child(synth.stack, "Join", JoinLiveSlot)
    errors = list(names(metrics_of(widgets, "Drain and join Lambda errors")))
    assert ("AWS/Lambda", "Errors", "FunctionName", ref(synth.stack, drain.function.function_name)) in errors
    assert ("AWS/Lambda", "Errors", "FunctionName", ref(synth.stack, join.function.function_name)) in errors
    (search,) = metrics_of(widgets, "Instances joining the live slot")
    assert search[0]["expression"] == f"SEARCH('{{{JOIN_NAMESPACE},Decision}} MetricName=\"Joins\"', 'Sum', 300)"


def test_deployment_outcomes_of_both_groups_are_counted_from_codedeploy_events(
    synth: Synthesized, widgets: list[dict[str, Any]]
) -> None:
    deployment = child(synth.stack, "Deployment", BlueGreenDeployment)
    groups = [deployment.deployment_group_name, deployment.bootstrap_group_name]
    synth.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.codedeploy"],
                "detail-type": ["CodeDeploy Deployment State-change Notification"],
                "detail": {
                    "application": [synth.stack.resolve(deployment.application.application_name)],
                    "deploymentGroup": groups,
                    "state": list(OUTCOMES),
                },
            }
        },
    )
    synth.template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "MetricTransformations": [
                Match.object_like(
                    {
                        "MetricNamespace": DEPLOYMENTS_NAMESPACE,
                        "MetricName": DEPLOYMENTS_METRIC,
                        "Dimensions": [
                            {"Key": "DeploymentGroup", "Value": "$.detail.deploymentGroup"},
                            {"Key": "State", "Value": "$.detail.state"},
                        ],
                    }
                )
            ]
        },
    )
    assert list(names(metrics_of(widgets, "Deployment outcomes"))) == [
        (DEPLOYMENTS_NAMESPACE, DEPLOYMENTS_METRIC, "DeploymentGroup", group, "State", state)
        for group in groups
        for state in OUTCOMES
    ]


def test_the_outcome_events_reach_their_log_group_through_a_policy_for_that_rule_only(synth: Synthesized) -> None:
    dashboard = child(synth.stack, "Dashboard", ReleaseDashboard)
    log_group_arn = synth.stack.resolve(dashboard.outcome_log_group.log_group_arn)
    synth.template.has_resource_properties(
        "AWS::Events::Rule", {"Targets": [Match.object_like({"Arn": log_group_arn})]}
    )
    (policy,) = synth.template.find_resources("AWS::Logs::ResourcePolicy").values()
    (statement,) = json.loads(render(policy["Properties"]["PolicyDocument"]))["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == render(log_group_arn)
    assert set(statement["Condition"]["ArnEquals"]) == {"aws:SourceArn"}
    synth.template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/aws/events/BlueGreenApp/deployments", "RetentionInDays": 30}
    )


def test_the_dashboard_name_is_a_stack_output(synth: Synthesized) -> None:
    dashboard = child(synth.stack, "Dashboard", ReleaseDashboard)
    outputs = synth.template.find_outputs(output_names.DASHBOARD)
    assert outputs[output_names.DASHBOARD]["Value"] == synth.stack.resolve(dashboard.dashboard_name)
    synth.template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "BlueGreenApp-releases"})


def test_the_default_stack_has_no_notifications_topic(synth: Synthesized) -> None:
    assert isinstance(synth.stack, BlueGreenStack)
    synth.template.resource_count_is("AWS::SNS::Topic", 0)
    assert output_names.NOTIFICATIONS_TOPIC_ARN not in synth.template.find_outputs("*")
    for group in synth.template.find_resources("Custom::BlueGreenDeploymentGroup").values():
        assert "TriggerConfigurations" not in group["Properties"]
