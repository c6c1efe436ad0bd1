"""The stack declares what DESIGN.md's "Provision" flow and issue #2 require, asserted on properties."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Capture, Match, Template

from bluegreen import outputs as output_names
from tests.stacks.conftest import CERTIFICATE_ARN, Synthesized

pytestmark = pytest.mark.slow


def resources(template: Template, kind: str) -> dict:
    return template.find_resources(kind)


# --- artifact bucket -------------------------------------------------------------------------------------------


def revisions_bucket(template: Template) -> dict:
    buckets = [
        bucket
        for bucket in resources(template, "AWS::S3::Bucket").values()
        if bucket["Properties"].get("VersioningConfiguration")
    ]
    assert len(buckets) == 1, "exactly one versioned (artifact) bucket"
    return buckets[0]


def test_artifact_bucket_is_versioned_encrypted_private_and_logged(template: Template) -> None:
    properties = revisions_bucket(template)["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["LoggingConfiguration"]["DestinationBucketName"]


def test_artifact_bucket_expires_replaced_revisions_and_aborts_stale_uploads(template: Template) -> None:
    rules = revisions_bucket(template)["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "ExpireReplacedRevisions",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "Status": "Enabled",
    } in rules
    assert {
        "Id": "AbortIncompleteUploads",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        "Status": "Enabled",
    } in rules


def test_artifact_bucket_is_kept_when_the_stack_is_deleted(template: Template) -> None:
    bucket = revisions_bucket(template)
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_every_bucket_denies_requests_without_tls(template: Template) -> None:
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert len(policies) == len(resources(template, "AWS::S3::Bucket"))
    for policy in policies.values():
        assert any(
            statement["Effect"] == "Deny"
            and statement["Action"] == "s3:*"
            and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )


# --- network ---------------------------------------------------------------------------------------------------


def test_new_vpc_has_public_and_private_subnets_over_two_zones_with_one_nat(template: Template) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    subnets = resources(template, "AWS::EC2::Subnet").values()
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    private = [s for s in subnets if not s["Properties"]["MapPublicIpOnLaunch"]]
    assert (len(public), len(private)) == (2, 2)


def test_existing_vpc_is_used_without_creating_one(https_existing_vpc_stack: Synthesized) -> None:
    template = https_existing_vpc_stack.template
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup",
        {"VPCZoneIdentifier": ["subnet-0000000000000000c", "subnet-0000000000000000d"]},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {"Subnets": ["subnet-0000000000000000a", "subnet-0000000000000000b"]},
    )


# --- load balancer ---------------------------------------------------------------------------------------------


def test_target_group_health_check_is_tuned_for_fast_traffic_steps(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": "/health",
            "HealthCheckTimeoutSeconds": 2,
            "HealthCheckIntervalSeconds": 5,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 2,
            "Matcher": {"HttpCode": "200"},
            "Port": 8080,
            "Protocol": "HTTP",
            "TargetType": "instance",
            "TargetGroupAttributes": Match.array_with([{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]),
        },
    )


def test_target_group_starts_without_targets(template: Template) -> None:
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {"Targets": Match.absent()})


@pytest.mark.parametrize(
    "attribute",
    [
        {"Key": "access_logs.s3.enabled", "Value": "true"},
        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
    ],
)
def test_load_balancer_is_internet_facing_with_access_logs_and_strict_headers(
    template: Template, attribute: dict
) -> None:
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {"Scheme": "internet-facing", "LoadBalancerAttributes": Match.array_with([attribute])},
    )


def test_without_certificate_http_listener_forwards_to_the_target_group(template: Template) -> None:
    template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 1)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 80, "Protocol": "HTTP", "DefaultActions": [Match.object_like({"Type": "forward"})]},
    )


def test_with_certificate_https_listener_forwards_and_http_redirects(https_existing_vpc_stack: Synthesized) -> None:
    template = https_existing_vpc_stack.template
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": CERTIFICATE_ARN}],
            "DefaultActions": [Match.object_like({"Type": "forward"})],
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [
                Match.object_like({"Type": "redirect", "RedirectConfig": Match.object_like({"Port": "443"})})
            ],
        },
    )


# --- fleet -----------------------------------------------------------------------------------------------------


def test_two_slots_start_empty_without_desired_capacity_or_target_group(template: Template) -> None:
    slots = resources(template, "AWS::AutoScaling::AutoScalingGroup")
    assert len(slots) == 2
    for slot in slots.values():
        properties = slot["Properties"]
        assert properties["MinSize"] == "0"
        assert properties["MaxSize"] == "4"
        assert "DesiredCapacity" not in properties
        assert "TargetGroupARNs" not in properties
        assert "LoadBalancerNames" not in properties
        assert "LaunchTemplate" in properties


def test_both_slots_use_the_one_launch_template(template: Template) -> None:
    template.resource_count_is("AWS::EC2::LaunchTemplate", 1)
    launch_templates = {
        str(slot["Properties"]["LaunchTemplate"]["LaunchTemplateId"])
        for slot in resources(template, "AWS::AutoScaling::AutoScalingGroup").values()
    }
    assert len(launch_templates) == 1


def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {
            "LaunchTemplateData": Match.object_like(
                {
                    "MetadataOptions": Match.object_like({"HttpTokens": "required", "HttpPutResponseHopLimit": 1}),
                    "BlockDeviceMappings": [
                        {
                            "DeviceName": "/dev/xvda",
                            "Ebs": Match.object_like({"Encrypted": True, "VolumeType": "gp3"}),
                        }
                    ],
                    "InstanceType": "t3.micro",
                }
            )
        },
    )


def test_image_is_amazon_linux_2023_resolved_at_deploy_time(template: Template) -> None:
    parameters = template.find_parameters("*", {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"})
    assert len(parameters) == 1
    (parameter,) = parameters.values()
    assert "al2023-ami" in parameter["Default"]


def test_user_data_installs_the_codedeploy_agent_for_the_stack_region_and_fails_loudly(template: Template) -> None:
    user_data = Capture()
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"UserData": {"Fn::Base64": user_data}})},
    )
    rendered = str(user_data.as_object())
    assert "set -euo pipefail" in rendered
    assert "aws-codedeploy-" in rendered
    assert "AWS::Region" in rendered
    assert "systemctl is-active --quiet codedeploy-agent" in rendered


def test_instances_accept_the_app_port_only_from_the_load_balancer(template: Template) -> None:
    ingress = [
        rule["Properties"]
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"].get("FromPort") == 8080
    ]
    assert len(ingress) == 1
    assert ingress[0]["ToPort"] == 8080
    assert "SourceSecurityGroupId" in ingress[0]
    assert "CidrIp" not in ingress[0]


def test_instance_role_reads_revisions_and_uses_ssm_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
            ),
            "ManagedPolicyArns": [
                {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonSSMManagedInstanceCore"]]}
            ],
        },
    )
    actions = Capture()
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("FleetInstanceRole")}],
            "PolicyDocument": {"Statement": [Match.object_like({"Action": actions})], "Version": "2012-10-17"},
        },
    )
    assert all(action.startswith(("s3:Get", "s3:List")) for action in actions.as_array())


# --- deployment ------------------------------------------------------------------------------------------------


def deployment_group_properties(template: Template) -> dict:
    (group,) = template.find_resources("Custom::BlueGreenDeploymentGroup").values()
    return group["Properties"]


def test_deployment_group_is_a_custom_resource_starting_on_slot_a(default_stack: Synthesized) -> None:
    template = default_stack.template
    slot_a_logical_id = default_stack.stack.resolve(
        default_stack.stack.node.find_child("Fleet").node.find_child("SlotA").node.default_child.logical_id
    )
    properties = deployment_group_properties(template)
    assert properties["InitialAutoScalingGroup"] == {"Ref": slot_a_logical_id}
    assert properties["DeploymentConfigName"] == "CodeDeployDefault.OneAtATime"
    assert properties["TargetGroupName"]["Fn::GetAtt"][1] == "TargetGroupName"
    template.resource_count_is("AWS::CodeDeploy::Application", 1)
    template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 0)


def test_both_release_alarms_are_attached_to_the_deployment_group(template: Template) -> None:
    # The target group's alarms (the finisher's dead-letter alarm, on AWS/SQS, stops no deployment)
    alarms = {
        name: alarm
        for name, alarm in resources(template, "AWS::CloudWatch::Alarm").items()
        if alarm["Properties"]["Namespace"] == "AWS/ApplicationELB"
    }
    metrics = {alarm["Properties"]["MetricName"] for alarm in alarms.values()}
    assert metrics == {"HTTPCode_Target_5XX_Count", "UnHealthyHostCount"}
    attached = deployment_group_properties(template)["AlarmNames"]
    assert sorted(ref["Ref"] for ref in attached) == sorted(alarms)


def test_outputs_are_everything_the_release_tool_reads_and_are_not_exported(template: Template) -> None:
    outputs = template.find_outputs("*")
    assert set(outputs) == set(output_names.ALL)
    assert all("Export" not in output for output in outputs.values())
    assert outputs["FleetDesiredSize"]["Value"] == "2"
    assert outputs["FleetMinSize"]["Value"] == "1"
    assert outputs["FleetMaxSize"]["Value"] == "4"


def test_site_url_follows_the_listener_scheme(
    default_stack: Synthesized, https_existing_vpc_stack: Synthesized
) -> None:
    http_url = str(default_stack.template.find_outputs("SiteUrl")["SiteUrl"]["Value"])
    https_url = str(https_existing_vpc_stack.template.find_outputs("SiteUrl")["SiteUrl"]["Value"])
    assert "http://" in http_url
    assert "https://" in https_url


# --- stable identities -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "Artifacts/Revisions",
        "Artifacts/AccessLogs",
        "LoadBalancer/Alb",
        "LoadBalancer/TargetGroup",
        "Fleet/SlotA",
        "Fleet/SlotB",
        "Deployment/DeploymentGroup",
    ],
)
def test_stateful_resources_keep_their_construct_paths(default_stack: Synthesized, path: str) -> None:
    node = default_stack.stack.node
    for part in path.split("/"):
        node = node.find_child(part).node
    assert node.path == f"{default_stack.stack.stack_name}/{path}"


def test_user_data_is_valid_bash_once_rendered(template: Template, tmp_path: Path) -> None:
    user_data = Capture()
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"UserData": {"Fn::Base64": user_data}})},
    )
    pseudo = {"AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com"}
    parts = user_data.as_object()["Fn::Join"][1]
    script = "".join(part if isinstance(part, str) else pseudo[part["Ref"]] for part in parts)
    path = tmp_path / "user-data.sh"
    path.write_text(script, encoding="utf-8")

    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)

    assert script.startswith("#!/bin/bash")
    assert "https://aws-codedeploy-eu-west-1.s3.eu-west-1.amazonaws.com/latest/install" in script
    assert result.returncode == 0, result.stderr
