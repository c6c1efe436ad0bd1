"""The join Lambda end to end through `handle`: moto for Auto Scaling and the target group, Stubber for CodeDeploy."""

from __future__ import annotations

import json

import pytest
from join.decision import TransientError
from join.handler import handle

from tests.lambdas.join.conftest import APP_PORT, FakeClock, World


def run(world: World, event: dict, clock: FakeClock | None = None) -> dict:
    clock = clock or FakeClock()
    return handle(event, config=world.config(), ports=world.ports, clock=clock, sleep=clock.sleep)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_an_instance_of_the_live_slot_is_registered_at_the_target_group_port(world: World) -> None:
    # Given the deployment group lists slot A, When slot A launched an instance
    world.expect_live_groups("slot-a")
    result = run(world, world.event("slot-a"))
    # Then the instance is a target of the target group, at the target group's port
    assert result["status"] == "registered"
    assert world.registered_targets() == [(world.instances["slot-a"], APP_PORT)]


def test_an_instance_of_the_idle_slot_is_left_to_codedeploy(world: World) -> None:
    # Given the deployment group lists slot A, When slot B (a release filling it) launched an instance
    world.expect_live_groups("slot-a")
    result = run(world, world.event("slot-b"))
    # Then nothing is registered
    assert result["status"] == "idle-slot"
    assert world.registered_targets() == []


def test_an_instance_codedeploy_registered_already_stays_one_target(world: World) -> None:
    # Given the instance is registered already (by CodeDeploy, or by an earlier delivery of the same event)
    instance = world.instances["slot-a"]
    world.elbv2.register_targets(TargetGroupArn=world.target_group_arn, Targets=[{"Id": instance}])
    world.expect_live_groups("slot-a")
    # When the event arrives
    result = run(world, world.event("slot-a"))
    # Then registering again changes nothing
    assert result["status"] == "registered"
    assert world.registered_targets() == [(instance, APP_PORT)]


def test_a_group_that_lists_no_slot_registers_nothing(world: World) -> None:
    # Given the deployment group lists no Auto Scaling group
    world.expect_live_groups()
    result = run(world, world.event("slot-a"))
    # Then nothing is registered: no slot is live
    assert result["status"] == "no-live-slot"
    assert world.registered_targets() == []


def test_a_group_that_lists_both_slots_is_not_guessed_at(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the deployment group lists both slots (an anomaly the release tool resolves)
    world.expect_live_groups("slot-a", "slot-b")
    result = run(world, world.event("slot-a"))
    # Then nothing is registered, and the log line says why, as a warning
    assert result["status"] == "both-slots-listed"
    assert world.registered_targets() == []
    (line,) = log_lines(capsys)
    assert (line["level"], line["live_groups"]) == ("WARNING", ["slot-a", "slot-b"])


def test_throttling_is_logged_and_raised_for_lambdas_retry(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given CodeDeploy throttles GetDeploymentGroup
    world.expect_deployment_group_error("ThrottlingException", "Rate exceeded")
    # When the event arrives, Then the error reaches Lambda (bounded retries, then the dead-letter queue)
    with pytest.raises(TransientError, match="ThrottlingException"):
        run(world, world.event("slot-a"))
    # And nothing was registered, and one ERROR line names the cause
    assert world.registered_targets() == []
    (line,) = log_lines(capsys)
    assert (line["level"], line["reason"], line["instance_id"]) == (
        "ERROR",
        "ThrottlingException",
        world.instances["slot-a"],
    )


def test_an_instance_no_group_knows_is_not_registered(world: World) -> None:
    # Given an instance id that no Auto Scaling group has (terminated since the launch)
    event = world.event("slot-a")
    event["detail"]["EC2InstanceId"] = "i-0123456789abcdef0"
    world.expect_live_groups("slot-a")
    result = run(world, event)
    # Then nothing is registered
    assert result["status"] == "instance-gone"
    assert world.registered_targets() == []


def test_a_malformed_event_is_rejected_without_any_aws_call(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an event without an instance id
    event = world.event("slot-a")
    del event["detail"]["EC2InstanceId"]
    result = run(world, event)
    # Then it is rejected, logged with a metric, and nothing is registered
    assert result["status"] == "rejected"
    assert "EC2InstanceId" in result["reason"]
    (line,) = log_lines(capsys)
    assert line["MalformedEvents"] == 1
    assert world.registered_targets() == []


def test_one_decision_is_one_json_line_with_the_join_metric(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.expect_live_groups("slot-a")
    run(world, world.event("slot-a"))
    (line,) = log_lines(capsys)
    assert line["Decision"] == "registered"
    assert line["AutoScalingGroupName"] == "slot-a"
    assert line["lifecycle_state"] == "InService"
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "Joins", "Unit": "Count"}]
