"""Fixtures for the join Lambda: a moto world (VPC, two slots, target group) and a stubbed CodeDeploy client.

moto covers Auto Scaling (the slots, DescribeAutoScalingInstances) and the target group (RegisterTargets,
DescribeTargetHealth). CodeDeploy's GetDeploymentGroup goes through botocore's Stubber, which, like moto, validates
every request and response against the service model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from join.aws import AwsJoinPorts
from join.handler import FunctionConfig
from moto import mock_aws

APPLICATION = "BlueGreenApp-Application"
DEPLOYMENT_GROUP = "BlueGreenApp-blue-green"
APP_PORT = 8080


def launch_event(**detail_overrides: Any) -> dict[str, Any]:
    """The event Auto Scaling sends when it launched an instance (Auto Scaling user guide, event reference)."""
    detail = {
        "StatusCode": "InProgress",
        "Description": "Launching a new EC2 instance: i-1234567890abcdef0",
        "AutoScalingGroupName": "slot-a",
        "ActivityId": "87654321-4321-4321-4321-210987654321",
        "Details": {"Availability Zone": "eu-west-1a", "Subnet ID": "subnet-12345678"},
        "RequestId": "12345678-1234-1234-1234-123456789012",
        "StatusMessage": "",
        "EndTime": "2025-01-01T00:01:00Z",
        "EC2InstanceId": "i-1234567890abcdef0",
        "StartTime": "2025-01-01T00:00:00Z",
        "Cause": "At 2025-01-01T00:00:00Z an instance was started in response to a difference between desired "
        "and actual capacity, increasing the capacity from 1 to 2.",
    }
    detail.update(detail_overrides)
    return {
        "version": "0",
        "id": "12345678-1234-1234-1234-123456789012",
        "detail-type": "EC2 Instance Launch Successful",
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": "2025-01-01T00:01:00Z",
        "region": "eu-west-1",
        "resources": [
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x:autoScalingGroupName/slot-a",
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-1234567890abcdef0",
        ],
        "detail": detail,
    }


class FakeClock:
    """Monotonic time that only moves when something sleeps: tests run in milliseconds and never race."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class World:
    """Two slots with one InService instance each, and an empty target group."""

    instances: dict[str, str]
    target_group_arn: str
    autoscaling: Any
    elbv2: Any
    codedeploy: Any
    deployment_group: Stubber

    def event(self, slot: str) -> dict[str, Any]:
        """The launch event for the instance of `slot`."""
        return launch_event(AutoScalingGroupName=slot, EC2InstanceId=self.instances[slot])

    def ports(self) -> AwsJoinPorts:
        return AwsJoinPorts(
            autoscaling=self.autoscaling,
            elbv2=self.elbv2,
            codedeploy=self.codedeploy,
            target_group_arn=self.target_group_arn,
            application_name=APPLICATION,
            deployment_group_name=DEPLOYMENT_GROUP,
        )

    def config(self) -> FunctionConfig:
        return FunctionConfig(
            target_group_arn=self.target_group_arn,
            application_name=APPLICATION,
            deployment_group_name=DEPLOYMENT_GROUP,
            poll_interval=10.0,
            metric_namespace="Test/Join",
        )

    def registered_targets(self) -> list[tuple[str, int]]:
        response = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        return sorted((d["Target"]["Id"], d["Target"]["Port"]) for d in response["TargetHealthDescriptions"])

    def expect_live_groups(self, *slots: str) -> None:
        """GetDeploymentGroup answers that the group lists `slots` (each with CodeDeploy's launch hook)."""
        self.deployment_group.add_response(
            "get_deployment_group",
            {
                "deploymentGroupInfo": {
                    "applicationName": APPLICATION,
                    "deploymentGroupName": DEPLOYMENT_GROUP,
                    "autoScalingGroups": [
                        {"name": slot, "hook": f"CodeDeploy-managed-automatic-launch-deployment-hook-{slot}"}
                        for slot in slots
                    ],
                }
            },
            {"applicationName": APPLICATION, "deploymentGroupName": DEPLOYMENT_GROUP},
        )

    def expect_deployment_group_error(self, code: str, message: str = "", status: int = 400) -> None:
        self.deployment_group.add_client_error(
            "get_deployment_group",
            code,
            message,
            http_status_code=status,
            expected_params={"applicationName": APPLICATION, "deploymentGroupName": DEPLOYMENT_GROUP},
        )


@pytest.fixture
def world() -> Iterator[World]:
    """Build both slots and the target group in moto; stub CodeDeploy."""
    with mock_aws():
        ec2 = boto3.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        ec2.create_launch_template(
            LaunchTemplateName="app", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )
        autoscaling = boto3.client("autoscaling")
        instances = {}
        for slot in ("slot-a", "slot-b"):
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=slot,
                LaunchTemplate={"LaunchTemplateName": "app", "Version": "$Latest"},
                MinSize=0,
                MaxSize=2,
                DesiredCapacity=1,
                VPCZoneIdentifier=subnet_id,
            )
            group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[slot])["AutoScalingGroups"][0]
            instances[slot] = group["Instances"][0]["InstanceId"]
        elbv2 = boto3.client("elbv2")
        target_group_arn = elbv2.create_target_group(
            Name="app", Protocol="HTTP", Port=APP_PORT, VpcId=vpc_id, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        codedeploy = boto3.client("codedeploy")
        with Stubber(codedeploy) as deployment_group:
            yield World(
                instances=instances,
                target_group_arn=target_group_arn,
                autoscaling=autoscaling,
                elbv2=elbv2,
                codedeploy=codedeploy,
                deployment_group=deployment_group,
            )
            deployment_group.assert_no_pending_responses()
