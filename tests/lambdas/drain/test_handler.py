"""The Lambda entry point: configuration from the environment and the real wiring of `lambda_handler`."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from drain import aws
from drain.handler import ConfigError, config_from_env, lambda_handler

from tests.lambdas.drain.conftest import COMMAND, HOOK, TARGET_GROUP_ARN, TOKEN, lifecycle_event, wait_output

ENVIRONMENT = {
    "TARGET_GROUP_ARN": TARGET_GROUP_ARN,
    "APP_PORT": "8080",
    "DEREGISTRATION_DELAY_SECONDS": "30",
    "HEARTBEAT_TIMEOUT_SECONDS": "330",
    "POLL_INTERVAL_SECONDS": "0.5",
    "IN_FLIGHT_COMMAND": COMMAND,
    "METRIC_NAMESPACE": "Test/Drain",
}


class Context:
    """The part of Lambda's context object the handler uses."""

    def get_remaining_time_in_millis(self) -> int:
        return 90_000


def test_the_environment_becomes_the_settings() -> None:
    # Given the environment the construct sets, When it is read, Then the numbers are the settings
    config = config_from_env(ENVIRONMENT)
    assert (config.settings.app_port, config.settings.deregistration_delay, config.settings.poll_interval) == (
        8080,
        30.0,
        0.5,
    )
    assert config.in_flight_command == COMMAND


def test_a_missing_variable_is_named() -> None:
    # Given an environment without the target group, When it is read, Then the error names the variable
    with pytest.raises(ConfigError, match="TARGET_GROUP_ARN"):
        config_from_env({k: v for k, v in ENVIRONMENT.items() if k != "TARGET_GROUP_ARN"})


def test_lambda_handler_wires_the_real_adapter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the function's environment, stubbed clients behind the cached getter, and instant sleep
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clients = {name: boto3.client(name) for name in ("autoscaling", "elbv2", "ssm")}
    monkeypatch.setattr(aws, "client", clients.__getitem__)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    action = {"AutoScalingGroupName": "slot-a", "LifecycleHookName": HOOK, "LifecycleActionToken": TOKEN}
    instance = "i-1234567890abcdef0"
    with (
        Stubber(clients["autoscaling"]) as lifecycle,
        Stubber(clients["elbv2"]) as elbv2,
        Stubber(clients["ssm"]) as ssm,
    ):
        elbv2.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {"Target": {"Id": instance, "Port": 8080}, "TargetHealth": {"State": "healthy"}},
                ]
            },
            {"TargetGroupArn": TARGET_GROUP_ARN},
        )
        elbv2.add_response(
            "deregister_targets",
            {},
            {
                "TargetGroupArn": TARGET_GROUP_ARN,
                "Targets": [{"Id": instance, "Port": 8080}],
            },
        )
        lifecycle.add_response("record_lifecycle_action_heartbeat", {}, action)
        ssm.add_response(
            "send_command",
            {"Command": {"CommandId": "c" * 36}},
            {
                "InstanceIds": [instance],
                "DocumentName": "AWS-RunShellScript",
                "Parameters": ANY,
                "TimeoutSeconds": 30,
                "Comment": ANY,
            },
        )
        ssm.add_response(
            "get_command_invocation",
            {"Status": "Success", "StandardOutputContent": wait_output(drained=True)},
            {"CommandId": "c" * 36, "InstanceId": instance},
        )
        lifecycle.add_response("complete_lifecycle_action", {}, {**action, "LifecycleActionResult": "CONTINUE"})

        # When the handler gets the termination event
        result: dict[str, Any] = lambda_handler(lifecycle_event(), Context())

        # Then every call was made as stubbed and the decision logged
        lifecycle.assert_no_pending_responses()
        elbv2.assert_no_pending_responses()
        ssm.assert_no_pending_responses()
    assert result["signal"] == "requests-drained"
    assert json.loads(capsys.readouterr().out)["completion"] == "completed"
