"""Scenarios of the issue, end to end through `handle`: moto target group, stubbed lifecycle and SSM calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from drain.decision import CompletionFailedError
from drain.handler import handle

from tests.lambdas.drain.conftest import CONFIG, FakeClock, World, lifecycle_event, wait_output


def run(world: World, event: Any) -> dict[str, Any]:
    return handle(event, config=world.config(), ports=world.ports, clock=world.clock, sleep=world.clock.sleep)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_an_idle_instance_is_released_as_soon_as_the_instance_reports_drained(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance in the target group with no request in flight
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True, checks=2))
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is deregistered first, asked once, and let go with CONTINUE
    assert result["status"] == "completed"
    assert result["signal"] == "requests-drained"
    assert world.calls == [
        "DescribeTargetHealth",
        "DeregisterTargets",
        "RecordLifecycleActionHeartbeat",
        "SendCommand",
        "GetCommandInvocation",
        "CompleteLifecycleAction",
    ]
    assert world.instance_id not in world.registered_targets()
    (line,) = log_lines(capsys)
    assert (line["ssm_commands"], line["in_flight"]) == (1, 0)
    assert line["deregistered_ports"] == [8080]
    world.lifecycle.assert_no_pending_responses()
    world.run_command.assert_no_pending_responses()


def test_a_busy_instance_costs_one_ssm_command_however_long_it_drains(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance whose requests take a while to end (the wait on the instance runs for 20 status reads)
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True, checks=80, elapsed_cs=1000), in_progress=20)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is let go when the instance reports drained, before the 30 s bound, after one SSM command
    assert result["signal"] == "requests-drained"
    assert result["drain_seconds"] < 30
    (line,) = log_lines(capsys)
    assert (line["ssm_commands"], line["status_reads"], line["checks"]) == (1, 21, 80)
    world.run_command.assert_no_pending_responses()


def test_an_instance_that_never_drains_is_released_at_the_bound_the_instance_reports(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance that keeps two requests in flight until the wait on it reaches its bound
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=False, in_flight=2, checks=270, elapsed_cs=2700), in_progress=3)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is still let go with CONTINUE, and the log says how many requests were left
    assert result["status"] == "completed"
    assert result["signal"] == "bound-reached"
    (line,) = log_lines(capsys)
    assert (line["level"], line["in_flight"], line["ssm_commands"]) == ("INFO", 2, 1)
    world.lifecycle.assert_no_pending_responses()


def test_an_unreachable_ssm_agent_still_releases_the_instance_at_the_bound_after_a_few_commands(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance whose SSM agent is not registered
    world.expect_heartbeat()
    world.expect_send_command_errors("InvalidInstanceId", "Instances not in a valid state for account", times=3)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is let go at the bound, after a constant number of attempts, and the log line names the failure
    assert result["signal"] == "bound-reached"
    assert result["drain_seconds"] == pytest.approx(30, abs=0.01)
    (line,) = log_lines(capsys)
    assert line["level"] == "WARNING"
    assert line["errors"] == {"InvalidInstanceId": 3}
    assert line["ssm_commands"] == 3
    world.lifecycle.assert_no_pending_responses()
    world.run_command.assert_no_pending_responses()


def test_a_check_that_fails_once_is_retried_with_a_second_command(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a first wait that fails on the instance (the check printed no number), then one that drains
    world.expect_heartbeat()
    world.run_command.add_response(
        "send_command", {"Command": {"CommandId": "f" * 8 + "-0000-0000-0000-000000000000"}}, None
    )
    world.run_command.add_response(
        "get_command_invocation",
        {
            "Status": "Failed",
            "StatusDetails": "Failed",
            "StandardErrorContent": "drain-wait: the in-flight check printed 'curl: (7)', not a number of requests",
        },
        None,
    )
    world.expect_wait(wait_output(drained=True), command_number=1)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then the second command's answer decides, and the log counts both commands and the failure
    assert result["signal"] == "requests-drained"
    (line,) = log_lines(capsys)
    assert line["ssm_commands"] == 2
    assert line["errors"] == {"command-Failed": 1}


def test_a_duplicate_event_is_answered_without_error(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an event that was handled once already (EventBridge delivers at least once)
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True))
    world.expect_complete()
    run(world, world.event())
    world.expect_heartbeat_error(
        "ValidationError",
        f"No active Lifecycle Action found with token {world.event()['detail']['LifecycleActionToken']}",
    )
    world.calls.clear()

    # When the same event arrives again
    result = run(world, world.event())

    # Then it is answered as already completed, after one look at the target group, without a drain metric
    assert result["status"] == "already-completed"
    assert world.calls == ["DescribeTargetHealth", "RecordLifecycleActionHeartbeat"]
    second = log_lines(capsys)[-1]
    assert second["Signal"] == "action-not-active"
    assert "_aws" not in second
    world.lifecycle.assert_no_pending_responses()


def test_an_instance_already_gone_is_answered_without_error(world: World) -> None:
    # Given an instance that left the target group and whose action ends while we look at it
    world.elbv2.deregister_targets(TargetGroupArn=world.target_group_arn, Targets=[{"Id": world.instance_id}])
    world.expect_heartbeat()
    world.expect_complete_error(
        "ValidationError", f"No active Lifecycle Action found with instance ID {world.instance_id}"
    )

    # When its termination event arrives
    result = run(world, world.event())

    # Then nothing is waited for (it gets no traffic) and the missing action counts as done
    assert result["signal"] == "not-registered"
    assert result["status"] == "already-completed"
    world.run_command.assert_no_pending_responses()


def test_throttling_on_complete_is_retried_until_it_succeeds(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given Auto Scaling throttles the first two completions
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True))
    world.expect_complete_error("Throttling", "Rate exceeded")
    world.expect_complete_error("Throttling", "Rate exceeded")
    world.expect_complete()

    # When the termination event arrives
    result = run(world, world.event())

    # Then the completion is retried with backoff and succeeds
    assert result["status"] == "completed"
    assert log_lines(capsys)[0]["errors"] == {"Throttling": 2}
    world.lifecycle.assert_no_pending_responses()


def test_a_completion_refused_for_good_is_raised_for_the_dead_letter_queue_after_logging(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the function may not complete the action (a broken policy)
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True))
    world.expect_complete_error("AccessDenied", "not authorized", status=403)

    # When the termination event arrives, Then the failure is raised (bounded retries, then the DLQ) ...
    with pytest.raises(CompletionFailedError):
        run(world, world.event())

    # ... after one ERROR line saying what the wait had decided
    (line,) = log_lines(capsys)
    assert line["level"] == "ERROR"
    assert line["completion"] == "failed"
    assert "AccessDenied" in line["cause"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (None, "not a JSON object"),
        ({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}, "expected source"),
        ({"source": "aws.autoscaling", "detail-type": "EC2 Instance-terminate Lifecycle Action"}, "no 'detail'"),
        (
            {"source": "aws.autoscaling", "detail-type": "EC2 Instance-terminate Lifecycle Action", "detail": {}},
            "lacks AutoScalingGroupName, LifecycleHookName, EC2InstanceId",
        ),
    ],
)
def test_a_malformed_event_is_logged_and_answered_without_retry(
    capsys: pytest.CaptureFixture[str], event: Any, reason: str
) -> None:
    # Given an event the function cannot act on
    clock = FakeClock()

    # When it arrives
    result = handle(event, config=CONFIG, ports=pytest.fail, clock=clock, sleep=clock.sleep)

    # Then it is rejected with the reason, counted, and no AWS call is made (ports are never built)
    assert result["status"] == "rejected"
    (line,) = log_lines(capsys)
    assert reason in line["message"]
    assert line["MalformedEvents"] == 1
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "MalformedEvents", "Unit": "Count"}]


def test_an_event_with_a_wrong_instance_id_is_malformed() -> None:
    # Given an event whose instance id is not an EC2 instance id
    event = lifecycle_event(EC2InstanceId="not-an-instance")
    clock = FakeClock()

    # When it arrives, Then it is rejected
    result = handle(event, config=CONFIG, ports=pytest.fail, clock=clock, sleep=clock.sleep)
    assert "not an EC2 instance id" in result["reason"]


def test_the_decision_line_publishes_drain_seconds_as_an_embedded_metric(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance that drains at once
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True))
    world.expect_complete()

    # When its termination event is handled
    run(world, world.event())

    # Then the single log line carries instance, group, drain seconds and signal, and an EMF block for the metric
    (line,) = log_lines(capsys)
    assert line["instance_id"] == world.instance_id
    assert line["AutoScalingGroupName"] == "slot-a"
    assert line["Signal"] == "requests-drained"
    assert isinstance(line["DrainSeconds"], float)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Test/Drain"
    assert directive["Metrics"] == [{"Name": "DrainSeconds", "Unit": "Seconds"}]
    assert directive["Dimensions"] == [["AutoScalingGroupName"], ["Signal"]]
