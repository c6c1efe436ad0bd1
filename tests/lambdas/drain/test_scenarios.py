"""Scenarios of the issue, end to end through `handle`: moto target group, stubbed lifecycle and SSM calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from drain.decision import CompletionFailedError
from drain.handler import handle

from tests.lambdas.drain.conftest import CONFIG, FakeClock, World, lifecycle_event


def run(world: World, event: Any) -> dict[str, Any]:
    return handle(event, config=world.config(), ports=world.ports, clock=world.clock, sleep=world.clock.sleep)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_an_idle_instance_is_released_after_two_zero_reads(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an instance in the target group with no open connection
    world.expect_heartbeat()
    world.expect_counts(0, 0)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is deregistered, drained by its own count, and let go with CONTINUE
    assert result["status"] == "completed"
    assert result["signal"] == "connections-drained"
    assert world.instance_id not in world.registered_targets()
    (line,) = log_lines(capsys)
    assert line["polls"] == 2
    assert line["deregistered_ports"] == [8080]
    world.lifecycle.assert_no_pending_responses()
    world.run_command.assert_no_pending_responses()


def test_a_busy_instance_is_released_as_soon_as_its_connections_reach_zero(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance whose connections close over a few polls
    world.expect_heartbeat()
    world.expect_counts(7, 3, 1, 0, 0)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is let go right after the second zero in a row, well before the 30 s bound
    assert result["signal"] == "connections-drained"
    assert result["drain_seconds"] < 30
    assert log_lines(capsys)[0]["polls"] == 5
    world.run_command.assert_no_pending_responses()


def test_an_instance_that_never_drains_is_released_at_the_deregistration_delay(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance that keeps one connection open forever
    world.expect_heartbeat()
    world.expect_counts(*[1] * 20)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is still let go with CONTINUE once the deregistration delay (30 s) has passed
    assert result["status"] == "completed"
    assert result["signal"] == "bound-reached"
    assert result["drain_seconds"] == pytest.approx(30, abs=0.01)
    assert log_lines(capsys)[0]["level"] == "INFO"
    world.lifecycle.assert_no_pending_responses()


def test_an_unreachable_ssm_agent_still_releases_the_instance_at_the_bound_and_says_why(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an instance whose SSM agent is not registered
    world.expect_heartbeat()
    world.expect_send_command_errors("InvalidInstanceId", "Instances not in a valid state for account", times=20)
    world.expect_complete()

    # When its termination event arrives
    result = run(world, world.event())

    # Then it is let go at the bound, and the log line names the failure
    assert result["signal"] == "bound-reached"
    (line,) = log_lines(capsys)
    assert line["level"] == "WARNING"
    assert line["errors"]["InvalidInstanceId"] >= 5
    world.lifecycle.assert_no_pending_responses()


def test_a_duplicate_event_is_answered_without_error(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an event that was handled once already (EventBridge delivers at least once)
    world.expect_heartbeat()
    world.expect_counts(0, 0)
    world.expect_complete()
    run(world, world.event())
    world.expect_heartbeat_error(
        "ValidationError",
        f"No active Lifecycle Action found with token {world.event()['detail']['LifecycleActionToken']}",
    )

    # When the same event arrives again
    result = run(world, world.event())

    # Then it is answered as already completed, without SSM or target-group calls and without a drain metric
    assert result["status"] == "already-completed"
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
    world.expect_counts(0, 0)
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
    world.expect_counts(0, 0)
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
    world.expect_counts(0, 0)
    world.expect_complete()

    # When its termination event is handled
    run(world, world.event())

    # Then the single log line carries instance, group, drain seconds and signal, and an EMF block for the metric
    (line,) = log_lines(capsys)
    assert line["instance_id"] == world.instance_id
    assert line["AutoScalingGroupName"] == "slot-a"
    assert line["Signal"] == "connections-drained"
    assert isinstance(line["DrainSeconds"], float)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Test/Drain"
    assert directive["Metrics"] == [{"Name": "DrainSeconds", "Unit": "Seconds"}]
    assert directive["Dimensions"] == [["AutoScalingGroupName"], ["Signal"]]
