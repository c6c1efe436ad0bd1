"""The internet-facing ALB, its listeners and the one target group CodeDeploy moves instances in and out of."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from bluegreen.config import HealthCheck


class LoadBalancer(Construct):
    """An ALB with access logs, an HTTP listener (redirecting to HTTPS when a certificate is given) and a target
    group whose health check is tuned so that CodeDeploy's traffic steps take seconds, not minutes
    (docs/decisions.md F7).

    The target group starts empty: CodeDeploy registers replacement instances during AllowTraffic and the drain
    Lambda deregisters leaving ones, because the slots are not attached to it (docs/decisions.md F2).
    Without a certificate the site is plain HTTP (docs/security.md, "HTTP listener without a certificate").
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        health_check: HealthCheck,
        deregistration_delay_seconds: int,
        certificate_arn: str | None,
        access_logs_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Internet-facing ALB", allow_all_outbound=False
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=self.security_group,
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(access_logs_bucket, prefix="alb")

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "TargetGroup",
            vpc=vpc,
            port=health_check.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.INSTANCE,
            deregistration_delay=Duration.seconds(deregistration_delay_seconds),
            health_check=elbv2.HealthCheck(
                path=health_check.path,
                port="traffic-port",
                protocol=elbv2.Protocol.HTTP,
                healthy_http_codes=health_check.matcher,
                interval=Duration.seconds(health_check.interval_seconds),
                timeout=Duration.seconds(health_check.timeout_seconds),
                healthy_threshold_count=health_check.healthy_threshold,
                unhealthy_threshold_count=health_check.unhealthy_threshold,
            ),
        )

        self.listener, self.url_scheme = self._listen(certificate_arn)
        self._acknowledge_nag()

    def _listen(self, certificate_arn: str | None) -> tuple[elbv2.ApplicationListener, str]:
        """HTTP forwarding to the target group, or HTTPS forwarding and an HTTP redirect to it; the URL scheme."""
        self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP from the internet")
        if certificate_arn is None:
            return self.alb.add_listener("Http", port=80, open=False, default_target_groups=[self.target_group]), "http"
        self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS from the internet")
        listener = self.alb.add_listener(
            "Https",
            port=443,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_target_groups=[self.target_group],
        )
        self.alb.add_redirect(source_port=80, target_port=443)
        return listener, "https"

    def _acknowledge_nag(self) -> None:
        """cdk-nag findings on the load balancer's resources, each with its reason."""
        NagSuppressions.add_resource_suppressions(
            self.security_group,
            [
                NagPackSuppression(
                    id="AwsSolutions-EC23",
                    reason="The site is public: the ALB must accept HTTP(S) from any IPv4 address "
                    "(docs/security.md, HTTP listener without a certificate).",
                )
            ],
        )

    def allow_to(self, peer: ec2.IConnectable, port: int) -> None:
        """Let the ALB reach `peer` on `port` (and only there)."""
        self.alb.connections.allow_to(peer, ec2.Port.tcp(port), "ALB to the application port")
