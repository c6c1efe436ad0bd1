"""The VPC: a new one over several availability zones, or an existing one described in cdk.json."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from bluegreen.config import ExistingVpc


class Network(Construct):
    """Public subnets for the load balancer, private subnets with egress for the instances."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_vpc: ExistingVpc | None,
        max_azs: int,
        nat_gateways: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        if existing_vpc is not None:
            # from_vpc_attributes, not from_lookup: synth must stay offline and need no credentials.
            self.vpc: ec2.IVpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=existing_vpc.vpc_id,
                availability_zones=list(existing_vpc.availability_zones),
                public_subnet_ids=list(existing_vpc.public_subnet_ids),
                private_subnet_ids=list(existing_vpc.private_subnet_ids),
            )
            return
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=log_retention)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=max_azs,
            nat_gateways=nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
            ],
            flow_logs={
                "rejected": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.REJECT,
                )
            },
        )
