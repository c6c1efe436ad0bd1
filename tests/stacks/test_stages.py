"""Stages synthesize one stack per stage, each in its own account and region; a project without stages is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from app import build_stages
from bluegreen import outputs
from bluegreen.config import CDK_JSON
from bluegreen.stages import load_stages
from stacks.blue_green_stack import BlueGreenStack
from tests.stacks.conftest import Synthesized
from tests.stacks.test_app import run_app

pytestmark = pytest.mark.slow

CERTIFICATE_EU = "arn:aws:acm:eu-west-1:222222222222:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
# Two accounts, two regions: staging alone in one account; production in two regions of the other.
STAGES = [
    {"name": "staging", "account": "111111111111", "region": "eu-west-1", "fleetMaxSize": 2, "fleetDesiredSize": 1},
    {
        "name": "production",
        "account": "222222222222",
        "region": "eu-west-1",
        "fleetMaxSize": 6,
        "fleetDesiredSize": 3,
        "instanceType": "t3.small",
        "certificateArn": CERTIFICATE_EU,
    },
    {"name": "production-us", "account": "222222222222", "region": "us-east-1", "fleetMaxSize": 6},
]


def cdk_json_context() -> dict:
    return json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[BlueGreenStack, Template]]:
    """The three stages synthesized in one app, as `cdk synth` does with `stages` in cdk.json."""
    context = {**cdk_json_context(), "stages": STAGES}
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("stages")), context=context)
    stages = load_stages(context)
    assert stages is not None
    stacks = build_stages(app, stages, {})
    return {stack.stack_name: (stack, Template.from_stack(stack)) for stack in stacks}


def output(template: Template, key: str) -> object:
    return template.to_json()["Outputs"][key]["Value"]


def test_every_stage_has_its_own_stack_in_its_own_account_and_region(staged: dict) -> None:
    environments = {name: (stack.account, stack.region) for name, (stack, _) in staged.items()}
    assert environments == {
        "BlueGreenApp-staging": ("111111111111", "eu-west-1"),
        "BlueGreenApp-production": ("222222222222", "eu-west-1"),
        "BlueGreenApp-production-us": ("222222222222", "us-east-1"),
    }


@pytest.mark.parametrize(
    ("stack_name", "fleet"),
    [
        ("BlueGreenApp-staging", (1, 1, 2)),
        ("BlueGreenApp-production", (1, 3, 6)),
        ("BlueGreenApp-production-us", (1, 2, 6)),
    ],
)
def test_each_stage_declares_its_own_fleet_size_to_the_release_tool(
    staged: dict, stack_name: str, fleet: tuple[int, int, int]
) -> None:
    _, template = staged[stack_name]
    assert tuple(int(str(output(template, key))) for key in outputs.FLEET) == fleet
    # And both slots may grow to the stage's maximum
    template.resource_properties_count_is("AWS::AutoScaling::AutoScalingGroup", {"MaxSize": str(fleet[2])}, 2)


@pytest.mark.parametrize(
    "stack_name", ["BlueGreenApp-staging", "BlueGreenApp-production", "BlueGreenApp-production-us"]
)
def test_each_stages_deployment_groups_carry_its_stack_name(staged: dict, stack_name: str) -> None:
    _, template = staged[stack_name]
    for resource_type, suffix in (
        ("Custom::BlueGreenDeploymentGroup", "-blue-green"),
        ("Custom::BootstrapDeploymentGroup", "-bootstrap"),
    ):
        template.has_resource_properties(resource_type, Match.object_like({"DeploymentGroupName": stack_name + suffix}))


def test_only_the_stage_that_overrides_the_instance_type_launches_it(staged: dict) -> None:
    types = {
        name: {
            resource["Properties"]["LaunchTemplateData"]["InstanceType"]
            for resource in template.find_resources("AWS::EC2::LaunchTemplate").values()
        }
        for name, (_, template) in staged.items()
    }
    assert types == {
        "BlueGreenApp-staging": {"t3.micro"},
        "BlueGreenApp-production": {"t3.small"},
        "BlueGreenApp-production-us": {"t3.micro"},
    }


def test_only_the_stage_with_a_certificate_serves_https(staged: dict) -> None:
    https = {
        name: bool(template.find_resources("AWS::ElasticLoadBalancingV2::Listener", {"Properties": {"Port": 443}}))
        for name, (_, template) in staged.items()
    }
    assert https == {
        "BlueGreenApp-staging": False,
        "BlueGreenApp-production": True,
        "BlueGreenApp-production-us": False,
    }


def test_no_stage_exports_an_output_so_stages_can_share_an_account_and_region(staged: dict) -> None:
    for _, template in staged.values():
        assert all("Export" not in value for value in template.to_json()["Outputs"].values())


def test_a_project_without_stages_synthesizes_the_same_single_stack_as_before(
    tmp_path: Path, default_stack: Synthesized
) -> None:
    # Given the project's cdk.json with no stages, synthesized by app.py as `cdk synth` runs it
    result = run_app(tmp_path, cdk_json_context(), region="eu-west-1")
    assert result.returncode == 0, result.stderr
    # Then there is one stack, still named BlueGreenApp
    assert sorted(path.name for path in tmp_path.glob("*.template.json")) == ["BlueGreenApp.template.json"]
    # And its template is the one the stack builder makes on its own: same logical ids, same resources
    synthesized = json.loads((tmp_path / "BlueGreenApp.template.json").read_text(encoding="utf-8"))
    expected = default_stack.template.to_json()
    assert sorted(synthesized["Resources"]) == sorted(expected["Resources"])
    differing = sorted(key for key, value in synthesized["Resources"].items() if value != expected["Resources"][key])
    assert differing == []
    assert synthesized == expected


def test_a_misspelt_setting_in_a_stage_stops_synth_with_exit_2_naming_the_stage(tmp_path: Path) -> None:
    stages = [{"name": "staging", "region": "eu-west-1", "fleetMaxsize": 2}]
    result = run_app(tmp_path, {"stages": stages}, region=None)
    assert result.returncode == 2
    assert "stage 'staging': key 'fleetMaxsize' is not a setting; did you mean fleetMaxSize?" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_stages_synthesize_without_a_region_in_the_environment(tmp_path: Path) -> None:
    # Given one stage and no AWS region anywhere in the environment
    result = run_app(tmp_path, {**cdk_json_context(), "stages": {"qa": {"region": "eu-central-1"}}}, region=None)
    # Then the stage's own region is enough
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["artifacts"]["BlueGreenApp-qa"]["environment"] == "aws://unknown-account/eu-central-1"
