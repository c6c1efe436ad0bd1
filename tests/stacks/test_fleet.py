"""The Fleet construct's agent readiness, in a minimal stack of its own: launch hooks, their policy, the user data."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Capture, Match, Template

from bluegreen.config import USER_DATA_MAX_BYTES, ConfigError, MachineImage, UserDataFragment
from stacks.fleet import AGENT_READY_HOOK, Fleet
from tests.stacks.nag_audit import unacknowledged

pytestmark = pytest.mark.slow

CFN_LINT_CONFIG = Path(__file__).resolve().parents[2] / ".cfnlintrc.yaml"


@dataclass
class Synth:
    stack: Stack
    template: Template
    fleet: Fleet
    slot_ids: list[str]
    template_path: Path


def build(**overrides: Any) -> tuple[Stack, Fleet]:
    app = App()
    stack = Stack(app, "FleetTest", env={"account": "123456789012", "region": "eu-west-1"})
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    bucket = s3.Bucket(stack, "Bucket")
    settings: dict[str, Any] = {
        "vpc": vpc,
        "instance_type": "t3.micro",
        "max_capacity": 4,
        "artifact_bucket": bucket,
        "agent_ready_timeout": Duration.seconds(900),
    }
    settings.update(overrides)
    fleet = Fleet(stack, "Fleet", **settings)
    return stack, fleet


def synthesize(tmp_path_factory: pytest.TempPathFactory, name: str, **overrides: Any) -> Synth:
    """A Fleet built with `overrides`, checked by cdk-nag's AwsSolutions pack, its template written for cfn-lint."""
    stack, fleet = build(**overrides)
    template = Template.from_stack(stack)
    path = tmp_path_factory.mktemp(name) / "fleet.template.json"
    path.write_text(json.dumps(template.to_json(), indent=1), encoding="utf-8")
    return Synth(
        stack=stack,
        template=template,
        fleet=fleet,
        slot_ids=[stack.get_logical_id(slot.node.default_child) for slot in fleet.slots],
        template_path=path,
    )


def bash_syntax_errors(script: str, tmp_path: Path) -> str:
    """What `bash -n` says about `script` (empty when it parses)."""
    path = tmp_path / "user-data.sh"
    path.write_text(script, encoding="utf-8")
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    return result.stderr if result.returncode else ""


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory, "fleet")


def launch_hooks(synth: Synth) -> dict[str, Any]:
    return synth.template.find_resources(
        "AWS::AutoScaling::LifecycleHook", {"Properties": {"LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"}}
    )


def rendered_user_data(synth: Synth) -> str:
    user_data = Capture()
    synth.template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"UserData": {"Fn::Base64": user_data}})},
    )
    pseudo = {"AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com"}
    parts = user_data.as_object()["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else pseudo[part["Ref"]] for part in parts)


def test_each_slot_gets_an_agent_ready_launch_hook_that_defaults_to_abandon(synth: Synth) -> None:
    # Given the synthesized fleet, Then both slots hold the launch hook: ABANDON (replace) when the heartbeat runs out
    hooks = launch_hooks(synth)
    assert sorted(hook["Properties"]["AutoScalingGroupName"]["Ref"] for hook in hooks.values()) == sorted(
        synth.slot_ids
    )
    for hook in hooks.values():
        assert {key: value for key, value in hook["Properties"].items() if key != "AutoScalingGroupName"} == {
            "LifecycleHookName": AGENT_READY_HOOK,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "DefaultResult": "ABANDON",
            "HeartbeatTimeout": 900,
        }


def test_the_hooks_exist_only_once_instances_may_complete_them(synth: Synth) -> None:
    policy_id = synth.stack.get_logical_id(synth.fleet.agent_ready_policy.node.default_child)
    for hook in launch_hooks(synth).values():
        assert policy_id in hook["DependsOn"]


def test_the_instance_role_may_complete_lifecycle_actions_of_the_two_slots_only(synth: Synth) -> None:
    # Given the synthesized fleet, Then the agent-ready policy holds exactly these two statements
    role_id = synth.stack.get_logical_id(synth.fleet.role.node.default_child)
    policy_id = synth.stack.get_logical_id(synth.fleet.agent_ready_policy.node.default_child)
    policy = synth.template.to_json()["Resources"][policy_id]["Properties"]
    assert policy["Roles"] == [{"Ref": role_id}]

    def group_arn(slot_id: str) -> dict[str, Any]:
        return {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/",
                    {"Ref": slot_id},
                ],
            ]
        }

    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "CompleteAgentReadyHook",
            "Action": "autoscaling:CompleteLifecycleAction",
            "Effect": "Allow",
            "Resource": [group_arn(slot_id) for slot_id in synth.slot_ids],
        },
        {
            "Sid": "FindOwnGroup",
            "Action": "autoscaling:DescribeAutoScalingInstances",
            "Effect": "Allow",
            "Resource": "*",
        },
    ]


def test_user_data_completes_the_hook_once_the_agent_runs_and_abandons_on_failure(synth: Synth) -> None:
    script = rendered_user_data(synth)
    assert f"AGENT_READY_HOOK={AGENT_READY_HOOK}\n" in script
    assert '--lifecycle-hook-name "$AGENT_READY_HOOK"' in script
    assert "trap 'on_error $LINENO' ERR" in script
    assert "complete_agent_ready_hook ABANDON || true" in script
    # CONTINUE comes last, after the agent is known to run
    assert script.rstrip().endswith("complete_agent_ready_hook CONTINUE")
    assert script.index("systemctl is-active --quiet codedeploy-agent") < script.index(
        "complete_agent_ready_hook CONTINUE"
    )


def test_user_data_is_valid_bash(synth: Synth, tmp_path: Path) -> None:
    assert bash_syntax_errors(rendered_user_data(synth), tmp_path) == ""


def test_the_template_has_no_dependency_cycle_and_passes_cfn_lint(synth: Synth) -> None:
    # A statement naming the slots inside the role's default policy would make a cycle (launch template -> role ->
    # policy -> slots -> launch template); cfn-lint reports cycles (E3004).
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(CFN_LINT_CONFIG),
            # The fixture's VPC, in a stack with a fixed account, gets CDK's placeholder zones (dummy1a, ...).
            "--ignore-checks",
            "W3010",
            "--",
            str(synth.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_fleet_has_no_unacknowledged_aws_solutions_findings(synth: Synth) -> None:
    # The construct's own resources only: the fixture around it (VPC, bucket) is not under test.
    assert unacknowledged(synth.fleet) == []


@pytest.mark.parametrize("seconds", [29, 7201])
def test_a_timeout_outside_auto_scalings_heartbeat_range_is_refused(seconds: int) -> None:
    with pytest.raises(ValueError, match="30-7200"):
        build(agent_ready_timeout=Duration.seconds(seconds))


# -- warm pools (issue 13; docs/performance.md, "Warm pools") ----------------------------------------------------------


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory, "warm", warm_pool_size=2)


def test_by_default_no_warm_pool_and_no_every_boot_hook_unit(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::AutoScaling::WarmPool", 0)
    assert "agent-ready-hook.service" not in rendered_user_data(synth)


def test_each_slot_keeps_a_pool_of_stopped_instances_that_scale_in_never_refills(warm: Synth) -> None:
    pools = warm.template.find_resources("AWS::AutoScaling::WarmPool")
    assert sorted(pool["Properties"]["AutoScalingGroupName"]["Ref"] for pool in pools.values()) == sorted(warm.slot_ids)
    for pool in pools.values():
        assert {key: value for key, value in pool["Properties"].items() if key != "AutoScalingGroupName"} == {
            "MinSize": 2,
            "MaxGroupPreparedCapacity": 2,
            "PoolState": "Stopped",
            "InstanceReusePolicy": {"ReuseOnScaleIn": False},
        }


def test_with_a_warm_pool_every_later_boot_completes_the_pending_hook(warm: Synth, tmp_path: Path) -> None:
    # Given the user data, which installs a boot-time script and unit before it completes the first hook
    script = rendered_user_data(warm)
    assert script.index("systemctl enable agent-ready-hook.service") < script.rindex("complete_agent_ready_hook")
    assert script.rstrip().endswith("complete_agent_ready_hook CONTINUE")
    # When the boot-time script is extracted
    boot = script.split("<<'AGENT_READY_SCRIPT'\n", 1)[1].split("\nAGENT_READY_SCRIPT\n", 1)[0]
    (tmp_path / "boot.sh").write_text(boot, encoding="utf-8")
    # Then it is valid bash that completes only a pending launch hook (entering or leaving the pool)
    result = subprocess.run(["bash", "-n", str(tmp_path / "boot.sh")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Pending:Wait | Warmed:Pending:Wait) ;;" in boot
    assert boot.rstrip().endswith("complete_agent_ready_hook CONTINUE")


def test_the_warm_pool_user_data_is_valid_bash(warm: Synth, tmp_path: Path) -> None:
    assert bash_syntax_errors(rendered_user_data(warm), tmp_path) == ""


def test_the_warm_pool_fleet_has_no_unacknowledged_aws_solutions_findings(warm: Synth) -> None:
    # The construct's own resources only: the fixture around it (VPC, bucket) is not under test.
    assert unacknowledged(warm.fleet) == []


def _package_install_step(script: str) -> str:
    start = script.index("for attempt in 1 2 3 4 5; do\n  dnf install")
    end = script.index("rpm -q ruby\n") + len("rpm -q ruby\n")
    return script[start:end]


@pytest.mark.parametrize(("failures", "expected_exit"), [(0, 0), (2, 0), (5, 9)])
def test_the_package_manager_is_retried_and_a_lasting_failure_trips_the_error_trap(
    synth: Synth, tmp_path: Path, failures: int, expected_exit: int
) -> None:
    # Given stand-ins for dnf (failing `failures` times, then installing) and rpm (true once ruby is installed)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dnf").write_text(
        "#!/bin/bash\n"
        f'count=$(cat "{tmp_path}/tries" 2>/dev/null || echo 0); echo $((count + 1)) > "{tmp_path}/tries"\n'
        f'[ "$count" -lt {failures} ] && exit 1\ntouch "{tmp_path}/ruby"\n'
    )
    (bin_dir / "rpm").write_text(f'#!/bin/bash\ntest -e "{tmp_path}/ruby"\n')
    for tool in ("dnf", "rpm"):
        (bin_dir / tool).chmod(0o755)
    step = tmp_path / "step.sh"
    step.write_text(
        "set -euo pipefail\ntrap 'exit 9' ERR\nsleep() { :; }\n" + _package_install_step(rendered_user_data(synth))
    )

    # When the user data's package step runs
    result = subprocess.run(
        ["bash", str(step)], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, check=False
    )

    # Then transient failures are retried, and five failures in a row end in the error trap (ABANDON)
    assert result.returncode == expected_exit, result.stderr
    assert int((tmp_path / "tries").read_text()) == min(failures + 1, 5)


# -- the image, the role's extra policies and the user-data fragment are settings (issue 16) ---------------------------

AMI = "ami-0123456789abcdef0"
CUSTOMER_POLICY = "arn:aws:iam::123456789012:policy/team/ReadParameters"
FRAGMENT = UserDataFragment(path="boot/extra.sh", text='echo fragment-ran > "$MARKER"\n')


@pytest.fixture(scope="module")
def customized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory,
        "customized",
        machine_image=MachineImage(amis=(("eu-west-1", AMI), ("us-east-1", "ami-12345678"))),
        managed_policies=("CloudWatchAgentServerPolicy", CUSTOMER_POLICY),
        user_data_fragment=FRAGMENT,
    )


def test_the_launch_template_uses_the_ami_given_for_the_stacks_region(customized: Synth) -> None:
    customized.template.has_resource_properties(
        "AWS::EC2::LaunchTemplate", {"LaunchTemplateData": Match.object_like({"ImageId": AMI})}
    )


def test_an_image_from_an_ssm_parameter_is_resolved_by_cloudformation_at_deploy() -> None:
    # Given the operator's own parameter holding the AMI id
    stack, _ = build(machine_image=MachineImage(ssm_parameter="/golden/al2023/x86_64"))
    template = Template.from_stack(stack)
    # Then the template declares it as an SSM-typed parameter (CloudFormation reads it on every deploy, no synth
    # lookup), and the launch template's image is that parameter
    parameters = template.find_parameters(
        "*", {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": "/golden/al2023/x86_64"}
    )
    (name,) = parameters
    template.has_resource_properties(
        "AWS::EC2::LaunchTemplate", {"LaunchTemplateData": Match.object_like({"ImageId": {"Ref": name}})}
    )


def test_the_instance_role_holds_the_chosen_policies_beside_its_own(customized: Synth) -> None:
    def aws_managed(name: str) -> dict[str, Any]:
        return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::aws:policy/{name}"]]}

    role = customized.stack.get_logical_id(customized.fleet.role.node.default_child)  # type: ignore[arg-type]
    arns = customized.template.to_json()["Resources"][role]["Properties"]["ManagedPolicyArns"]
    assert arns == [
        aws_managed("AmazonSSMManagedInstanceCore"),
        aws_managed("CloudWatchAgentServerPolicy"),
        CUSTOMER_POLICY,
    ]


def test_the_fragment_runs_after_the_agent_install_and_before_the_instance_may_go_in_service(customized: Synth) -> None:
    script = rendered_user_data(customized)
    fragment = script.index(FRAGMENT.text)
    assert (
        script.index('echo "CodeDeploy agent running"') < fragment < script.index("complete_agent_ready_hook CONTINUE")
    )
    assert script[:fragment].endswith("# --- userDataFile: boot/extra.sh ---\ncd /\n")


def _run_from_fragment(script: str, fragment_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The user data from the fragment on, in the shell state the install leaves: strict mode, the ERR trap, and a
    # stand-in for the hook completion that records the result instead of calling Auto Scaling.
    tail = script[script.index("# --- userDataFile:") :].replace(FRAGMENT.text, fragment_text)
    step = tmp_path / "tail.sh"
    step.write_text(
        "set -euo pipefail\n"
        f'complete_agent_ready_hook() {{ echo "$1" >> "{tmp_path}/hook"; }}\n'
        "trap 'complete_agent_ready_hook ABANDON; exit 9' ERR\n" + tail,
        encoding="utf-8",
    )
    env = {"PATH": "/usr/bin:/bin", "MARKER": str(tmp_path / "marker")}
    return subprocess.run(["bash", str(step)], env=env, capture_output=True, text=True, check=False)


def test_a_fragment_that_succeeds_lets_the_hook_complete_with_continue(customized: Synth, tmp_path: Path) -> None:
    result = _run_from_fragment(rendered_user_data(customized), FRAGMENT.text, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "marker").read_text() == "fragment-ran\n"
    assert (tmp_path / "hook").read_text() == "CONTINUE\n"


def test_a_fragment_that_fails_abandons_the_instance_instead(customized: Synth, tmp_path: Path) -> None:
    # Given a fragment whose second command fails
    result = _run_from_fragment(rendered_user_data(customized), 'echo one > "$MARKER"\nfalse\necho two\n', tmp_path)
    # Then the error trap completes the hook with ABANDON and CONTINUE is never sent
    assert result.returncode == 9
    assert (tmp_path / "hook").read_text() == "ABANDON\n"


def test_the_user_data_with_a_fragment_is_valid_bash(customized: Synth, tmp_path: Path) -> None:
    assert bash_syntax_errors(rendered_user_data(customized), tmp_path) == ""


def test_the_chosen_aws_managed_policy_is_acknowledged_for_cdk_nag_and_nothing_else_is_found(customized: Synth) -> None:
    assert unacknowledged(customized.fleet) == []


def test_a_fragment_that_would_push_the_user_data_past_16_kb_is_refused() -> None:
    # Given a fragment that fits on its own but not beside the agent install
    big = UserDataFragment(path="big.sh", text="#" * (USER_DATA_MAX_BYTES - 1000) + "\n")
    # Then the stack refuses it, naming the setting
    with pytest.raises(
        ConfigError,
        match=rf"'userDataFile': the user data would have \d+ bytes with it; EC2 allows {USER_DATA_MAX_BYTES}",
    ):
        build(user_data_fragment=big)
