"""The internet-facing ALB, its listeners and the one target group CodeDeploy moves instances in and out of."""

from __future__ import annotations

from aws_cdk import CfnParameter, CfnRule, CfnRuleAssertion, Duration, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from bluegreen.config import HealthCheck, Promotion
from stacks import nag

# The stack parameter that records the port the target group was created with (see `LoadBalancer._guard_app_port`).
DEPLOYED_APP_PORT_PARAMETER = "DeployedAppPort"
APP_PORT_RULE = "AppPortUnchanged"


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
        promotion: Promotion | None = None,
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
            health_check=_target_health_check(health_check),
        )

        self._guard_app_port(health_check.port)
        self.listener, self.url_scheme = self._listen(certificate_arn)
        self._acknowledge_nag()
        self.preview: PreviewRoute | None = None
        if promotion is not None and promotion.test_listener_port is not None:
            self.preview = PreviewRoute(
                self,
                "Preview",
                load_balancer=self,
                health_check=health_check,
                port=promotion.test_listener_port,
                allowed_cidrs=promotion.test_listener_cidrs,
            )

    def _listen(self, certificate_arn: str | None) -> tuple[elbv2.ApplicationListener, str]:
        """The port-80 listener (forwarding, or redirecting to HTTPS when a certificate is given), the HTTPS listener
        with a certificate; the serving listener and the URL scheme.

        The port-80 listener keeps its construct id `Http` either way, and only its default action follows
        `certificateArn`: CloudFormation creates a resource under a new logical id before it deletes the old one, and
        a second listener on port 80 fails the update with DuplicateListener (docs/decisions.md F27).
        """
        self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(80), "HTTP from the internet")
        if certificate_arn is None:
            http_action = elbv2.ListenerAction.forward([self.target_group])
        else:
            http_action = elbv2.ListenerAction.redirect(protocol="HTTPS", port="443", permanent=True)
        http = self.alb.add_listener("Http", port=80, open=False, default_action=http_action)
        if certificate_arn is None:
            return http, "http"
        self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS from the internet")
        listener = self.alb.add_listener(
            "Https",
            port=443,
            open=False,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_target_groups=[self.target_group],
        )
        return listener, "https"

    def _guard_app_port(self, port: int) -> None:
        """Refuse a stack update that changes `appPort`, before CloudFormation changes anything.

        The target group's port is the port CodeDeploy registers instances on (the deployment group knows the target
        group by name only), and a new port replaces the target group: the listener would move to an empty group (503s)
        while the live instances stay in the old one, which is then deleted. So the port is recorded in a stack
        parameter whose default is `appPort`: `cdk deploy` reuses a parameter's previous value (CDK CLI
        `--previous-parameters`, on by default), so the recorded value is the deployed port, and the template rule
        fails the update before any resource changes unless the two agree (docs/decisions.md F28). A deliberate
        change follows README.md, "Changing appPort".
        """
        deployed = CfnParameter(
            self,
            DEPLOYED_APP_PORT_PARAMETER,
            type="String",
            default=str(port),
            allowed_pattern="^[0-9]{1,5}$",
            description="The appPort the target group was created with; cdk deploy reuses it. Change it only as "
            "README.md, 'Changing appPort', describes.",
        )
        deployed.override_logical_id(DEPLOYED_APP_PORT_PARAMETER)
        rule = CfnRule(
            self,
            APP_PORT_RULE,
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(deployed.value_as_string, str(port)),
                    assert_description=f"appPort {port} differs from the deployed port (parameter "
                    f"{DEPLOYED_APP_PORT_PARAMETER}): it would replace the target group and empty the site. "
                    "Refused before any change; see README.md, Changing appPort.",
                )
            ],
        )
        rule.override_logical_id(APP_PORT_RULE)

    def _acknowledge_nag(self) -> None:
        """cdk-nag findings on the load balancer's resources, each with its reason."""
        nag.acknowledge(
            self.security_group,
            [
                nag.Acknowledgement(
                    id="AwsSolutions-EC23",
                    reason="The site is public: the ALB must accept HTTP(S) from any IPv4 address "
                    "(docs/security.md, HTTP listener without a certificate).",
                )
            ],
        )

    def allow_to(self, peer: ec2.IConnectable, port: int) -> None:
        """Let the ALB reach `peer` on `port` (and only there)."""
        self.alb.connections.allow_to(peer, ec2.Port.tcp(port), "ALB to the application port")


def _target_health_check(health_check: HealthCheck) -> elbv2.HealthCheck:
    """The tuned health check (docs/decisions.md F7), alike for the serving and the preview target group."""
    return elbv2.HealthCheck(
        path=health_check.path,
        port="traffic-port",
        protocol=elbv2.Protocol.HTTP,
        healthy_http_codes=health_check.matcher,
        interval=Duration.seconds(health_check.interval_seconds),
        timeout=Duration.seconds(health_check.timeout_seconds),
        healthy_threshold_count=health_check.healthy_threshold,
        unhealthy_threshold_count=health_check.unhealthy_threshold,
    )


class PreviewRoute(Construct):
    """The test listener of the promotion gate: a second port on the ALB forwarding to a preview target group that the
    release tool fills with the replacement slot's instances while the deployment waits for promotion, and empties
    again (CodeDeploy's test traffic route exists for ECS only, so nothing else puts EC2 instances there:
    docs/decisions.md F82).

    Reachable only from `allowed_cidrs` (none by default): the release behind it is not live, and nothing but the
    pre-promotion check should reach it. `registration_policy` grants RegisterTargets and DeregisterTargets on this
    target group only (docs/decisions.md F83), for the release role to attach.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        load_balancer: LoadBalancer,
        health_check: HealthCheck,
        port: int,
        allowed_cidrs: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        self.port = port
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "TargetGroup",
            vpc=load_balancer.alb.vpc,
            port=health_check.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.INSTANCE,
            # Only the check's own requests pass here, and they have ended when the tool deregisters the instances.
            deregistration_delay=Duration.seconds(0),
            health_check=_target_health_check(health_check),
        )
        for cidr in allowed_cidrs:
            load_balancer.security_group.add_ingress_rule(
                ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), "Test listener: the pre-promotion check"
            )
        self.listener = load_balancer.alb.add_listener(
            "TestListener",
            port=port,
            # Plain HTTP: the site's certificate names the site's domain, not the ALB's DNS name the check is given,
            # and only `allowed_cidrs` reach this port (docs/security.md, "Test listener").
            protocol=elbv2.ApplicationProtocol.HTTP,
            open=False,
            default_target_groups=[self.target_group],
        )
        self.url = f"http://{load_balancer.alb.load_balancer_dns_name}:{port}"
        self.registration_policy = iam.ManagedPolicy(
            self,
            "RegistrationPolicy",
            description="Lets the release tool put the replacement slot into the preview target group and take it out",
            statements=[
                iam.PolicyStatement(
                    sid="RegisterWithPreviewTargetGroup",
                    actions=["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                    resources=[self.target_group.target_group_arn],
                )
            ],
        )
