"""Fixtures for the finisher: the release tool's moto world (bucket, both slots) with a target group, a scripted
CodeDeploy (`tests.release.fakes`, checked against botocore's model), and the finisher invoked as Lambda would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from finisher.converge import Clients, Stack
from finisher.handler import FunctionConfig, handle
from moto import mock_aws

from tests.release.fakes import FakeCodeDeploy
from tests.release.support import APP, BUCKET, GROUP, REGION, SLOT_A, SLOT_B, World, make_world

IN_FLIGHT = ("Created", "Queued", "InProgress", "Ready", "Baking")


def deployment_event(deployment_id: str, state: str, *, group: str = GROUP) -> dict[str, Any]:
    """CodeDeploy's deployment state-change event as EventBridge delivers it (docs/decisions.md F59)."""
    return {
        "version": "0",
        "id": "c071bfbf-83c4-49ca-a6ff-3df053957145",
        "detail-type": "CodeDeploy Deployment State-change Notification",
        "source": "aws.codedeploy",
        "account": "123456789012",
        "time": "2026-01-01T12:00:00Z",
        "region": REGION,
        "resources": [
            f"arn:aws:codedeploy:{REGION}:123456789012:application:{APP}",
            f"arn:aws:codedeploy:{REGION}:123456789012:deploymentgroup:{APP}/{group}",
        ],
        "detail": {
            "instanceGroupId": "9fd2fbef-2157-40d8-91e7-6845af69e2d2",
            "region": REGION,
            "application": APP,
            "deploymentId": deployment_id,
            "state": state,
            "deploymentGroup": group,
        },
    }


SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T12:05:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:123456789012:rule/finisher-sweep"],
    "detail": {},
}


@dataclass
class FinisherWorld:
    """The release world plus the target group and the finisher's view of the stack."""

    release: World
    elbv2: Any
    target_group_arn: str

    def stack(self, bootstrap_group: str | None = None) -> Stack:
        return Stack(
            application=APP,
            deployment_group=GROUP,
            bootstrap_group=bootstrap_group,
            slots=(SLOT_A, SLOT_B),
            bucket=BUCKET,
            target_group_arn=self.target_group_arn,
        )

    def invoke(self, event: Any, codedeploy: Any, *, bootstrap_group: str | None = None) -> dict[str, Any]:
        """One invocation of the finisher's handler, on the world's clock."""
        clients = Clients(
            codedeploy=codedeploy, autoscaling=self.release.autoscaling, elbv2=self.elbv2, s3=self.release.s3
        )
        return handle(
            event,
            config=FunctionConfig(stack=self.stack(bootstrap_group), owner="finisher Lambda test"),
            clients=lambda: clients,
            now=self.release.clock.now,
            request_id="req-1",
        )

    def assert_converged(self, codedeploy: FakeCodeDeploy, live: str) -> None:
        """Issue 12's convergence conditions, with `live` the slot the group must list."""
        slot = self.release.slot
        other = SLOT_B if live == SLOT_A else SLOT_A
        assert codedeploy.listed == [live]
        serving = [i for i in slot(live)["Instances"] if i["LifecycleState"] == "InService"]
        assert slot(live)["DesiredCapacity"] >= 2
        assert len(serving) == slot(live)["DesiredCapacity"]
        assert slot(other)["DesiredCapacity"] == 0
        assert not [i for i in slot(other)["Instances"] if i["LifecycleState"] == "InService"]
        assert slot(SLOT_A)["SuspendedProcesses"] == []
        assert slot(SLOT_B)["SuspendedProcesses"] == []
        assert not [d for d, info in codedeploy.deployments.items() if info["status"] in IN_FLIGHT]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FinisherWorld]:
    """Bucket, both slots, a target group in moto; a valid revision on disk."""
    with mock_aws():
        release_world = make_world(tmp_path)
        vpc = release_world.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        elbv2 = boto3.client("elbv2", region_name=REGION)
        arn = elbv2.create_target_group(Name="app", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        yield FinisherWorld(release=release_world, elbv2=elbv2, target_group_arn=arn)
