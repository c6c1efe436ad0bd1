"""The image follows the instance type's architecture, decided offline from the name (EC2 naming conventions), and the
name must be one botocore's EC2 model lists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bluegreen.config import ConfigError, check_instance_type, load_config
from bluegreen.instance_types import UnknownInstanceType, architecture, listed_instance_types


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


# -- the name is one botocore's EC2 model lists (docs/decisions.md F66) ------------------------------------------------


def test_a_misspelt_instance_type_is_refused_suggesting_the_listed_one() -> None:
    # Given a typo that still follows the naming convention (so its architecture alone would pass)
    config = load_config({"instanceType": "t3.mirco"})
    # When synth checks it against the EC2 model botocore ships
    with pytest.raises(
        ConfigError, match=r"'instanceType': 't3.mirco' is not an EC2 instance type .*did you mean t3\.micro\?"
    ):
        check_instance_type(config)


def test_the_default_and_a_graviton_type_are_listed() -> None:
    check_instance_type(load_config({}))
    check_instance_type(load_config({"instanceType": "m7g.large"}))


def test_a_type_newer_than_botocore_passes_with_the_escape_hatch_and_its_architecture_still_decides_the_image() -> None:
    # Given a name botocore does not list (a future generation) and the operator's acknowledgement
    config = load_config({"instanceType": "m99g.large", "allowUnlistedInstanceType": "true"})
    # Then synth accepts it, and the name's architecture rule still applies
    check_instance_type(config)
    assert architecture(config.instance_type) == "arm64"


def test_without_the_escape_hatch_the_message_says_how_to_accept_a_newer_type() -> None:
    with pytest.raises(ConfigError, match="upgrade boto3/botocore, or set allowUnlistedInstanceType to true"):
        check_instance_type(load_config({"instanceType": "m99g.large"}))


def test_the_escape_hatch_does_not_admit_a_name_whose_architecture_is_unknown() -> None:
    with pytest.raises(ConfigError, match="architecture is unknown"):
        load_config({"instanceType": "zz.large", "allowUnlistedInstanceType": True})


def test_the_list_is_botocores_ec2_model_enum() -> None:
    import botocore.session

    # Given the shape the EC2 API validates RunInstances' and CreateLaunchTemplate's InstanceType against
    enum = botocore.session.get_session().get_service_model("ec2").shape_for("InstanceType").enum
    # Then the check knows exactly those names
    assert listed_instance_types()[1] == tuple(enum)
    assert "t3.micro" in enum


def test_importing_the_settings_loads_no_sdk() -> None:
    # The release tool's and the Lambdas' imports of bluegreen stay cheap: botocore loads on the check only.
    code = (
        "import sys, bluegreen.config\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'aws_cdk')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
