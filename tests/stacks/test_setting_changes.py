"""Changing a setting on a deployed stack keeps every resource's logical id (issue 17).

CloudFormation treats a new logical id as a new resource, which it creates before it deletes the old one: a second
port-80 listener fails the update (DuplicateListener), a second target group or slot would serve nothing. Each case
synthesizes the stack before and after one setting change and compares the logical ids, so a construct id that
follows a setting is caught here (ids are compared between two syntheses, never written down as hashes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from bluegreen.config import CDK_JSON, load_config
from stacks.blue_green_stack import BlueGreenStack
from stacks.load_balancer import APP_PORT_RULE, DEPLOYED_APP_PORT_PARAMETER
from tests.conftest import FAKE_REGION
from tests.stacks.conftest import CERTIFICATE_ARN

pytestmark = pytest.mark.slow

LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"
INGRESS = "AWS::EC2::SecurityGroupIngress"
EGRESS = "AWS::EC2::SecurityGroupEgress"

# Each change, and the resource types whose logical ids may come or go with it (anything else must stay).
CHANGES: Mapping[str, tuple[Mapping[str, Any], frozenset[str]]] = {
    # The HTTPS listener exists only with a certificate; the port-80 listener stays (checked below).
    "certificate": ({"certificateArn": CERTIFICATE_ARN}, frozenset({LISTENER})),
    # The ALB-to-instances rules are separate resources named after the port; a new rule is added before the old
    # one goes, so traffic is never cut (and the update is refused anyway: see the appPort tests).
    "app port": ({"appPort": 9090}, frozenset({INGRESS, EGRESS})),
    "graviton": ({"instanceType": "t4g.small"}, frozenset()),
    "reserved concurrency": ({"lambdaReservedConcurrency": False}, frozenset()),
    "health check": ({"healthCheckIntervalSeconds": 10, "deregistrationDelaySeconds": 60}, frozenset()),
    # The image, the role's policies and the user data are properties of the launch template and the role: a new
    # launch template version, never new slots (issue 16).
    "machine image": ({"machineImage": {"eu-west-1": "ami-0123456789abcdef0"}}, frozenset()),
    "instance role policies": ({"instanceRoleManagedPolicies": ["CloudWatchAgentServerPolicy"]}, frozenset()),
    # Any shell file in the repository serves: ids cannot depend on the fragment's text.
    "user data fragment": ({"userDataFile": "sample-app/scripts/validate_service.sh"}, frozenset()),
}


def synthesize(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The template with cdk.json's feature flags and `overrides` (without cdk-nag: only the shape matters here)."""
    context = {**json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"], **overrides}
    app = cdk.App(context=context)
    stack = BlueGreenStack(app, "BlueGreenApp", config=load_config(context), env=cdk.Environment(region=FAKE_REGION))
    return dict(Template.from_stack(stack).to_json())


@pytest.fixture(scope="module")
def before() -> dict[str, Any]:
    return synthesize({})


@pytest.fixture(scope="module")
def after() -> dict[str, dict[str, Any]]:
    return {name: synthesize(overrides) for name, (overrides, _) in CHANGES.items()}


def resource_types(template: Mapping[str, Any]) -> dict[str, str]:
    return {logical_id: resource["Type"] for logical_id, resource in template["Resources"].items()}


def listener_on_port(template: Mapping[str, Any], port: int) -> str:
    (logical_id,) = (
        str(logical_id)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == LISTENER and resource["Properties"]["Port"] == port
    )
    return logical_id


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_setting_change_keeps_every_other_resources_logical_id_and_type(
    change: str, before: dict[str, Any], after: dict[str, dict[str, Any]]
) -> None:
    may_change = CHANGES[change][1]
    old, new = resource_types(before), resource_types(after[change])
    for first, second in ((old, new), (new, old)):
        gone = {logical_id: kind for logical_id, kind in first.items() if logical_id not in second}
        assert {kind for kind in gone.values()} <= may_change, gone
    assert {logical_id: new[logical_id] for logical_id in old.keys() & new.keys()} == {
        logical_id: old[logical_id] for logical_id in old.keys() & new.keys()
    }


def test_adding_a_certificate_keeps_the_port_80_listener_and_makes_it_redirect(
    before: dict[str, Any], after: dict[str, dict[str, Any]]
) -> None:
    with_certificate = after["certificate"]
    http = listener_on_port(before, 80)
    assert listener_on_port(with_certificate, 80) == http
    assert before["Resources"][http]["Properties"]["DefaultActions"][0]["Type"] == "forward"
    redirect = with_certificate["Resources"][http]["Properties"]["DefaultActions"]
    assert redirect == [
        {"Type": "redirect", "RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}}
    ]
    assert listener_on_port(with_certificate, 443) not in before["Resources"]


def test_the_target_group_and_the_slots_keep_their_ids_when_the_app_port_changes(
    before: dict[str, Any], after: dict[str, dict[str, Any]]
) -> None:
    changed = after["app port"]
    (group,) = (key for key, kind in resource_types(before).items() if kind == TARGET_GROUP)
    assert changed["Resources"][group]["Properties"]["Port"] == 9090
    assert before["Resources"][group]["Properties"]["Port"] == 8080


def test_an_app_port_change_is_refused_by_the_rule_unless_the_recorded_port_agrees(
    before: dict[str, Any], after: dict[str, dict[str, Any]]
) -> None:
    # cdk deploy reuses the parameter's previous value (8080), and the rule compares it with the new appPort.
    changed = after["app port"]
    assert changed["Parameters"][DEPLOYED_APP_PORT_PARAMETER]["Default"] == "9090"
    (assertion,) = changed["Rules"][APP_PORT_RULE]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": DEPLOYED_APP_PORT_PARAMETER}, "9090"]}
    assert "Changing appPort" in assertion["AssertDescription"]
    assert before["Parameters"][DEPLOYED_APP_PORT_PARAMETER]["Default"] == "8080"


def test_a_graviton_instance_type_gets_the_arm64_image(
    before: dict[str, Any], after: dict[str, dict[str, Any]]
) -> None:
    def image_parameters(template: Mapping[str, Any]) -> list[str]:
        return [
            parameter["Default"]
            for parameter in template["Parameters"].values()
            if parameter.get("Type") == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
        ]

    # The same Amazon Linux 2023 image family (CDK's default kernel), for the other architecture.
    (x86,) = image_parameters(before)
    assert x86.startswith("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-")
    assert x86.endswith("-x86_64")
    assert image_parameters(after["graviton"]) == [x86.removesuffix("-x86_64") + "-arm64"]
