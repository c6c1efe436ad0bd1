"""The release finisher in the synthesized stack: what invokes it, how it runs, what its asset holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from stacks.lambda_code import handler_name
from tests.stacks.conftest import Synthesized, synthesize

pytestmark = pytest.mark.slow


def _function(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    functions = synthesized.template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": handler_name("finisher")}}
    )
    (item,) = functions.items()
    return item


def _rules(synthesized: Synthesized, function_id: str) -> list[dict[str, Any]]:
    rules = synthesized.template.find_resources("AWS::Events::Rule")
    return [
        rule["Properties"]
        for rule in rules.values()
        if any(target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for target in rule["Properties"]["Targets"])
    ]


def test_the_deployment_rule_passes_only_the_ends_of_this_stacks_blue_green_deployments(
    default_stack: Synthesized,
) -> None:
    function_id, _ = _function(default_stack)
    (pattern,) = [rule["EventPattern"] for rule in _rules(default_stack, function_id) if "EventPattern" in rule]
    stack_name = default_stack.stack.stack_name
    assert pattern["source"] == ["aws.codedeploy"]
    assert pattern["detail-type"] == ["CodeDeploy Deployment State-change Notification"]
    assert pattern["detail"]["deploymentGroup"] == [f"{stack_name}-blue-green"]
    assert sorted(pattern["detail"]["state"]) == ["FAILURE", "STOP", "SUCCESS"]
    (application,) = pattern["detail"]["application"]
    assert application["Ref"].startswith("DeploymentApplication")


def test_the_sweep_runs_every_five_minutes_by_default(default_stack: Synthesized) -> None:
    function_id, _ = _function(default_stack)
    schedules = [
        rule["ScheduleExpression"] for rule in _rules(default_stack, function_id) if "ScheduleExpression" in rule
    ]
    assert schedules == ["rate(5 minutes)"]


def test_both_rules_retry_and_keep_failed_events_in_the_dead_letter_queue(default_stack: Synthesized) -> None:
    function_id, _ = _function(default_stack)
    for rule in _rules(default_stack, function_id):
        (target,) = rule["Targets"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}
        assert "DeadLetterConfig" in target


def test_the_finisher_runs_one_at_a_time_with_the_stack_it_converges(default_stack: Synthesized) -> None:
    _, function = _function(default_stack)
    properties = function["Properties"]
    assert properties["ReservedConcurrentExecutions"] == 1
    variables = properties["Environment"]["Variables"]
    stack_name = default_stack.stack.stack_name
    assert variables["DEPLOYMENT_GROUP_NAME"] == f"{stack_name}-blue-green"
    assert variables["BOOTSTRAP_GROUP_NAME"] == f"{stack_name}-bootstrap"
    assert set(variables) == {
        "APPLICATION_NAME",
        "DEPLOYMENT_GROUP_NAME",
        "BOOTSTRAP_GROUP_NAME",
        "SLOT_NAMES",
        "ARTIFACT_BUCKET",
        "TARGET_GROUP_ARN",
    }


def test_an_alarm_watches_the_finishers_dead_letter_queue(default_stack: Synthesized) -> None:
    _, function = _function(default_stack)
    queue = function["Properties"]["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0]
    default_stack.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Namespace": "AWS/SQS",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    )


def _asset(synthesized: Synthesized) -> Path:
    (asset,) = [path for path in synthesized.template_path.parent.glob("asset.*") if (path / "finisher").is_dir()]
    return asset


def test_the_finisher_asset_holds_exactly_its_package_and_bluegreen(default_stack: Synthesized) -> None:
    asset = _asset(default_stack)
    assert sorted(entry.name for entry in asset.iterdir()) == ["bluegreen", "finisher"]
    assert not list(asset.rglob("__pycache__"))
    assert (asset / "bluegreen" / "finish.py").is_file() and (asset / "bluegreen" / "lease.py").is_file()
    # Its handler imports from the asset alone: tests/stacks/test_lambda_assets.py


def test_with_the_finisher_disabled_the_stack_has_no_finisher(tmp_path: Path) -> None:
    synthesized = synthesize({"finisherEnabled": False}, tmp_path)
    assert (
        synthesized.template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": handler_name("finisher")}}
        )
        == {}
    )
    synthesized.template.resource_properties_count_is("AWS::Events::Rule", {"ScheduleExpression": Match.any_value()}, 0)
