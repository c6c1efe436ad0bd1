"""Fixtures for the drain Lambda: injected time, a moto world (VPC, slot, hook, target group) and stubbed clients.

moto covers the target group (register, describe, deregister) and the setup of the slot and its hook, but not
RecordLifecycleActionHeartbeat, CompleteLifecycleAction or Terminating:Wait, and its GetCommandInvocation returns
canned empty output. Those calls go through botocore's Stubber, which, like moto, validates every request against
the service model. `World.calls` records every call on every client in order, moto's and the stubs' alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from drain.aws import AwsDrainPorts
from drain.decision import DrainSettings
from drain.handler import FunctionConfig
from moto import mock_aws

APP_PORT = 8080
HOOK = "drain-on-termination"
TOKEN = "87654321-4321-4321-4321-210987654321"
COMMAND = "curl -fsS --max-time 1 http://127.0.0.1:8080/in-flight"
SETTINGS = DrainSettings(app_port=APP_PORT, deregistration_delay=30.0, heartbeat_timeout=330.0, poll_interval=0.5)
TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app/0123456789abcdef"
CONFIG = FunctionConfig(
    settings=SETTINGS,
    target_group_arn=TARGET_GROUP_ARN,
    in_flight_command=COMMAND,
    metric_namespace="Test/Drain",
)


def wait_output(*, drained: bool, in_flight: int = 0, checks: int = 5, elapsed_cs: int = 50) -> str:
    """What the on-instance wait prints when it ends (`drain.wait_script`)."""
    word = "drained" if drained else "bound"
    return f"drain-wait: {word} in_flight={in_flight} checks={checks} elapsed_cs={elapsed_cs}\n"


def lifecycle_event(**detail_overrides: Any) -> dict[str, Any]:
    """The EventBridge event Auto Scaling sends for an instance in Terminating:Wait (Auto Scaling user guide)."""
    detail = {
        "LifecycleActionToken": TOKEN,
        "AutoScalingGroupName": "slot-a",
        "LifecycleHookName": HOOK,
        "EC2InstanceId": "i-1234567890abcdef0",
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
    }
    detail.update(detail_overrides)
    return {
        "version": "0",
        "id": "12345678-1234-1234-1234-123456789012",
        "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x:autoScalingGroupName/slot-a"],
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
    """A slot with one instance in Terminating:Wait (as far as our calls can tell), registered in a target group."""

    group_name: str
    instance_id: str
    target_group_arn: str
    elbv2: Any
    autoscaling: Any
    ssm: Any
    lifecycle: Stubber
    run_command: Stubber
    other_instance_ids: Sequence[str] = ()
    clock: FakeClock = field(default_factory=FakeClock)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # First, because a Stubber's own before-call handler answers the call and stops the others.
        for client in (self.elbv2, self.autoscaling, self.ssm):
            client.meta.events.register_first("before-call.*.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def event(self) -> dict[str, Any]:
        """The termination event for this world's instance."""
        return lifecycle_event(AutoScalingGroupName=self.group_name, EC2InstanceId=self.instance_id)

    def ports(self) -> AwsDrainPorts:
        return AwsDrainPorts(
            autoscaling=self.autoscaling,
            elbv2=self.elbv2,
            ssm=self.ssm,
            target_group_arn=self.target_group_arn,
            in_flight_command=COMMAND,
            clock=self.clock,
            sleep=self.clock.sleep,
            poll_interval=SETTINGS.poll_interval,
        )

    def config(self) -> FunctionConfig:
        return FunctionConfig(
            settings=SETTINGS,
            target_group_arn=self.target_group_arn,
            in_flight_command=COMMAND,
            metric_namespace="Test/Drain",
        )

    def registered_targets(self) -> list[str]:
        response = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        return [d["Target"]["Id"] for d in response["TargetHealthDescriptions"]]

    # --- expected calls -------------------------------------------------------------------------------------

    def _action(self) -> dict[str, Any]:
        return {"AutoScalingGroupName": self.group_name, "LifecycleHookName": HOOK, "LifecycleActionToken": TOKEN}

    def expect_heartbeat(self) -> None:
        self.lifecycle.add_response("record_lifecycle_action_heartbeat", {}, self._action())

    def expect_heartbeat_error(self, code: str, message: str) -> None:
        self.lifecycle.add_client_error(
            "record_lifecycle_action_heartbeat", code, message, expected_params=self._action()
        )

    def expect_complete(self) -> None:
        params = {**self._action(), "LifecycleActionResult": "CONTINUE"}
        self.lifecycle.add_response("complete_lifecycle_action", {}, params)

    def expect_complete_error(self, code: str, message: str, status: int = 400) -> None:
        params = {**self._action(), "LifecycleActionResult": "CONTINUE"}
        self.lifecycle.add_client_error(
            "complete_lifecycle_action", code, message, http_status_code=status, expected_params=params
        )

    def expect_wait(self, output: str, *, in_progress: int = 0, command_number: int = 0) -> None:
        """One on-instance wait: SendCommand with the wait script, then reads until it succeeds with `output`."""
        command_id = f"{command_number:08d}-0000-0000-0000-000000000000"
        self.run_command.add_response(
            "send_command",
            {"Command": {"CommandId": command_id}},
            {
                "InstanceIds": [self.instance_id],
                "DocumentName": "AWS-RunShellScript",
                "Parameters": ANY,
                "TimeoutSeconds": 30,
                "Comment": ANY,
            },
        )
        for _ in range(in_progress):
            self.run_command.add_response(
                "get_command_invocation",
                {"CommandId": command_id, "InstanceId": self.instance_id, "Status": "InProgress"},
                {"CommandId": command_id, "InstanceId": self.instance_id},
            )
        self.run_command.add_response(
            "get_command_invocation",
            {
                "CommandId": command_id,
                "InstanceId": self.instance_id,
                "Status": "Success",
                "StandardOutputContent": output,
            },
            {"CommandId": command_id, "InstanceId": self.instance_id},
        )

    def expect_send_command_errors(self, code: str, message: str, times: int) -> None:
        for _ in range(times):
            self.run_command.add_client_error("send_command", code, message)


def build_world(desired: int) -> Iterator[World]:
    """A slot of `desired` instances, all registered in the target group; the first one is the leaving instance."""
    with mock_aws():
        ec2 = boto3.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        ec2.create_launch_template(
            LaunchTemplateName="app", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )
        autoscaling = boto3.client("autoscaling")
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="slot-a",
            LaunchTemplate={"LaunchTemplateName": "app", "Version": "$Latest"},
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=desired,
            VPCZoneIdentifier=subnet_id,
        )
        autoscaling.put_lifecycle_hook(
            LifecycleHookName=HOOK,
            AutoScalingGroupName="slot-a",
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
            HeartbeatTimeout=int(SETTINGS.heartbeat_timeout),
            DefaultResult="CONTINUE",
        )
        instance_ids = [
            instance["InstanceId"]
            for instance in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["slot-a"])[
                "AutoScalingGroups"
            ][0]["Instances"]
        ]
        elbv2 = boto3.client("elbv2")
        target_group_arn = elbv2.create_target_group(
            Name="app", Protocol="HTTP", Port=APP_PORT, VpcId=vpc_id, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(
            TargetGroupArn=target_group_arn, Targets=[{"Id": instance, "Port": APP_PORT} for instance in instance_ids]
        )

        # Separate clients for the stubbed calls: a Stubber answers every call on its client.
        lifecycle_client = boto3.client("autoscaling")
        ssm = boto3.client("ssm")
        with Stubber(lifecycle_client) as lifecycle, Stubber(ssm) as run_command:
            yield World(
                group_name="slot-a",
                instance_id=instance_ids[0],
                target_group_arn=target_group_arn,
                elbv2=elbv2,
                autoscaling=lifecycle_client,
                ssm=ssm,
                lifecycle=lifecycle,
                run_command=run_command,
                other_instance_ids=instance_ids[1:],
            )


@pytest.fixture
def world() -> Iterator[World]:
    """A slot with one instance, registered in the target group; moto for it, stubs for what moto lacks."""
    yield from build_world(desired=1)
