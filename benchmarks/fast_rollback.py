"""Benchmark: the bake window's fast rollback, modelled and measured without the load balancer's wait.

The time from a rollback decision to traffic fully on the old slot is the target group's part (registration and
health checks, which only a real account shows: `bluegreen.timing.fast_rollback_model`) plus the tool's own part
(its S3, Auto Scaling, ELBv2 and CodeDeploy calls). This script prints the model for the default stack and for the
ALB's defaults, and measures the tool's part: `release.bake.FastRollback.run` against moto (in process, so the
figure is the tool's work plus moto's, without network round trips), with the old slot's targets healthy at the first
read. CodeDeploy's UpdateDeploymentGroup, which moto lacks, is a no-op stand-in.

Usage: `PYTHONPATH=scripts .venv/bin/python benchmarks/fast_rollback.py [--runs 20] [--instances 2]`.
Prints the model's figures, and the median and range of the measured part over the runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws
from release import bake as tool_bake
from release.runtime import Runtime

from bluegreen import bake
from bluegreen.config import load_config
from bluegreen.timing import ALB_DEFAULTS, TrafficTiming, fast_rollback_model

REGION = "eu-west-1"
BUCKET = "bench-artifacts"


class _Group:
    """UpdateDeploymentGroup stand-in (moto has none): the call the rollback makes, answered at once."""

    def update_deployment_group(self, **_: Any) -> dict[str, Any]:
        return {"hooksNotCleanedUp": []}


def _world(instances: int) -> tuple[tool_bake.Site, Any, Any]:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_launch_template(LaunchTemplateName="fleet", LaunchTemplateData={"ImageId": "ami-12c6146b"})
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    for slot in ("A", "B"):
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=slot,
            LaunchTemplate={"LaunchTemplateName": "fleet"},
            MinSize=0,
            MaxSize=instances,
            DesiredCapacity=instances,
            VPCZoneIdentifier=subnet,
        )
    elbv2 = boto3.client("elbv2", region_name=REGION)
    arn = elbv2.create_target_group(Name="site", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    site = tool_bake.Site(s3, autoscaling, _Group(), elbv2, None, BUCKET, "app", "group", arn)
    return site, autoscaling, elbv2


def _reset(site: tool_bake.Site, autoscaling: Any, elbv2: Any, instances: int) -> bake.Window:
    """B live and registered, A out of traffic, an open window."""
    for slot in ("A", "B"):
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=slot, MinSize=0, DesiredCapacity=instances)
    described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["A", "B"])["AutoScalingGroups"]
    ids = {group["AutoScalingGroupName"]: [i["InstanceId"] for i in group["Instances"]] for group in described}
    assert site.target_group_arn is not None
    registered = {
        item["Target"]["Id"]
        for item in elbv2.describe_target_health(TargetGroupArn=site.target_group_arn)["TargetHealthDescriptions"]
    }
    if stale := [{"Id": i} for i in registered if i not in ids["B"]]:
        elbv2.deregister_targets(TargetGroupArn=site.target_group_arn, Targets=stale)
    elbv2.register_targets(TargetGroupArn=site.target_group_arn, Targets=[{"Id": i} for i in ids["B"]])
    now = datetime.now(UTC)
    window = bake.Window("r", "d-1", "A", "B", now, now + timedelta(minutes=10))
    return bake.open_window(site.s3, BUCKET, site.key, window)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--instances", type=int, default=2)
    args = parser.parse_args()
    config = load_config({})
    stack = fast_rollback_model(TrafficTiming.of(config.health_check, config.deregistration_delay_seconds))
    print(f"model, this stack's health check:  {stack.seconds} s  ({stack.describe()})")
    print(f"model, the ALB's defaults:          {fast_rollback_model(ALB_DEFAULTS).seconds} s")
    seconds: list[float] = []
    with mock_aws():
        site, autoscaling, elbv2 = _world(args.instances)
        runtime = Runtime(now=lambda: datetime.now(UTC), sleep=time.sleep)
        for _ in range(args.runs):
            window = _reset(site, autoscaling, elbv2, args.instances)
            rollback = tool_bake.FastRollback(site, runtime, lambda _: None, ALB_DEFAULTS)
            started = time.perf_counter()
            rollback.run(window, "benchmark")
            seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(
        f"tool's own part ({args.instances} instances per slot, moto in process, {args.runs} runs): median "
        f"{median * 1000:.0f} ms, min {min(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
    )
    print(f"model + tool's part: {stack.seconds + median:.1f} s of the 30 s goal ({(stack.seconds + median) / 30:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
