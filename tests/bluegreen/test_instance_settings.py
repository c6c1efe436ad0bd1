"""The slots' image, the instance role's extra policies and the user-data fragment are settings, validated at load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bluegreen.config import (
    USER_DATA_MAX_BYTES,
    ConfigError,
    MachineImage,
    UserDataFragment,
    check_region,
    load_config,
)

AL2023_ARM = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"


# -- machineImage ------------------------------------------------------------------------------------------------------


def test_by_default_the_image_is_left_to_the_stack() -> None:
    assert load_config({}).machine_image is None


def test_an_ssm_parameter_name_is_kept_for_cloudformation_to_resolve() -> None:
    assert load_config({"machineImage": AL2023_ARM}).machine_image == MachineImage(ssm_parameter=AL2023_ARM)


def test_ami_ids_per_region_are_accepted_from_cdk_json_or_as_json_text_from_the_command_line() -> None:
    amis = {"eu-west-1": "ami-0123456789abcdef0", "us-east-1": "ami-12345678"}
    from_file = load_config({"machineImage": amis}).machine_image
    from_flag = load_config({"machineImage": '{"eu-west-1": "ami-0123456789abcdef0", "us-east-1": "ami-12345678"}'})
    assert from_file == from_flag.machine_image
    assert from_file is not None
    assert from_file.ami_for("us-east-1") == "ami-12345678"


def test_a_bare_ami_id_is_refused_because_it_belongs_to_one_region() -> None:
    with pytest.raises(ConfigError, match=r"'machineImage'.*belongs to one region.*\{\"<region>\": \"ami-12345678\"\}"):
        load_config({"machineImage": "ami-12345678"})


@pytest.mark.parametrize(
    "value",
    [{"eu-west-1": "ami-xyz"}, {"Ireland": "ami-12345678"}, {}, ["ami-12345678"], "/has space", 42],
)
def test_a_malformed_image_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match="'machineImage"):
        load_config({"machineImage": value})


def test_a_per_region_image_without_the_stacks_region_is_refused_at_synth() -> None:
    config = load_config({"machineImage": {"us-east-1": "ami-12345678"}})
    with pytest.raises(ConfigError, match=r"no AMI for the stack's region eu-west-1 \(given for us-east-1\)"):
        check_region(config, "eu-west-1")
    check_region(config, "us-east-1")


# -- instanceRoleManagedPolicies ---------------------------------------------------------------------------------------


def test_policy_names_and_arns_are_accepted_from_a_list_or_a_comma_separated_flag() -> None:
    customer = "arn:aws:iam::123456789012:policy/team/ReadParameters"
    expected = ("CloudWatchAgentServerPolicy", "service-role/AmazonEC2RoleforSSM", customer)
    assert load_config({"instanceRoleManagedPolicies": list(expected)}).instance_role_managed_policies == expected
    flag = f"CloudWatchAgentServerPolicy, service-role/AmazonEC2RoleforSSM,{customer}"
    assert load_config({"instanceRoleManagedPolicies": flag}).instance_role_managed_policies == expected


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        (["arn:aws:s3:::bucket"], "neither a managed policy ARN"),
        (["has space"], "neither a managed policy ARN"),
        (["AmazonSSMManagedInstanceCore"], "attached to the instance role already"),
        (["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"], "attached to the instance role already"),
        (["CloudWatchAgentServerPolicy", "CloudWatchAgentServerPolicy"], "lists a policy twice"),
        ([f"Policy{n}" for n in range(20)], "a role holds at most 20 managed policies"),
        ({"name": "CloudWatchAgentServerPolicy"}, "must be a list"),
    ],
)
def test_a_policy_list_iam_would_refuse_is_refused_naming_the_key(policies: object, message: str) -> None:
    with pytest.raises(ConfigError, match=f"'instanceRoleManagedPolicies'.*{message}"):
        load_config({"instanceRoleManagedPolicies": policies})


def test_nineteen_policies_fit_beside_the_roles_own() -> None:
    policies = [f"Policy{n}" for n in range(19)]
    assert len(load_config({"instanceRoleManagedPolicies": policies}).instance_role_managed_policies) == 19


# -- userDataFile ------------------------------------------------------------------------------------------------------


def test_the_fragment_is_read_relative_to_the_project_directory(tmp_path: Path) -> None:
    # Given a fragment next to cdk.json, named relatively
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "extra.sh").write_text("dnf install -y htop", encoding="utf-8")
    # When the settings are loaded for that project
    config = load_config({"userDataFile": "boot/extra.sh"}, project_dir=tmp_path)
    # Then its text is kept, ending in a newline so the next command starts on its own line
    assert config.user_data_fragment == UserDataFragment(path="boot/extra.sh", text="dnf install -y htop\n")


def test_a_missing_fragment_is_refused_with_the_path_looked_at(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"'userDataFile': 'nope.sh' cannot be read \(.*{tmp_path}/nope.sh\)"):
        load_config({"userDataFile": "nope.sh"}, project_dir=tmp_path)


def test_a_directory_is_not_a_fragment(tmp_path: Path) -> None:
    (tmp_path / "boot").mkdir()
    with pytest.raises(ConfigError, match=r"'userDataFile'.*is not a regular file"):
        load_config({"userDataFile": "boot"}, project_dir=tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"  \n", "empty or not a shell script"), (b"\x00\x01", "empty or not a shell script"), (b"\xff\xfe", "UTF-8")],
)
def test_a_fragment_that_is_no_shell_text_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "f.sh").write_bytes(content)
    with pytest.raises(ConfigError, match=f"'userDataFile'.*{message}"):
        load_config({"userDataFile": "f.sh"}, project_dir=tmp_path)


def test_a_fragment_larger_than_ec2_user_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.sh").write_text("#" * (USER_DATA_MAX_BYTES + 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"'userDataFile'.*at most {USER_DATA_MAX_BYTES} bytes"):
        load_config({"userDataFile": "big.sh"}, project_dir=tmp_path)


@pytest.mark.parametrize("value", ["ami-123", "ami-0123456789abcdef", "ami-0123456789ABCDEF0"])
def test_a_mistyped_ami_id_is_refused_not_taken_for_an_ssm_parameter(value: str) -> None:
    # Given something that starts like an AMI id but has the wrong number (or case) of hex digits
    with pytest.raises(ConfigError, match=r"'machineImage': .* is not an AMI id; expected ami- followed by 8 or 17"):
        load_config({"machineImage": value})


def test_an_absolute_fragment_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.sh").write_text("true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'userDataFile': .* is absolute; give a path relative to cdk.json"):
        load_config({"userDataFile": str(tmp_path / "f.sh")}, project_dir=tmp_path)


def test_a_fragment_outside_the_project_is_refused_also_through_a_symlink(tmp_path: Path) -> None:
    # Given a project directory, a file beside it, and a symlink inside the project pointing at that file
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "secret.sh").write_text("echo secret\n", encoding="utf-8")
    (project / "link.sh").symlink_to(tmp_path / "secret.sh")
    # Then neither the ../ path nor the link is read into the template
    for name in ("../secret.sh", "link.sh"):
        with pytest.raises(ConfigError, match=r"'userDataFile': .* leads outside the project"):
            load_config({"userDataFile": name}, project_dir=project)


def test_a_device_is_refused_without_reading_it() -> None:
    # Given a fragment that is an endless character device (it once made synth read /dev/zero until out of memory)
    # Then it is refused as no regular file; project_dir "/" keeps the path inside the project
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_config({"userDataFile": "dev/zero"}, project_dir=Path("/"))


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_config({"userDataFile": "pipe"}, project_dir=tmp_path)


def test_a_huge_fragment_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    # Given a sparse 1 GiB file (no disk used)
    with (tmp_path / "huge.sh").open("wb") as handle:
        handle.truncate(1 << 30)
    # Then it is refused by size, having read at most the limit + 1 bytes
    with pytest.raises(ConfigError, match=f"more than {USER_DATA_MAX_BYTES} bytes"):
        load_config({"userDataFile": "huge.sh"}, project_dir=tmp_path)
