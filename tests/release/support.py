"""Shared test support for the release tool: the moto-backed world, constants and a valid revision."""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from release.ci import CiContext
from release.orchestrate import Clients, ReleaseOptions
from release.runtime import Runtime
from release.targets import Targets
from release.views import LineView

from bluegreen.config import FleetSize
from tests.release.fakes import FakeClock, FakeCodeDeploy, Script

REGION = "eu-west-1"
APP = "BlueGreenApp-app"
GROUP = "BlueGreenApp-group"
SLOT_A = "BlueGreenApp-SlotA"
SLOT_B = "BlueGreenApp-SlotB"
BUCKET = "bluegreen-artifacts-test"
FLEET = FleetSize(minimum=1, desired=2, maximum=4)


@dataclass
class World:
    """The moto-backed AWS a test runs against, plus the scripted CodeDeploy and a fake clock."""

    s3: Any
    autoscaling: Any
    ec2: Any
    cloudformation: Any
    clock: FakeClock
    app_dir: Path

    def codedeploy(self, listed_slot: str | None = SLOT_A, script: Script | None = None) -> FakeCodeDeploy:
        return FakeCodeDeploy(APP, GROUP, listed_slot, script=script)

    def clients(self, codedeploy: FakeCodeDeploy) -> Clients:
        return Clients(s3=self.s3, autoscaling=self.autoscaling, codedeploy=codedeploy)

    def runtime(self) -> Runtime:
        return Runtime(now=self.clock.now, sleep=self.clock.sleep)

    def targets(self, bucket: str = BUCKET) -> Targets:
        return Targets(bucket=bucket, application=APP, deployment_group=GROUP, slots=(SLOT_A, SLOT_B), fleet=FLEET)

    def options(self, **overrides: Any) -> ReleaseOptions:
        values: dict[str, Any] = {
            "app_dir": self.app_dir,
            "ci": CiContext.from_env(
                {"GITHUB_SHA": "0123456789abcdef", "GITHUB_REF_NAME": "main", "GITHUB_RUN_ID": "42"}
            ),
            "timeout_seconds": 1800.0,
        }
        values.update(overrides)
        return ReleaseOptions(**values)

    def view(self) -> tuple[LineView, io.StringIO]:
        stream = io.StringIO()
        return LineView(stream, self.clock.now), stream

    def scale(self, slot: str, desired: int) -> None:
        self.autoscaling.update_auto_scaling_group(AutoScalingGroupName=slot, MinSize=0, DesiredCapacity=desired)

    def slot(self, name: str) -> dict[str, Any]:
        return self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

    def objects(self) -> list[str]:
        """The revisions in the bucket (the release lease, `leases/...`, is not an upload)."""
        keys = [item["Key"] for item in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        return [key for key in keys if not key.startswith("leases/")]


def write_revision(root: Path, *, appspec: str | None = None) -> Path:
    """A small valid revision: one file, one executable AfterInstall hook."""
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "app" / "index.html").write_text("<h1>hello</h1>\n")
    (root / "scripts").mkdir(exist_ok=True)
    hook = root / "scripts" / "after_install.sh"
    hook.write_text("#!/bin/bash\nexit 0\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (root / "appspec.yml").write_text(
        appspec
        or "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /opt/app\n"
        "hooks:\n  AfterInstall:\n    - location: scripts/after_install.sh\n      timeout: 60\n"
    )
    return root


def refuse_opening(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make opening the revision files `names` (POSIX paths, matched at the end of the path opened) fail with
    EACCES, as for a file this user may not read: the tests may run as root, where chmod does not lock a file. The
    scan, the zip writer and the rehearsal's check all open files through os.open."""
    real_open = os.open

    def open_(path: Any, *args: Any, **kwargs: Any) -> int:
        text = os.fspath(path)
        if any(text == name or text.endswith(f"/{name}") for name in names):
            raise PermissionError(13, "Permission denied", text)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


def make_world(tmp_path: Path) -> World:
    """Bucket, VPC, launch template and the two empty slots (call inside an active moto mock)."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    ec2.create_launch_template(
        LaunchTemplateName="fleet", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    for name in (SLOT_A, SLOT_B):
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": "fleet", "Version": "$Latest"},
            MinSize=0,
            MaxSize=4,
            VPCZoneIdentifier=subnet["SubnetId"],
        )
    return World(
        s3=s3,
        autoscaling=autoscaling,
        ec2=ec2,
        cloudformation=boto3.client("cloudformation", region_name=REGION),
        clock=FakeClock(),
        app_dir=write_revision(tmp_path / "revision"),
    )
