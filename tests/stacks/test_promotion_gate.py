"""The promotion gate in the stack: the group's ready option, the test listener, the preview target group, who may
reach it, and what the registration policy lets the release role do (docs/decisions.md F80-F84).

One extra synthesis (the gated variant); the ungated expectations use the session's default stack.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from bluegreen import outputs as output_names
from tests.stacks.conftest import Synthesized, synthesize
from tests.stacks.iam.policy_lint import Resolver, lint

pytestmark = pytest.mark.slow

CHECK_RUNNER = "203.0.113.7/32"
TEST_PORT = 8443
GATED = {
    "promotionGate": True,
    "promotionWaitMinutes": 90,
    "testListenerPort": TEST_PORT,
    "testListenerAllowedCidrs": [CHECK_RUNNER],
    "stackName": "BlueGreenGated",
}
CFN_LINT_CONFIG = Path(__file__).resolve().parents[2] / ".cfnlintrc.yaml"


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(GATED, tmp_path_factory.mktemp("gated"))


def _resources(synth: Synthesized, kind: str) -> dict[str, Any]:
    return dict(synth.template.find_resources(kind))


def _blue_green_group(synth: Synthesized) -> dict[str, Any]:
    (group,) = _resources(synth, "Custom::BlueGreenDeploymentGroup").values()
    return dict(group["Properties"])


def _resolver(synth: Synthesized) -> Resolver:
    return Resolver(synth.template.to_json(), synth.stack.stack_name)


def _preview_arn(synth: Synthesized) -> Any:
    assert synth.stack.node.try_find_child("LoadBalancer") is not None
    preview = synth.stack.node.find_child("LoadBalancer").node.find_child("Preview")
    return _resolver(synth).resolve(synth.stack.resolve(preview.node.find_child("TargetGroup").target_group_arn))


def test_without_the_gate_deployments_reroute_as_soon_as_the_replacement_is_installed(
    default_stack: Synthesized,
) -> None:
    group = _blue_green_group(default_stack)
    assert group["DeploymentReadyAction"] == "CONTINUE_DEPLOYMENT"
    assert "DeploymentReadyWaitMinutes" not in group


def test_without_a_test_listener_the_stack_has_one_listener_and_no_preview_outputs(default_stack: Synthesized) -> None:
    assert len(_resources(default_stack, "AWS::ElasticLoadBalancingV2::Listener")) == 1
    assert len(_resources(default_stack, "AWS::ElasticLoadBalancingV2::TargetGroup")) == 1
    assert not set(output_names.OPTIONAL[1:]) & set(default_stack.template.find_outputs("*"))


def test_the_gate_stops_each_deployment_before_rerouting_for_the_configured_wait(gated: Synthesized) -> None:
    group = _blue_green_group(gated)
    assert group["DeploymentReadyAction"] == "STOP_DEPLOYMENT"
    assert str(group["DeploymentReadyWaitMinutes"]) == "90"


def test_the_test_listener_forwards_only_to_the_preview_target_group(gated: Synthesized) -> None:
    listeners = _resources(gated, "AWS::ElasticLoadBalancingV2::Listener")
    (test,) = [item["Properties"] for item in listeners.values() if item["Properties"]["Port"] == TEST_PORT]
    resolver = _resolver(gated)
    (action,) = test["DefaultActions"]
    assert test["Protocol"] == "HTTP"
    assert action["Type"] == "forward"
    assert resolver.resolve(action["TargetGroupArn"]) == _preview_arn(gated)
    (serving,) = [item["Properties"] for item in listeners.values() if item["Properties"]["Port"] == 80]
    assert resolver.resolve(serving["DefaultActions"][0]["TargetGroupArn"]) != _preview_arn(gated)


def test_the_preview_target_group_checks_health_like_the_serving_one_and_lets_go_at_once(gated: Synthesized) -> None:
    groups = [item["Properties"] for item in _resources(gated, "AWS::ElasticLoadBalancingV2::TargetGroup").values()]
    assert len(groups) == 2
    health = ("Port", "Protocol", "TargetType", "HealthCheckPath", "HealthCheckIntervalSeconds")
    health += ("HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher")
    assert {key: groups[0].get(key) for key in health} == {key: groups[1].get(key) for key in health}
    delays = sorted(
        attribute["Value"]
        for group in groups
        for attribute in group["TargetGroupAttributes"]
        if attribute["Key"] == "deregistration_delay.timeout_seconds"
    )
    assert delays == ["0", "30"]


def test_only_the_allowed_ranges_may_reach_the_test_port(gated: Synthesized) -> None:
    rules = [
        rule
        for group in _resources(gated, "AWS::EC2::SecurityGroup").values()
        for rule in group["Properties"].get("SecurityGroupIngress", [])
        if rule.get("FromPort") == TEST_PORT or rule.get("ToPort") == TEST_PORT
    ]
    standalone = [
        item["Properties"]
        for item in _resources(gated, "AWS::EC2::SecurityGroupIngress").values()
        if item["Properties"].get("FromPort") == TEST_PORT
    ]
    assert [rule["CidrIp"] for rule in rules] == [CHECK_RUNNER]
    assert standalone == []


def test_the_registration_policy_grants_register_and_deregister_on_the_preview_group_only(gated: Synthesized) -> None:
    (policy,) = _resources(gated, "AWS::IAM::ManagedPolicy").values()
    document = _resolver(gated).resolve(policy["Properties"]["PolicyDocument"])
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == [
        "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:RegisterTargets",
    ]
    assert statement["Resource"] == _preview_arn(gated)
    assert "Condition" not in statement


def test_the_preview_outputs_name_the_preview_group_the_test_url_and_the_policy(gated: Synthesized) -> None:
    found = gated.template.find_outputs("*")
    resolver = _resolver(gated)
    assert resolver.resolve(found[output_names.PREVIEW_TARGET_GROUP_ARN]["Value"]) == _preview_arn(gated)
    url = resolver.resolve(found[output_names.TEST_URL]["Value"])
    assert url.startswith("http://") and url.endswith(f":{TEST_PORT}")
    assert output_names.PREVIEW_REGISTRATION_POLICY_ARN in found


def test_the_gated_stack_has_no_unacknowledged_aws_solutions_findings(gated: Synthesized) -> None:
    annotations = Annotations.from_stack(gated.stack)
    findings = [
        f"{message.id}: {message.entry.data}"
        for finder in (annotations.find_error, annotations.find_warning)
        for message in finder("*", Match.string_like_regexp(r"AwsSolutions-.*"))
    ]
    assert findings == []


def test_the_registration_policy_passes_parliament_and_the_gated_template_cfn_lint(gated: Synthesized) -> None:
    (policy,) = _resources(gated, "AWS::IAM::ManagedPolicy").values()
    assert [str(finding) for finding in lint(_resolver(gated).resolve(policy["Properties"]["PolicyDocument"]))] == []
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(CFN_LINT_CONFIG),
            "--",
            str(gated.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
