"""Targets from stack outputs and explicit values, and the deployment settings derived from the group."""

from __future__ import annotations

import json

import boto3
import pytest
from release import cli
from release.ci import CiContext
from release.deployments import GroupInfo, build_description
from release.errors import ExitCode, TargetsError
from release.targets import OUTPUTS_READ, TargetOverrides, fleet_size, require_region, resolve_targets
from release.timeout import default_timeout_seconds

from bluegreen import outputs
from bluegreen.config import FleetSize
from bluegreen.timing import TrafficTiming
from tests.release.support import APP, BUCKET, GROUP, SLOT_A, SLOT_B, World

OUTPUTS = {
    "ArtifactBucketName": BUCKET,
    "ApplicationName": APP,
    "DeploymentGroupName": GROUP,
    "SlotAName": SLOT_A,
    "SlotBName": SLOT_B,
    "FleetMinSize": "1",
    "FleetDesiredSize": "3",
    "FleetMaxSize": "6",
}


def _stack(world: World, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"M": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "marker"}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    world.cloudformation.create_stack(StackName="S", TemplateBody=json.dumps(template))


def test_targets_come_from_the_stack_outputs(world: World) -> None:
    _stack(world, OUTPUTS)
    targets = resolve_targets(TargetOverrides(stack_name="S"), cloudformation=world.cloudformation)
    assert (targets.bucket, targets.slots, targets.fleet) == (BUCKET, (SLOT_A, SLOT_B), FleetSize(1, 3, 6))


def test_an_explicit_value_overrides_one_output(world: World) -> None:
    _stack(world, OUTPUTS)
    targets = resolve_targets(TargetOverrides(stack_name="S", bucket="other"), cloudformation=world.cloudformation)
    assert targets.bucket == "other" and targets.application == APP


def test_a_missing_output_names_the_flag_to_give(world: World) -> None:
    _stack(world, {k: v for k, v in OUTPUTS.items() if k != "DeploymentGroupName"})
    with pytest.raises(TargetsError, match="--deployment-group"):
        resolve_targets(TargetOverrides(stack_name="S"), cloudformation=world.cloudformation)


def test_the_fleet_falls_back_to_the_configured_default(world: World) -> None:
    overrides = TargetOverrides(bucket="b", application="a", deployment_group="g", slots=("x", "y"))
    targets = resolve_targets(overrides, cloudformation=None, default_fleet=FleetSize(1, 2, 4))
    assert targets.fleet == FleetSize(1, 2, 4)


def test_an_impossible_fleet_size_is_refused() -> None:
    with pytest.raises(TargetsError, match="fleet size"):
        fleet_size(3, 2, 4)


def test_an_impossible_fleet_size_names_the_flags_to_fix() -> None:
    with pytest.raises(TargetsError) as caught:
        fleet_size(1, 0, 4)
    assert "--fleet-desired" in caught.value.hint


def test_the_release_tool_reads_every_output_the_stack_declares_and_no_other() -> None:
    # The stack's test compares its template's outputs with bluegreen.outputs.ALL; this closes the loop on the reader.
    assert set(OUTPUTS_READ) == set(outputs.ALL) | set(outputs.PREVIEW)
    assert len(OUTPUTS_READ) == len(set(OUTPUTS_READ))


def test_the_description_names_the_bitbucket_commit_branch_and_build() -> None:
    ci = CiContext.from_env({"BITBUCKET_COMMIT": "f" * 40, "BITBUCKET_BRANCH": "main", "BITBUCKET_BUILD_NUMBER": "7"})
    text = build_description(ci)
    assert "commit ffffffffffff branch main build 7" in text


def test_the_description_never_exceeds_256_characters() -> None:
    assert len(build_description(CiContext.from_env({"GITHUB_REF_NAME": "b" * 400}))) <= 256
    assert len(build_description(CiContext(), "x" * 300)) == 256


def _group(config: str = "CodeDeployDefault.OneAtATime") -> GroupInfo:
    return GroupInfo(APP, GROUP, (SLOT_A,), config, "CONTINUE_DEPLOYMENT", 0, "KEEP_ALIVE", 0, None, None)


def test_the_default_timeout_adds_up_hooks_traffic_steps_and_margin_per_batch() -> None:
    # Given 2 instances one at a time, 60 s of green hooks, 0 s of blue hooks, health 5 s x 2 and a 30 s delay
    traffic = TrafficTiming(interval_seconds=5, healthy_threshold=2, deregistration_delay_seconds=30)
    seconds = default_timeout_seconds(
        _group(), green_instances=2, blue_instances=2, green_hook_seconds=60, blue_hook_seconds=0, traffic=traffic
    )
    # Then: 2 x (60 + 120 + 15) + 2 x (15 + 30) + 300
    assert seconds == 2 * (60 + 120 + 15) + 2 * 45 + 300


def test_all_at_once_counts_a_single_batch() -> None:
    traffic = TrafficTiming(5, 2, 30)
    one = default_timeout_seconds(
        _group("CodeDeployDefault.AllAtOnce"),
        green_instances=4,
        blue_instances=4,
        green_hook_seconds=60,
        blue_hook_seconds=0,
        traffic=traffic,
    )
    assert one == (60 + 120 + 15) + 45 + 300


def test_a_missing_region_stops_before_any_client_is_built(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no region anywhere: no flag, no AWS_REGION/AWS_DEFAULT_REGION, a profile config without one
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    # Where the SDK alone would send S3 to us-east-1 (F73) and refuse the regional services
    assert boto3.Session().client("s3").meta.region_name == "us-east-1"
    # When any AWS command runs, Then it exits 2 with the fix, before a client exists
    assert cli.main(["status"], env={}) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "no AWS region is configured" in err and "AWS_REGION" in err


def test_a_region_from_the_environment_is_used() -> None:
    # Given AWS_REGION (the autouse fixture sets eu-west-1), Then the clients call that region
    clients = cli.build_clients(cli.AwsSettings(None, None, "standard", 3))
    assert clients.s3.meta.region_name == "eu-west-1"
    assert clients.codedeploy.meta.region_name == "eu-west-1"


def test_require_region_refuses_none_and_keeps_a_given_region() -> None:
    assert require_region("eu-central-1") == "eu-central-1"
    with pytest.raises(TargetsError, match="no AWS region"):
        require_region(None)
