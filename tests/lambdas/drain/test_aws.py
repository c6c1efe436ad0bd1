"""The AWS adapter against botocore's Stubber: request shapes are validated against the service models."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from drain import aws, wait_script
from drain.aws import AwsDrainPorts
from drain.decision import ActionNotActiveError, PortError, ProbeError, TransientError
from drain.event import LifecycleAction

from tests.lambdas.drain.conftest import COMMAND, TARGET_GROUP_ARN, FakeClock, wait_output

INSTANCE = "i-1234567890abcdef0"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"
ACTION = LifecycleAction(group_name="slot-a", hook_name="hook", instance_id=INSTANCE)


@pytest.fixture
def stubbed() -> Iterator[tuple[AwsDrainPorts, Stubber, Stubber, FakeClock]]:
    autoscaling, ssm = boto3.client("autoscaling"), boto3.client("ssm")
    clock = FakeClock()
    ports = AwsDrainPorts(
        autoscaling=autoscaling,
        elbv2=boto3.client("elbv2"),
        ssm=ssm,
        target_group_arn=TARGET_GROUP_ARN,
        in_flight_command=COMMAND,
        clock=clock,
        sleep=clock.sleep,
        poll_interval=0.5,
    )
    with Stubber(autoscaling) as lifecycle, Stubber(ssm) as run_command:
        yield ports, lifecycle, run_command, clock


def send_ok(run_command: Stubber, parameters: Any = ANY) -> None:
    run_command.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND_ID}},
        {
            "InstanceIds": [INSTANCE],
            "DocumentName": "AWS-RunShellScript",
            "Parameters": parameters,
            "TimeoutSeconds": 30,
            "Comment": ANY,
        },
    )


def invocation(run_command: Stubber, status: str, stdout: str = "", **extra: Any) -> None:
    run_command.add_response(
        "get_command_invocation",
        {"CommandId": COMMAND_ID, "InstanceId": INSTANCE, "Status": status, "StandardOutputContent": stdout, **extra},
        {"CommandId": COMMAND_ID, "InstanceId": INSTANCE},
    )


def test_an_action_without_token_is_named_by_instance_id(stubbed: Any) -> None:
    # Given an event without a lifecycle action token
    ports, lifecycle, _, _ = stubbed
    lifecycle.add_response(
        "complete_lifecycle_action",
        {},
        {
            "AutoScalingGroupName": "slot-a",
            "LifecycleHookName": "hook",
            "InstanceId": INSTANCE,
            "LifecycleActionResult": "CONTINUE",
        },
    )

    # When the action is completed, Then the request names the instance and says CONTINUE
    ports.complete(ACTION)
    lifecycle.assert_no_pending_responses()


def test_the_one_command_is_the_wait_script_around_the_check_with_a_backstop_timeout(stubbed: Any) -> None:
    # Given SSM accepts the command
    ports, _, run_command, clock = stubbed
    expected = {"commands": [wait_script.render(COMMAND, 26.5)], "executionTimeout": ["57"]}
    send_ok(run_command, expected)
    invocation(run_command, "Success", wait_output(drained=True))

    # When the instance is asked to wait 26.5 s at most, Then the script and the agent's backstop are sent
    ports.wait_for_drain(INSTANCE, 26.5, clock.now + 30)
    run_command.assert_no_pending_responses()


def test_the_wait_is_read_until_it_ends_while_the_invocation_does_not_exist_yet_or_is_in_progress(
    stubbed: Any,
) -> None:
    # Given SSM creates the invocation late and the wait runs on the instance for a while
    ports, _, run_command, clock = stubbed
    send_ok(run_command)
    run_command.add_client_error("get_command_invocation", "InvocationDoesNotExist", "")
    invocation(run_command, "InProgress")
    invocation(run_command, "Success", "some agent noise\n" + wait_output(drained=True, checks=12, elapsed_cs=118))

    # When the Lambda waits on it
    result = ports.wait_for_drain(INSTANCE, 20, clock.now + 25)

    # Then the result line is parsed, and each read came one poll interval after the previous one
    assert (result.drained, result.in_flight, result.checks, result.instance_seconds) == (True, 0, 12, 1.18)
    assert result.status_reads == 3
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_throttled_reads_back_off_and_go_on(stubbed: Any) -> None:
    # Given SSM throttles two status reads
    ports, _, run_command, clock = stubbed
    send_ok(run_command)
    for _ in range(2):
        run_command.add_client_error("get_command_invocation", "ThrottlingException", "Rate exceeded")
    invocation(run_command, "Success", wait_output(drained=False, in_flight=1))

    # When the Lambda waits on the command, Then it backs off, reads again, and returns the result
    result = ports.wait_for_drain(INSTANCE, 20, clock.now + 25)
    assert (result.drained, result.in_flight) == (False, 1)
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_a_failed_wait_is_a_probe_error_naming_its_status_and_the_reason(stubbed: Any) -> None:
    # Given the wait fails on the instance (its check printed no number)
    ports, _, run_command, clock = stubbed
    send_ok(run_command)
    invocation(
        run_command,
        "Failed",
        StatusDetails="Failed",
        StandardErrorContent="drain-wait: the in-flight check printed 'nope', not a number of requests",
    )

    # When the Lambda waits on it, Then the probe error says why
    with pytest.raises(ProbeError, match="not a number of requests") as raised:
        ports.wait_for_drain(INSTANCE, 20, clock.now + 25)
    assert raised.value.reason == "command-Failed"


def test_output_without_a_result_line_is_a_probe_error(stubbed: Any) -> None:
    # Given the command succeeds but prints something else
    ports, _, run_command, clock = stubbed
    send_ok(run_command)
    invocation(run_command, "Success", "command not found")

    # When the Lambda reads it, Then it is refused rather than guessed
    with pytest.raises(ProbeError) as raised:
        ports.wait_for_drain(INSTANCE, 20, clock.now + 25)
    assert raised.value.reason == "unparsable-output"


def test_a_wait_that_never_reports_is_given_up_at_the_deadline(stubbed: Any) -> None:
    # Given the invocation stays Pending (agent not answering)
    ports, _, run_command, clock = stubbed
    send_ok(run_command)
    for _ in range(20):
        invocation(run_command, "Pending")
    start = clock.now

    # When the Lambda waits on it, Then it gives up when the drain's deadline has passed
    with pytest.raises(ProbeError) as raised:
        ports.wait_for_drain(INSTANCE, 2, start + 5)
    assert raised.value.reason == "wait-timeout"
    assert clock.now - start == pytest.approx(5.0)


def test_a_send_command_refused_is_a_probe_error_with_the_aws_code(stubbed: Any) -> None:
    # Given the instance is not a managed node (agent not registered)
    ports, _, run_command, clock = stubbed
    run_command.add_client_error("send_command", "InvalidInstanceId", "Instances not in a valid state")

    # When the Lambda asks it to wait, Then the probe error carries the code
    with pytest.raises(ProbeError) as raised:
        ports.wait_for_drain(INSTANCE, 20, clock.now + 25)
    assert raised.value.reason == "InvalidInstanceId"


def test_target_states_lists_only_this_instance(stubbed: Any) -> None:
    # Given a target group with this instance draining at one port and another instance healthy
    ports, _, _, _ = stubbed
    with Stubber(ports._elbv2) as elbv2:
        elbv2.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {"Target": {"Id": INSTANCE, "Port": 8080}, "TargetHealth": {"State": "draining"}},
                    {"Target": {"Id": "i-0fffffffffffffff0", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
                ]
            },
            {"TargetGroupArn": TARGET_GROUP_ARN},
        )

        # When its states are read, Then only its own registrations appear
        assert ports.target_states(INSTANCE) == {8080: "draining"}


@pytest.mark.parametrize(
    ("code", "message", "status", "expected"),
    [
        (
            "ValidationError",
            "No active Lifecycle Action found with instance ID i-1234567890abcdef0",
            400,
            ActionNotActiveError,
        ),
        ("Throttling", "Rate exceeded", 400, TransientError),
        ("InternalFailure", "", 500, TransientError),
        ("ValidationError", "Unable to find group", 400, PortError),
    ],
)
def test_aws_errors_are_translated_for_the_decision(
    stubbed: Any, code: str, message: str, status: int, expected: type[PortError]
) -> None:
    # Given RecordLifecycleActionHeartbeat answers with an error
    ports, lifecycle, _, _ = stubbed
    lifecycle.add_client_error("record_lifecycle_action_heartbeat", code, message, http_status_code=status)

    # When a heartbeat is recorded, Then the error has the decision's type and the AWS code as reason
    with pytest.raises(expected) as raised:
        ports.record_heartbeat(ACTION)
    assert type(raised.value) is expected
    assert raised.value.reason == code


def test_a_connection_problem_is_transient() -> None:
    # Given botocore cannot reach the endpoint
    error = EndpointConnectionError(endpoint_url="https://autoscaling.eu-west-1.amazonaws.com")

    # When it is translated, Then it is worth a retry
    assert isinstance(aws._error(error), TransientError)


def test_clients_are_created_once_and_reused() -> None:
    # Given no client yet, When one is asked for twice, Then it is the same client
    aws.client.cache_clear()
    assert aws.client("ssm") is aws.client("ssm")
    aws.client.cache_clear()


@pytest.mark.slow
def test_importing_the_handler_creates_no_client() -> None:
    # Given boto3.client made to fail, When the handler module is imported, Then the import succeeds
    code = "import boto3\nboto3.client = None\nimport drain.handler\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="lambdas", timeout=60)
