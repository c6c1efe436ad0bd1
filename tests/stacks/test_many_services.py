"""Two applications in one account, region and VPC: no physical name they set collides (docs/decisions.md F94)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from bluegreen.config import CDK_JSON, load_config
from stacks.blue_green_stack import build_stack
from tests.stacks.conftest import EXISTING_VPC

pytestmark = pytest.mark.slow

ACCOUNT, REGION = "123456789012", "eu-west-1"
APPLICATIONS = ("ShopApi", "ShopWeb")
# Properties that give a resource a name unique in an account (and region): a literal value set by the stack would be
# the same in two copies unless it carries the stack name. Names scoped to a parent (an inline policy in its role, a
# lifecycle hook in its group) are not here.
ACCOUNT_SCOPED_NAMES = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "Name",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "Name",
    "AWS::AutoScaling::AutoScalingGroup": "AutoScalingGroupName",
    "AWS::EC2::LaunchTemplate": "LaunchTemplateName",
    "AWS::EC2::SecurityGroup": "GroupName",
    "AWS::CodeDeploy::Application": "ApplicationName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Events::Rule": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Logs::ResourcePolicy": "PolicyName",
    "Custom::BlueGreenDeploymentGroup": "DeploymentGroupName",
    "Custom::BootstrapDeploymentGroup": "DeploymentGroupName",
}


@pytest.fixture(scope="module")
def two_applications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """ShopApi and ShopWeb synthesized in one app, one account and region, in the same existing VPC."""
    context = {**json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"], "existingVpc": EXISTING_VPC}
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("services")), context=context)
    env = cdk.Environment(account=ACCOUNT, region=REGION)
    stacks = [
        build_stack(app, load_config({**context, "stackName": name}), env, nag_checks=index == 0)
        for index, name in enumerate(APPLICATIONS)
    ]
    return {stack.stack_name: Template.from_stack(stack).to_json() for stack in stacks}


def names_set(template: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(resource type, name) of every account-scoped name the template sets, whatever its form."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        key = ACCOUNT_SCOPED_NAMES.get(resource["Type"])
        value = resource.get("Properties", {}).get(key) if key else None
        if value is not None:
            found[(resource["Type"], json.dumps(value, sort_keys=True))] = logical_id
    return found


def test_no_account_scoped_name_is_set_by_both_applications(two_applications: dict[str, dict[str, Any]]) -> None:
    api, web = (names_set(two_applications[name]) for name in APPLICATIONS)
    assert api, "the stack sets some names (deployment groups, dashboard, log group): the check has something to see"
    assert set(api) & set(web) == set()


@pytest.mark.parametrize("name", APPLICATIONS)
def test_every_name_an_application_sets_carries_its_stack_name(
    two_applications: dict[str, dict[str, Any]], name: str
) -> None:
    for resource_type, value in names_set(two_applications[name]):
        assert name in value, f"{resource_type} is named {value} without the stack name"


def test_both_applications_have_the_same_output_keys_and_export_none(
    two_applications: dict[str, dict[str, Any]],
) -> None:
    api, web = (two_applications[name]["Outputs"] for name in APPLICATIONS)
    assert set(api) == set(web)
    assert [key for key, output in {**api, **web}.items() if "Export" in output] == []


def test_each_application_deploys_into_the_shared_vpc_with_its_own_load_balancer_and_groups(
    two_applications: dict[str, dict[str, Any]],
) -> None:
    for template in two_applications.values():
        resources = template["Resources"].values()
        assert not [r for r in resources if r["Type"] == "AWS::EC2::VPC"]
        groups = [r for r in resources if r["Type"] == "AWS::EC2::SecurityGroup"]
        assert groups and all(r["Properties"]["VpcId"] == EXISTING_VPC["vpcId"] for r in groups)
        assert len([r for r in resources if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"]) == 1


def test_the_revision_prefix_and_the_bucket_differ_because_cloudformation_names_them(
    two_applications: dict[str, dict[str, Any]],
) -> None:
    # The release tool writes revisions/<ApplicationName>/...: both the application and the bucket are named by
    # CloudFormation from each stack's own name, so neither can be the other application's.
    for template in two_applications.values():
        for resource in template["Resources"].values():
            if resource["Type"] in ("AWS::CodeDeploy::Application", "AWS::S3::Bucket"):
                assert "ApplicationName" not in resource.get("Properties", {})
                assert "BucketName" not in resource.get("Properties", {})
