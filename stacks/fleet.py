"""The launch template and the two Auto Scaling groups ("slots") that take turns serving traffic."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from bluegreen.config import (
    AGENT_READY_TIMEOUT_RANGE,
    INSTANCE_ROLE_BASE_POLICY,
    USER_DATA_MAX_BYTES,
    ConfigError,
    MachineImage,
    UserDataFragment,
)
from bluegreen.instance_types import architecture
from stacks import nag

SLOT_IDS = ("SlotA", "SlotB")
# The Amazon Linux 2023 image for each architecture bluegreen.instance_types tells apart.
AL2023_CPU_TYPES = {"x86_64": ec2.AmazonLinuxCpuType.X86_64, "arm64": ec2.AmazonLinuxCpuType.ARM_64}
# The launch hook that keeps a new instance in Pending:Wait until its CodeDeploy agent runs. A fixed name: hook names
# are unique per Auto Scaling group only, and the user data must know it without a token (it is rendered into bash).
AGENT_READY_HOOK = "agent-ready"

# Agent readiness (issue 9 §4): both slots carry the launch hook AGENT_READY_HOOK (default result ABANDON), so an
# instance stays in Pending:Wait, and out of InService, until this script completes the hook with CONTINUE once the
# agent runs. Any failure completes it with ABANDON instead, and a hang lets the heartbeat run out: either way Auto
# Scaling terminates the instance and launches a replacement (docs/decisions.md F21). The group's name comes from
# DescribeAutoScalingInstances, the instance id and region from IMDSv2. `@HOOK@` is replaced by AGENT_READY_HOOK
# (str.format would trip over the shell's braces).
AGENT_READY_FUNCTIONS = """\
set -euo pipefail
AGENT_READY_HOOK=@HOOK@
imds() {
  local token
  token=$(curl -sSf --retry 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \\
    http://169.254.169.254/latest/api/token)
  curl -sSf --retry 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
complete_agent_ready_hook() {
  local result=$1 instance_id region group attempt
  instance_id=$(imds instance-id) || return 1
  region=$(imds placement/region) || return 1
  group=$(aws autoscaling describe-auto-scaling-instances --region "$region" --instance-ids "$instance_id" \\
    --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text) || return 1
  if [ -z "$group" ] || [ "$group" = None ]; then
    echo "FATAL: no Auto Scaling group knows instance $instance_id" | tee /dev/console >&2
    return 1
  fi
  for attempt in 1 2 3 4 5; do
    if aws autoscaling complete-lifecycle-action --region "$region" --auto-scaling-group-name "$group" \\
      --lifecycle-hook-name "$AGENT_READY_HOOK" --instance-id "$instance_id" --lifecycle-action-result "$result"; then
      echo "Lifecycle hook $AGENT_READY_HOOK of $group completed with $result" | tee /dev/console
      return 0
    fi
    sleep $((attempt * 5))
  done
  echo "FATAL: could not complete lifecycle hook $AGENT_READY_HOOK with $result" | tee /dev/console >&2
  return 1
}
on_error() {
  echo "FATAL: CodeDeploy agent installation failed at line $1" | tee /dev/console >&2
  complete_agent_ready_hook ABANDON || true
}
trap 'on_error $LINENO' ERR
""".replace("@HOOK@", AGENT_READY_HOOK)

# Installs the CodeDeploy agent from the stack region's own bucket (CodeDeploy guide, "Install the CodeDeploy agent
# for Amazon Linux or RHEL"). Any failure ends cloud-init with an error on the console and in cloud-init-output.log,
# so a broken image is visible instead of an instance that silently never deploys.
AGENT_INSTALL = """\
# A mirror or metadata hiccup must not cost the instance: retry the package manager (inside a loop a failing
# command does not trip the ERR trap), then let `rpm -q` fail loudly if ruby never arrived. curl ships with AL2023.
for attempt in 1 2 3 4 5; do
  dnf install -y ruby && break
  sleep $((attempt * 10))
done
rpm -q ruby
cd /tmp
curl -fsS --retry 5 --retry-connrefused -o codedeploy-install \\
  "https://aws-codedeploy-{region}.s3.{region}.{url_suffix}/latest/install"
chmod +x codedeploy-install
./codedeploy-install auto
systemctl enable --now codedeploy-agent
systemctl is-active --quiet codedeploy-agent
echo "CodeDeploy agent running" | tee /dev/console
"""
# Last: the agent runs, so the instance may go InService.
AGENT_READY_COMPLETE = "complete_agent_ready_hook CONTINUE\n"
# Before the operator's fragment (`userDataFile`): a known working directory (the agent install left /tmp). The
# fragment runs in the same bash as the install, under `set -euo pipefail` and the ERR trap: a failing command
# abandons the instance (Auto Scaling launches another) instead of letting a half-configured one go InService.
USER_DATA_FRAGMENT_HEADER = "# --- userDataFile: {path} ---\ncd /\n"

# With a warm pool (docs/performance.md, "Warm pools"), the launch hook runs twice: when the instance enters the pool
# (Warmed:Pending:Wait) and again when it leaves it (Pending:Wait), but cloud-init runs user data on the first boot
# only (Auto Scaling guide, "Use lifecycle hooks with a warm pool"). Without a second completion the hook would time
# out with ABANDON and every instance leaving the pool would be terminated. So the first boot also installs a systemd
# unit that, on every later boot, completes a pending agent-ready hook once the agent is active (ABANDON if it is not).
AGENT_READY_EVERY_BOOT = (
    """\
cat > /usr/local/sbin/agent-ready-hook <<'AGENT_READY_SCRIPT'
#!/bin/bash
"""
    + AGENT_READY_FUNCTIONS.replace("agent installation failed", "agent not ready after a restart")
    + """\
instance_id=$(imds instance-id)
region=$(imds placement/region)
state=$(aws autoscaling describe-auto-scaling-instances --region "$region" --instance-ids "$instance_id" \\
  --query 'AutoScalingInstances[0].LifecycleState' --output text)
case "$state" in
  Pending:Wait | Warmed:Pending:Wait) ;;
  *) exit 0 ;;  # a reboot in service, or a hook already completed: nothing to do
esac
for attempt in 1 2 3 4 5 6; do
  systemctl is-active --quiet codedeploy-agent && break
  sleep 5
done
systemctl is-active --quiet codedeploy-agent
complete_agent_ready_hook CONTINUE
AGENT_READY_SCRIPT
chmod 0755 /usr/local/sbin/agent-ready-hook
cat > /etc/systemd/system/agent-ready-hook.service <<'AGENT_READY_UNIT'
[Unit]
Description=Complete the Auto Scaling agent-ready hook when an instance leaves the warm pool
Wants=network-online.target
After=network-online.target codedeploy-agent.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/agent-ready-hook

[Install]
WantedBy=multi-user.target
AGENT_READY_UNIT
systemctl daemon-reload
systemctl enable agent-ready-hook.service
"""
)


class Fleet(Construct):
    """One launch template (Amazon Linux 2023 unless `machine_image` says otherwise, IMDSv2, encrypted root volume,
    least-privilege role plus the operator's `managed_policies`) and two slots.

    The slots are not attached to the target group (CodeDeploy moves instances in and out of it) and carry no
    desired capacity, because a desired capacity in the template resets the group on every stack update
    (docs/decisions.md F6): the release tool owns capacity.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        instance_type: str,
        max_capacity: int,
        artifact_bucket: s3.IBucket,
        agent_ready_timeout: Duration,
        warm_pool_size: int = 0,
        machine_image: MachineImage | None = None,
        managed_policies: Sequence[str] = (),
        user_data_fragment: UserDataFragment | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        low, high = AGENT_READY_TIMEOUT_RANGE
        if not low <= agent_ready_timeout.to_seconds() <= high:
            raise ValueError(
                f"agent_ready_timeout must be {low}-{high} s (Auto Scaling's heartbeat range), "
                f"got {agent_ready_timeout.to_seconds():g} s"
            )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Application instances: the app port from the ALB only",
            # Outbound HTTPS is how the instances reach SSM, CodeDeploy, S3 and the package mirrors.
            allow_all_outbound=True,
        )
        self.role = iam.Role(
            self,
            "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Blue/green instances: read revisions, talk to SSM (drain check) and CodeDeploy",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(INSTANCE_ROLE_BASE_POLICY),
                *(_managed_policy(self, index, policy) for index, policy in enumerate(managed_policies)),
            ],
        )
        artifact_bucket.grant_read(self.role)

        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            machine_image=_machine_image(machine_image, instance_type),
            instance_type=ec2.InstanceType(instance_type),
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            role=self.role,
            security_group=self.security_group,
            user_data=_user_data(warm_pool_size=warm_pool_size, fragment=user_data_fragment),
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        16, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
                    ),
                )
            ],
        )
        self.slots = tuple(
            autoscaling.AutoScalingGroup(
                self,
                slot_id,
                vpc=vpc,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                launch_template=self.launch_template,
                min_capacity=0,
                max_capacity=max_capacity,
                health_checks=autoscaling.HealthChecks.ec2(),
                group_metrics=[autoscaling.GroupMetrics.all()],
            )
            for slot_id in SLOT_IDS
        )
        if warm_pool_size:
            self._add_warm_pools(warm_pool_size)
        self.agent_ready_policy = self._agent_ready_policy()
        self.agent_ready_hooks = [
            autoscaling.LifecycleHook(
                self,
                f"AgentReady{slot_id}",
                auto_scaling_group=slot,
                lifecycle_hook_name=AGENT_READY_HOOK,
                lifecycle_transition=autoscaling.LifecycleTransition.INSTANCE_LAUNCHING,
                default_result=autoscaling.DefaultResult.ABANDON,
                heartbeat_timeout=agent_ready_timeout,
            )
            for slot_id, slot in zip(SLOT_IDS, self.slots, strict=True)
        ]
        for hook in self.agent_ready_hooks:
            # A hook that exists before its instances may complete it would abandon every launch in between.
            hook.node.add_dependency(self.agent_ready_policy)
        for slot in self.slots:
            nag.acknowledge(
                slot,
                [
                    nag.Acknowledgement(
                        id="AwsSolutions-AS3",
                        reason="Scaling events are reported by the release tool and the drain Lambda's logs "
                        "and metrics; no SNS topic subscriber exists to receive notifications.",
                    ),
                ],
            )
        nag.acknowledge(
            self.role,
            [
                nag.Acknowledgement(
                    id="AwsSolutions-IAM4",
                    reason="AmazonSSMManagedInstanceCore is AWS's maintained minimum for the SSM agent, which "
                    "the drain Lambda's connection check runs through.",
                    applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"],
                ),
                *_operator_policy_acknowledgements(managed_policies),
                nag.Acknowledgement(
                    id="AwsSolutions-IAM5",
                    reason="Read-only access to the revision objects of the artifact bucket (any key: keys "
                    "are content hashes chosen at release time).",
                    applies_to=[
                        "Action::s3:GetBucket*",
                        "Action::s3:GetObject*",
                        "Action::s3:List*",
                        f"Resource::{artifact_bucket.arn_for_objects('*')}",
                    ],
                ),
            ],
            apply_to_children=True,
        )

    def _add_warm_pools(self, size: int) -> None:
        """A pool of `size` stopped, agent-ready instances beside each slot (docs/performance.md, "Warm pools").

        Stopped: only the volumes are paid for. `MaxGroupPreparedCapacity` equals the size, so the pool keeps `size`
        instances whatever the slot's desired capacity. Instances that leave a slot are terminated, never returned to
        the pool (`ReuseOnScaleIn` false): they hold the old revision, and the drain hook must see them terminate.
        """
        for slot in self.slots:
            slot.add_warm_pool(
                min_size=size,
                max_group_prepared_capacity=size,
                pool_state=autoscaling.PoolState.STOPPED,
                reuse_on_scale_in=False,
            )

    def _agent_ready_policy(self) -> iam.Policy:
        """The instance role's right to complete the agent-ready hook: on the two slots only.

        A policy of its own, not the role's default policy: the slots depend on the launch template, which depends on
        the role and, through CDK, on everything inside it; a statement naming the slots inside the role would close
        that loop (a CloudFormation dependency cycle). Attached from outside, the policy depends on the slots and the
        role, and the hooks depend on the policy. The trade-off against a wildcard ARN with an
        `autoscaling:ResourceTag` condition: exact group names (only the UUID part of the ARN is open, as CloudFormation
        does not return it), at the price of ordering, which the hook dependency settles.
        """
        policy = iam.Policy(
            self,
            "AgentReadyPolicy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="CompleteAgentReadyHook",
                    actions=["autoscaling:CompleteLifecycleAction"],
                    resources=[slot.auto_scaling_group_arn for slot in self.slots],
                ),
                iam.PolicyStatement(
                    sid="FindOwnGroup",
                    actions=["autoscaling:DescribeAutoScalingInstances"],
                    resources=["*"],
                ),
            ],
        )
        nag.acknowledge(
            policy,
            [
                nag.Acknowledgement(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "autoscaling:DescribeAutoScalingInstances supports no resource-level permissions (Service "
                        "Authorization Reference); it is read-only and tells an instance its own group's name."
                    ),
                    applies_to=["Resource::*"],
                ),
                nag.Acknowledgement(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "An Auto Scaling group ARN contains a UUID that CloudFormation does not expose; the wildcard "
                        "stands for that UUID only, the group names are the two slots'."
                    ),
                    applies_to=[f"Resource::{slot.auto_scaling_group_arn}" for slot in self.slots],
                ),
            ],
        )
        return policy

    def admit_from(self, peer: ec2.IConnectable, port: int) -> None:
        """Open the app port to `peer` (the ALB) only."""
        self.security_group.connections.allow_from(peer, ec2.Port.tcp(port), "App port from the ALB")


def _machine_image(setting: MachineImage | None, instance_type: str) -> ec2.IMachineImage:
    """The slots' image: `machineImage` when set, else Amazon Linux 2023 for the instance type's architecture.

    An SSM parameter (the default's public one, or the operator's) is resolved by CloudFormation at each deployment,
    not looked up at synth (docs/decisions.md F69); AMI ids given per region are written into the template.
    """
    if setting is None:
        return ec2.MachineImage.latest_amazon_linux2023(cpu_type=AL2023_CPU_TYPES[architecture(instance_type)])
    if setting.ssm_parameter is not None:
        return ec2.MachineImage.from_ssm_parameter(setting.ssm_parameter, os=ec2.OperatingSystemType.LINUX)
    return ec2.MachineImage.generic_linux(ami_map=dict(setting.amis))


def _managed_policy(scope: Construct, index: int, policy: str) -> iam.IManagedPolicy:
    """An `instanceRoleManagedPolicies` entry: an ARN as given, or an AWS managed policy's name (path included)."""
    if policy.startswith("arn:"):
        # An imported policy is a reference, no resource: its construct id names no logical id.
        return iam.ManagedPolicy.from_managed_policy_arn(scope, f"OperatorPolicy{index}", policy)
    return iam.ManagedPolicy.from_aws_managed_policy_name(policy)


def _operator_policy_acknowledgements(policies: Sequence[str]) -> list[nag.Acknowledgement]:
    """AwsSolutions-IAM4 flags AWS managed policies; those the operator chose are acknowledged by name, one each."""
    applies_to = [
        f"Policy::arn:<AWS::Partition>:iam::aws:policy/{policy}"
        if not policy.startswith("arn:")
        else f"Policy::{policy}"
        for policy in policies
        if not policy.startswith("arn:") or ":iam::aws:" in policy
    ]
    if not applies_to:
        return []
    return [
        nag.Acknowledgement(
            id="AwsSolutions-IAM4",
            reason="Chosen by the operator in the instanceRoleManagedPolicies setting (README.md, Configuration).",
            applies_to=applies_to,
        )
    ]


def _user_data(*, warm_pool_size: int, fragment: UserDataFragment | None) -> ec2.UserData:
    """The slots' user data: the agent install, the operator's fragment if any, then the agent-ready completion.

    Raises `ConfigError` when the whole script exceeds EC2's user data limit (docs/decisions.md F69).
    """
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        AGENT_READY_FUNCTIONS,
        AGENT_INSTALL.format(region=Aws.REGION, url_suffix=Aws.URL_SUFFIX),
        *([AGENT_READY_EVERY_BOOT] if warm_pool_size else []),
        *([USER_DATA_FRAGMENT_HEADER.format(path=fragment.path) + fragment.text] if fragment else []),
        AGENT_READY_COMPLETE,
    )
    # The region and URL suffix are still tokens here, each longer than any value it stands for: an upper bound.
    size = len(user_data.render().encode("utf-8"))
    if size > USER_DATA_MAX_BYTES:
        raise ConfigError(
            f"context key 'userDataFile': the user data would have {size} bytes with it; EC2 allows "
            f"{USER_DATA_MAX_BYTES} (the CodeDeploy agent install takes the rest)"
        )
    return user_data
