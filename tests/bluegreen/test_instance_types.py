"""The image follows the instance type's architecture, decided offline from the name (EC2 naming conventions)."""

from __future__ import annotations

import pytest

from bluegreen.config import ConfigError, load_config
from bluegreen.instance_types import UnknownInstanceType, architecture


@pytest.mark.parametrize(
    "instance_type",
    ["t4g.small", "m7g.large", "c7gn.xlarge", "r6gd.2xlarge", "im4gn.large", "is4gen.medium", "g5g.xlarge", "a1.large"],
)
def test_a_graviton_type_is_arm64(instance_type: str) -> None:
    assert architecture(instance_type) == "arm64"


@pytest.mark.parametrize(
    "instance_type",
    ["t3.micro", "t3a.small", "m7i-flex.large", "c6in.xlarge", "g4dn.xlarge", "gr6.4xlarge", "p5en.48xlarge"],
)
def test_an_intel_or_amd_type_is_x86_64(instance_type: str) -> None:
    assert architecture(instance_type) == "x86_64"


@pytest.mark.parametrize("instance_type", ["mac2-m2.metal", "u-6tb1.metal", "u7i-12tb.224xlarge"])
def test_a_type_whose_name_cannot_tell_or_that_needs_dedicated_hosts_is_refused(instance_type: str) -> None:
    with pytest.raises(UnknownInstanceType):
        architecture(instance_type)


def test_the_setting_refuses_a_type_whose_architecture_is_unknown_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'instanceType'.*architecture is unknown"):
        load_config({"instanceType": "u-6tb1.metal"})


def test_the_setting_accepts_a_graviton_type() -> None:
    assert load_config({"instanceType": "t4g.small"}).instance_type == "t4g.small"
