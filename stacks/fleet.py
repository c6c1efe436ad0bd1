"""The launch template and the two Auto Scaling groups ("slots") that take turns serving traffic."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

SLOT_IDS = ("SlotA", "SlotB")

# Installs the CodeDeploy agent from the stack region's own bucket (CodeDeploy guide, "Install the CodeDeploy agent
# for Amazon Linux or RHEL"). Any failure ends cloud-init with an error on the console and in cloud-init-output.log,
# so a broken image is visible instead of an instance that silently never deploys.
AGENT_INSTALL = """\
set -euo pipefail
trap 'echo "FATAL: CodeDeploy agent installation failed at line $LINENO" | tee /dev/console >&2' ERR
dnf install -y ruby wget
cd /tmp
wget --tries=5 --retry-connrefused -O codedeploy-install \\
  "https://aws-codedeploy-{region}.s3.{region}.{url_suffix}/latest/install"
chmod +x codedeploy-install
./codedeploy-install auto
systemctl enable --now codedeploy-agent
systemctl is-active --quiet codedeploy-agent
echo "CodeDeploy agent running" | tee /dev/console
"""


class Fleet(Construct):
    """One launch template (Amazon Linux 2023, IMDSv2, encrypted root volume, least-privilege role) and two slots.

    The slots are not attached to the target group (CodeDeploy moves instances in and out of it) and carry no
    desired capacity, because a desired capacity in the template resets the group on every stack update (DESIGN F6):
    the release tool owns capacity.
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
    ) -> None:
        super().__init__(scope, construct_id)
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
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")],
        )
        artifact_bucket.grant_read(self.role)

        user_data = ec2.UserData.for_linux()
        user_data.add_commands(AGENT_INSTALL.format(region=Aws.REGION, url_suffix=Aws.URL_SUFFIX))
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            # The SSM public parameter is resolved by CloudFormation at deploy time, not looked up at synth.
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            instance_type=ec2.InstanceType(instance_type),
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            role=self.role,
            security_group=self.security_group,
            user_data=user_data,
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
        for slot in self.slots:
            NagSuppressions.add_resource_suppressions(
                slot,
                [
                    {
                        "id": "AwsSolutions-AS1",
                        "reason": "Slots are deliberately not attached to the target group (CodeDeploy registers "
                        "instances itself), so ELB health checks cannot apply; EC2 health checks replace "
                        "broken instances and CodeDeploy's ValidateService gates new ones.",
                    },
                    {
                        "id": "AwsSolutions-AS3",
                        "reason": "Scaling events are reported by the release tool and the drain Lambda's logs "
                        "and metrics; no SNS topic subscriber exists to receive notifications.",
                    },
                ],
            )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                {
                    "id": "AwsSolutions-IAM4",
                    "reason": "AmazonSSMManagedInstanceCore is AWS's maintained minimum for the SSM agent, which "
                    "the drain Lambda's connection check runs through.",
                    "applies_to": ["Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"],
                },
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Read-only access to the revision objects of the artifact bucket (any key: keys "
                    "are content hashes chosen at release time).",
                    "applies_to": [
                        "Action::s3:GetBucket*",
                        "Action::s3:GetObject*",
                        "Action::s3:List*",
                        {"regex": "/^Resource::<ArtifactsRevisions[A-Za-z0-9]+\\.Arn>\\/\\*$/"},
                    ],
                },
            ],
            apply_to_children=True,
        )

    def admit_from(self, peer: ec2.IConnectable, port: int) -> None:
        """Open the app port to `peer` (the ALB) only."""
        self.security_group.connections.allow_from(peer, ec2.Port.tcp(port), "App port from the ALB")
