"""The Lambda entry point and the adapter's error translation."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from join import aws
from join.decision import InstanceGoneError, PortError, TransientError
from join.handler import ConfigError, config_from_env, lambda_handler

from tests.lambdas.join.conftest import APPLICATION, DEPLOYMENT_GROUP, World

TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app/0123456789abcdef"
ENVIRONMENT = {
    "TARGET_GROUP_ARN": TARGET_GROUP_ARN,
    "APPLICATION_NAME": APPLICATION,
    "DEPLOYMENT_GROUP_NAME": DEPLOYMENT_GROUP,
    "POLL_INTERVAL_SECONDS": "10",
    "METRIC_NAMESPACE": "Test/Join",
}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def test_the_environment_becomes_the_configuration() -> None:
    config = config_from_env(ENVIRONMENT)
    assert (config.application_name, config.deployment_group_name, config.poll_interval) == (
        APPLICATION,
        DEPLOYMENT_GROUP,
        10.0,
    )


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="DEPLOYMENT_GROUP_NAME"):
        config_from_env({k: v for k, v in ENVIRONMENT.items() if k != "DEPLOYMENT_GROUP_NAME"})


def test_lambda_handler_wires_the_real_adapter(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function's environment and the world's clients behind the cached getter
    for name, value in {**ENVIRONMENT, "TARGET_GROUP_ARN": world.target_group_arn}.items():
        monkeypatch.setenv(name, value)
    clients = {"autoscaling": world.autoscaling, "elbv2": world.elbv2, "codedeploy": world.codedeploy}
    monkeypatch.setattr(aws, "client", clients.__getitem__)
    world.expect_live_groups("slot-b")
    # When slot B's instance launched
    result = lambda_handler(world.event("slot-b"), Context())
    # Then it is registered
    assert result["status"] == "registered"
    assert [target for target, _ in world.registered_targets()] == [world.instances["slot-b"]]


def test_invalid_target_means_the_instance_is_gone() -> None:
    elbv2 = boto3.client("elbv2")
    ports = aws.AwsJoinPorts(
        autoscaling=None,
        elbv2=elbv2,
        codedeploy=None,
        target_group_arn=TARGET_GROUP_ARN,
        application_name=APPLICATION,
        deployment_group_name=DEPLOYMENT_GROUP,
    )
    with Stubber(elbv2) as stub:
        stub.add_client_error(
            "register_targets",
            "InvalidTarget",
            "The following targets are not in a running state",
            expected_params={"TargetGroupArn": TARGET_GROUP_ARN, "Targets": [{"Id": "i-1234567890abcdef0"}]},
        )
        with pytest.raises(InstanceGoneError):
            ports.register("i-1234567890abcdef0")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, TransientError),
        ("InternalFailure", 500, TransientError),
        ("DeploymentGroupDoesNotExistException", 400, PortError),
    ],
)
def test_codedeploy_errors_are_translated(code: str, status: int, expected: type[PortError]) -> None:
    codedeploy = boto3.client("codedeploy")
    ports = aws.AwsJoinPorts(
        autoscaling=None,
        elbv2=None,
        codedeploy=codedeploy,
        target_group_arn=TARGET_GROUP_ARN,
        application_name=APPLICATION,
        deployment_group_name=DEPLOYMENT_GROUP,
    )
    with Stubber(codedeploy) as stub:
        stub.add_client_error("get_deployment_group", code, "x", http_status_code=status)
        with pytest.raises(expected) as raised:
            ports.live_groups()
    assert type(raised.value) is expected
    assert raised.value.reason == code


def test_a_connection_error_is_transient() -> None:
    assert isinstance(aws._error(EndpointConnectionError(endpoint_url="https://x")), TransientError)
