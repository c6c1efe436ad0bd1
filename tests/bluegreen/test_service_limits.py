"""Settings that CloudFormation or the service would reject only during a deployment are refused at synth."""

from __future__ import annotations

import pytest

from bluegreen.config import (
    DEPLOYMENT_GROUP_NAME_MAX,
    DEPLOYMENT_GROUP_SUFFIXES,
    STACK_NAME_MAX,
    ConfigError,
    check_region,
    load_config,
)

CERTIFICATE_IN_EU_WEST_1 = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def existing_vpc(zones: list[str]) -> dict[str, object]:
    return {
        "vpcId": "vpc-0123456789abcdef0",
        "availabilityZones": zones,
        "publicSubnetIds": [f"subnet-000000000000000a{index}" for index in range(len(zones))],
        "privateSubnetIds": [f"subnet-000000000000000b{index}" for index in range(len(zones))],
    }


def test_an_existing_vpc_with_one_availability_zone_is_refused_because_the_alb_needs_two() -> None:
    with pytest.raises(ConfigError, match=r"existingVpc\.availabilityZones.*at least 2 different availability zones"):
        load_config({"existingVpc": existing_vpc(["eu-west-1a"])})


def test_an_existing_vpc_naming_one_zone_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 2 different"):
        load_config({"existingVpc": existing_vpc(["eu-west-1a", "eu-west-1a"])})


def test_an_existing_vpc_with_two_zones_is_accepted() -> None:
    config = load_config({"existingVpc": existing_vpc(["eu-west-1a", "eu-west-1b"])})
    assert config.existing_vpc is not None


def test_the_longest_stack_name_keeps_both_deployment_group_names_within_codedeploys_limit() -> None:
    name = "S" * STACK_NAME_MAX
    assert load_config({"stackName": name}).stack_name == name
    assert max(len(name + suffix) for suffix in DEPLOYMENT_GROUP_SUFFIXES) == DEPLOYMENT_GROUP_NAME_MAX


def test_a_stack_name_one_longer_is_refused_naming_the_deployment_group_limit() -> None:
    with pytest.raises(ConfigError, match=f"'stackName'.*at most {STACK_NAME_MAX}.*CodeDeploy's 100"):
        load_config({"stackName": "S" * (STACK_NAME_MAX + 1)})


def test_a_certificate_from_another_region_is_refused() -> None:
    config = load_config({"certificateArn": CERTIFICATE_IN_EU_WEST_1})
    with pytest.raises(ConfigError, match="certificate is in eu-west-1, the stack in us-east-1"):
        check_region(config, "us-east-1")


def test_a_certificate_from_the_stacks_region_is_accepted() -> None:
    check_region(load_config({"certificateArn": CERTIFICATE_IN_EU_WEST_1}), "eu-west-1")


def test_no_certificate_is_valid_in_every_region() -> None:
    check_region(load_config({}), "ap-southeast-2")
