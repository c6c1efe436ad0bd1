"""The deployment construct: exact IAM, the groups' whole desired state, and acknowledgements that still match.

One synthesis for this module (jsii is slow), with cdk-nag's checks as `cdk synth` runs them; each acknowledgement is
checked against the findings it is meant to answer (tests/stacks/nag_audit.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import botocore.session
import pytest
from aws_cdk.assertions import Template
from botocore.validate import ParamValidator
from deployment_group.group import GroupSpec, create_request, update_request

from bluegreen import outputs as output_names
from bluegreen.config import CDK_JSON, load_config
from stacks import nag
from stacks.blue_green_stack import BlueGreenStack
from tests.conftest import FAKE_REGION
from tests.stacks.nag_audit import declared_acknowledgements, findings, unacknowledged, unused

pytestmark = pytest.mark.slow

STACK = "BlueGreenApp"
CODEDEPLOY_GROUP_ACTIONS = [
    "codedeploy:CreateDeploymentGroup",
    "codedeploy:DeleteDeploymentGroup",
    "codedeploy:GetDeploymentGroup",
    "codedeploy:ListDeployments",
    "codedeploy:UpdateDeploymentGroup",
]


@dataclass(frozen=True)
class Synth:
    stack: BlueGreenStack
    template: dict[str, Any]

    def logical_id(self, path: str) -> str:
        node = self.stack.node
        for part in path.split("/"):
            node = node.find_child(part).node
        child = node.default_child
        assert child is not None
        return str(self.stack.resolve(child.logical_id))  # type: ignore[attr-defined]

    def resource(self, path: str) -> dict[str, Any]:
        return dict(self.template["Resources"][self.logical_id(path)])

    def policy_statements(self, role_path: str) -> list[dict[str, Any]]:
        role_id = self.logical_id(role_path)
        (policy,) = [
            resource
            for resource in self.template["Resources"].values()
            if resource["Type"] == "AWS::IAM::Policy" and resource["Properties"]["Roles"] == [{"Ref": role_id}]
        ]
        return list(policy["Properties"]["PolicyDocument"]["Statement"])


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    context = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("deployment")), context=context)
    stack = BlueGreenStack(app, STACK, config=load_config(context), env=cdk.Environment(region=FAKE_REGION))
    nag.add_checks(app)
    return Synth(stack, dict(Template.from_stack(stack).to_json()))


def account_arn(service: str, resource: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [f"arn:aws:{service}:{FAKE_REGION}:", {"Ref": "AWS::AccountId"}, resource]]}


# --- IAM, exactly ------------------------------------------------------------------------------------------------


def test_provider_may_manage_only_this_stacks_two_groups_and_pass_only_the_service_role(synth: Synth) -> None:
    assert synth.policy_statements("Deployment/GroupProvider/ServiceRole") == [
        {
            "Action": CODEDEPLOY_GROUP_ACTIONS,
            "Effect": "Allow",
            "Resource": [
                account_arn("codedeploy", f":deploymentgroup:*/{STACK}-blue-green"),
                account_arn("codedeploy", f":deploymentgroup:*/{STACK}-bootstrap"),
            ],
        },
        {"Action": "codedeploy:StopDeployment", "Effect": "Allow", "Resource": "*"},
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "codedeploy.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [synth.logical_id("Deployment/ServiceRole"), "Arn"]},
        },
    ]


def test_service_role_carries_aws_codedeploy_role(synth: Synth) -> None:
    role = synth.resource("Deployment/ServiceRole")["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSCodeDeployRole"]]}
    ]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "codedeploy.amazonaws.com"}}
    ]


def test_service_role_adds_only_the_launch_template_permissions_each_narrowed_by_a_condition(synth: Synth) -> None:
    launch_template_arn = account_arn("ec2", ":launch-template/")
    launch_template_arn["Fn::Join"][1].append({"Ref": synth.logical_id("Fleet/LaunchTemplate")})
    assert synth.policy_statements("Deployment/ServiceRole") == [
        {
            "Action": "ec2:RunInstances",
            "Condition": {"ArnLike": {"ec2:LaunchTemplate": launch_template_arn}},
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": "ec2:CreateTags",
            "Condition": {"StringEquals": {"ec2:CreateAction": "RunInstances"}},
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [synth.logical_id("Fleet/InstanceRole"), "Arn"]},
        },
    ]


def test_provider_framework_may_invoke_only_the_on_event_function(synth: Synth) -> None:
    function_arn = {"Fn::GetAtt": [synth.logical_id("Deployment/GroupProvider"), "Arn"]}
    assert synth.policy_statements("Deployment/Provider/framework-onEvent/ServiceRole") == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [function_arn, {"Fn::Join": ["", [function_arn, ":*"]]}],
        },
        {"Action": "lambda:GetFunction", "Effect": "Allow", "Resource": function_arn},
    ]


def test_provider_function_has_a_small_reserved_concurrency_and_room_to_wait(synth: Synth) -> None:
    function = synth.resource("Deployment/GroupProvider")["Properties"]
    assert function["ReservedConcurrentExecutions"] == 2
    assert function["Timeout"] == 600


# --- the groups' desired state ---------------------------------------------------------------------------------


def shared_properties(synth: Synth) -> dict[str, Any]:
    return {
        "ServiceToken": {"Fn::GetAtt": [synth.logical_id("Deployment/Provider/framework-onEvent"), "Arn"]},
        "ApplicationName": {"Ref": synth.logical_id("Deployment/Application")},
        "ServiceRoleArn": {"Fn::GetAtt": [synth.logical_id("Deployment/ServiceRole"), "Arn"]},
        "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        "TargetGroupName": {"Fn::GetAtt": [synth.logical_id("LoadBalancer/TargetGroup"), "TargetGroupName"]},
        "TerminationHookEnabled": False,
        "IgnorePollAlarmFailure": False,
        "OutdatedInstancesStrategy": "UPDATE",
    }


def test_blue_green_group_declares_its_whole_configuration(synth: Synth) -> None:
    group = synth.resource("Deployment/DeploymentGroup")
    assert group["Type"] == "Custom::BlueGreenDeploymentGroup"
    assert group["Properties"] == {
        **shared_properties(synth),
        "DeploymentGroupName": f"{STACK}-blue-green",
        "DeploymentType": "BLUE_GREEN",
        "DeploymentConfigName": "CodeDeployDefault.OneAtATime",
        "AutoRollbackEvents": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
        "AlarmNames": [
            {"Ref": synth.logical_id("Alarms/Target5xx")},
            {"Ref": synth.logical_id("Alarms/UnhealthyHosts")},
        ],
        "InitialAutoScalingGroup": {"Ref": synth.logical_id("Fleet/SlotA")},
        "GreenFleetProvisioning": "DISCOVER_EXISTING",
        "BlueInstanceTermination": "KEEP_ALIVE",
        "DeploymentReadyAction": "CONTINUE_DEPLOYMENT",
    }


def test_bootstrap_group_is_in_place_on_the_same_target_group_with_no_auto_scaling_group(synth: Synth) -> None:
    group = synth.resource("Deployment/BootstrapDeploymentGroup")
    assert group["Type"] == "Custom::BootstrapDeploymentGroup"
    assert group["Properties"] == {
        **shared_properties(synth),
        "DeploymentGroupName": f"{STACK}-bootstrap",
        "DeploymentType": "IN_PLACE",
        "DeploymentConfigName": "CodeDeployDefault.AllAtOnce",
        "AutoRollbackEvents": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"],
        "AlarmNames": [],
    }


@pytest.mark.parametrize("path", ["Deployment/DeploymentGroup", "Deployment/BootstrapDeploymentGroup"])
def test_both_slots_and_the_role_policy_outlive_each_group(synth: Synth, path: str) -> None:
    assert set(synth.resource(path)["DependsOn"]) == {
        synth.logical_id("Fleet/SlotA"),
        synth.logical_id("Fleet/SlotB"),
        synth.logical_id("Deployment/ServiceRole/DefaultPolicy"),
    }


def as_cloudformation_sends(value: Any) -> Any:
    """Properties as the provider receives them: intrinsics resolved (to placeholders), every scalar a string."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
        return "resolved-" + re.sub(r"\W", "", json.dumps(value))[:60]
    if isinstance(value, dict):
        return {key: as_cloudformation_sends(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_cloudformation_sends(item) for item in value]
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


@pytest.mark.parametrize("path", ["Deployment/DeploymentGroup", "Deployment/BootstrapDeploymentGroup"])
def test_the_provider_accepts_what_the_construct_declares_and_codedeploy_would_too(synth: Synth, path: str) -> None:
    spec = GroupSpec.from_properties(as_cloudformation_sends(synth.resource(path)["Properties"]))
    model = botocore.session.get_session().get_service_model("codedeploy")

    for operation, request in (
        ("CreateDeploymentGroup", create_request(spec, list(spec.initial_auto_scaling_groups))),
        ("UpdateDeploymentGroup", update_request(spec)),
    ):
        report = ParamValidator().validate(request, model.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()


def test_the_bootstrap_group_name_is_a_stack_output(synth: Synth) -> None:
    output = synth.template["Outputs"][output_names.BOOTSTRAP_DEPLOYMENT_GROUP]
    assert output["Value"] == {
        "Fn::GetAtt": [synth.logical_id("Deployment/BootstrapDeploymentGroup"), "DeploymentGroupName"]
    }


@pytest.mark.parametrize(
    "path",
    [
        "Deployment/Application",
        "Deployment/ServiceRole",
        "Deployment/GroupProvider",
        "Deployment/GroupProviderLogs",
        "Deployment/Provider",
        "Deployment/ProviderFrameworkLogs",
        "Deployment/DeploymentGroup",
    ],
)
def test_existing_construct_ids_are_kept(synth: Synth, path: str) -> None:
    node = synth.stack.node
    for part in path.split("/"):
        node = node.find_child(part).node
    assert node.path == f"{STACK}/{path}"


# --- cdk-nag ---------------------------------------------------------------------------------------------------


def test_every_acknowledgement_of_the_construct_answers_a_finding(synth: Synth) -> None:
    # An acknowledgement covers the construct it is recorded on and everything below it: it is used when at least
    # one of those resources has the finding it names.
    deployment = synth.stack.node.find_child("Deployment")
    declared = declared_acknowledgements(deployment)
    assert declared, "the construct declares acknowledgements"
    assert unused(declared, findings(deployment)) == []


def test_the_construct_has_no_unacknowledged_finding(synth: Synth) -> None:
    assert unacknowledged(synth.stack.node.find_child("Deployment")) == []


def test_no_dict_is_passed_where_a_jsii_struct_is_expected_in_the_construct() -> None:
    # docs/decisions.md F16: jsii drops snake_case keys of a plain dict, silently. The construct builds every struct
    # (ARN components, nag acknowledgements) from its class; this pins that for the file this test covers.
    source = (Path(__file__).resolve().parents[2] / "stacks" / "deployment.py").read_text(encoding="utf-8")
    assert not re.search(r"Arn\.format\(\s*\{", source)
    assert not re.search(r"acknowledge\([^)]*\[\s*\{", source, re.DOTALL)
