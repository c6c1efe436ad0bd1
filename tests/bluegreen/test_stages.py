"""Stages from cdk.json (bluegreen.stages): one stack per stage, validated with the stage and the key named."""

from __future__ import annotations

import pytest

from bluegreen.config import ConfigError, load_config
from bluegreen.stages import find_stage, load_stages

CERTIFICATE_EU = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def three_stages() -> list[dict]:
    return [
        {"name": "staging", "account": "111111111111", "region": "eu-west-1"},
        {"name": "production", "account": "222222222222", "region": "eu-west-1", "fleetMaxSize": 6},
        {"name": "production-us", "account": "222222222222", "region": "us-east-1", "instanceType": "t3.small"},
    ]


def test_a_project_without_stages_has_none_and_its_one_stack_keeps_its_name() -> None:
    assert load_stages({"fleetMaxSize": 3}) is None
    assert load_config({"fleetMaxSize": 3}).stack_name == "BlueGreenApp"


def test_each_stage_gets_its_own_stack_name_region_and_account() -> None:
    stages = load_stages({"stages": three_stages()})
    assert stages is not None
    assert [(s.name, s.stack_name, s.region, s.account) for s in stages] == [
        ("staging", "BlueGreenApp-staging", "eu-west-1", "111111111111"),
        ("production", "BlueGreenApp-production", "eu-west-1", "222222222222"),
        ("production-us", "BlueGreenApp-production-us", "us-east-1", "222222222222"),
    ]


def test_a_stage_overrides_only_the_settings_it_names_and_inherits_the_rest() -> None:
    # Given a project-wide fleet and instance type, and stages that override one each
    stages = load_stages({"fleetDesiredSize": 2, "instanceType": "t3.micro", "stages": three_stages()})
    assert stages is not None
    staging, production, production_us = stages
    # Then each stage has the project's values except the one it overrides
    assert (staging.config.fleet.maximum, staging.config.instance_type) == (4, "t3.micro")
    assert (production.config.fleet.maximum, production.config.instance_type) == (6, "t3.micro")
    assert (production_us.config.fleet.maximum, production_us.config.instance_type) == (4, "t3.small")
    assert {s.config.fleet.desired for s in stages} == {2}


def test_the_mapping_shape_declares_the_same_stages_as_the_list_shape() -> None:
    as_mapping = {entry.pop("name"): entry for entry in three_stages()}
    assert load_stages({"stages": as_mapping}) == load_stages({"stages": three_stages()})


def test_stages_given_on_the_command_line_as_json_text_are_read() -> None:
    stages = load_stages({"stages": '{"qa": {"region": "eu-central-1"}}'})
    assert stages is not None
    assert (stages[0].stack_name, stages[0].region, stages[0].account) == ("BlueGreenApp-qa", "eu-central-1", None)


def test_the_stage_stacks_are_named_after_the_projects_stack_name() -> None:
    stages = load_stages({"stackName": "Shop", "stages": {"staging": {"region": "eu-west-1"}}})
    assert stages is not None
    assert stages[0].stack_name == "Shop-staging"


def test_a_misspelt_setting_in_a_stage_is_refused_naming_the_stage_and_the_nearest_setting() -> None:
    stages = three_stages()
    stages[1]["fleetMaxsize"] = 6
    with pytest.raises(
        ConfigError, match=r"stage 'production': key 'fleetMaxsize' is not a setting; did you mean fleetMaxSize\?"
    ):
        load_stages({"stages": stages})


def test_a_misspelt_stage_field_gets_the_field_suggested() -> None:
    with pytest.raises(ConfigError, match=r"stage 'qa': key 'regoin' is not a setting; did you mean region\?"):
        load_stages({"stages": [{"name": "qa", "regoin": "eu-west-1", "region": "eu-west-1"}]})


def test_a_bad_value_in_a_stage_names_the_stage_and_the_key() -> None:
    stages = three_stages()
    stages[2]["healthCheckTimeoutSeconds"] = 9
    with pytest.raises(ConfigError, match=r"^stage 'production-us': context key 'healthCheckTimeoutSeconds': 9"):
        load_stages({"stages": stages})


def test_a_certificate_from_another_region_than_its_stage_is_refused_naming_the_stage() -> None:
    stages = three_stages()
    stages[2]["certificateArn"] = CERTIFICATE_EU
    with pytest.raises(
        ConfigError, match=r"stage 'production-us': .*certificate is in eu-west-1, the stack in us-east-1"
    ):
        load_stages({"stages": stages})


def test_the_stack_name_is_the_projects_not_a_stages() -> None:
    with pytest.raises(ConfigError, match=r"stage 'staging': key 'stackName' belongs to the project"):
        load_stages({"stages": {"staging": {"region": "eu-west-1", "stackName": "Other"}}})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "qa"}, r"stage 'qa': 'region' is None"),
        ({"name": "qa", "region": "Ireland"}, r"stage 'qa': 'region' is 'Ireland'"),
        ({"name": "qa", "region": "eu-west-1", "account": 111111111111}, r"stage 'qa': 'account' is 111111111111"),
        ({"name": "qa", "region": "eu-west-1", "account": "1234"}, r"stage 'qa': 'account' is '1234'"),
        ({"name": "q a", "region": "eu-west-1"}, r"stage 'q a': 'name' must be letters, digits"),
        ({"region": "eu-west-1"}, r"stage 1: 'name' must be"),
    ],
)
def test_a_stage_without_a_valid_region_account_or_name_is_refused(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_stages({"stages": [entry]})


def test_two_stages_with_one_name_are_refused_since_their_stacks_would_collide() -> None:
    with pytest.raises(ConfigError, match=r"stage 'qa' is declared twice"):
        load_stages({"stages": [{"name": "qa", "region": "eu-west-1"}, {"name": "qa", "region": "us-east-1"}]})


def test_a_stage_name_too_long_for_the_deployment_group_names_is_refused_naming_the_stage() -> None:
    with pytest.raises(ConfigError, match=r"stage 'a{80}': context key 'stackName': .* has 93 characters"):
        load_stages({"stages": [{"name": "a" * 80, "region": "eu-west-1"}]})


def test_an_empty_list_of_stages_is_refused() -> None:
    with pytest.raises(ConfigError, match="'stages' is empty"):
        load_stages({"stages": []})


def test_a_stage_is_found_by_name_and_an_unknown_name_gets_the_nearest_suggested() -> None:
    stages = load_stages({"stages": three_stages()})
    assert find_stage(stages, "production-us").region == "us-east-1"
    with pytest.raises(ConfigError, match=r"stage 'producton' is not declared; declared: .*did you mean production\?"):
        find_stage(stages, "producton")
    with pytest.raises(ConfigError, match=r"cdk\.json declares no stages"):
        find_stage(None, "staging")


@pytest.mark.parametrize(
    "stages",
    [
        [{"name": "Prod", "region": "eu-west-1"}, {"name": "prod", "region": "us-east-1"}],
        {"staging": {"region": "eu-west-1"}, "STAGING": {"region": "eu-west-1"}},
    ],
)
def test_two_stage_names_that_differ_only_in_case_are_refused(stages: list[dict] | dict) -> None:
    # Given two stages whose names differ only in case (one report directory on a case-insensitive file system)
    # Then the stages are refused, both names given
    with pytest.raises(ConfigError, match="differ only in case") as raised:
        load_stages({"stages": stages})
    first, second = (list(stages) if isinstance(stages, dict) else [entry["name"] for entry in stages])[:2]
    assert repr(first) in str(raised.value) and repr(second) in str(raised.value)
