"""The pure decision with a fake `DrainPorts`: the bounds and signals that are awkward to stage in moto."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest
from drain.decision import (
    ActionNotActiveError,
    Completion,
    CompletionFailedError,
    DrainOutcome,
    InstanceWait,
    ProbeError,
    Signal,
    TransientError,
    drain,
)
from drain.event import LifecycleAction

from tests.lambdas.drain.conftest import SETTINGS, FakeClock

ACTION = LifecycleAction(group_name="slot-a", hook_name="hook", instance_id="i-1234567890abcdef0", token=None)


@dataclass
class FakePorts:
    """Scripted answers; a wait is an `InstanceWait` or an exception to raise, taking `wait_seconds` of fake time."""

    clock: FakeClock
    waits: list[InstanceWait | Exception] = field(default_factory=lambda: [drained()])
    states: list[Mapping[int, str] | Exception] = field(default_factory=lambda: [{8080: "healthy"}])
    heartbeat_error: Exception | None = None
    complete_errors: list[Exception] = field(default_factory=list)
    wait_seconds: float = 0.0
    deregistered: list[tuple[int, ...]] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    completed: int = 0

    def record_heartbeat(self, action: LifecycleAction) -> None:
        self.calls.append("heartbeat")
        if self.heartbeat_error:
            raise self.heartbeat_error

    def complete(self, action: LifecycleAction) -> None:
        self.calls.append("complete")
        if self.complete_errors:
            raise self.complete_errors.pop(0)
        self.completed += 1

    def target_states(self, instance_id: str) -> Mapping[int, str]:
        self.calls.append("target_states")
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if isinstance(state, Exception):
            raise state
        return state

    def deregister(self, instance_id: str, ports: Sequence[int]) -> None:
        self.calls.append("deregister")
        self.deregistered.append(tuple(ports))

    def wait_for_drain(self, instance_id: str, bound_seconds: float, give_up_at: float) -> InstanceWait:
        self.calls.append("wait")
        self.bounds.append(bound_seconds)
        self.clock.now += self.wait_seconds
        result = self.waits.pop(0) if len(self.waits) > 1 else self.waits[0]
        if isinstance(result, Exception):
            raise result
        return result


def drained(checks: int = 3) -> InstanceWait:
    return InstanceWait(drained=True, in_flight=0, checks=checks, instance_seconds=checks / 10, status_reads=2)


def run(ports: FakePorts, **kwargs: object) -> DrainOutcome:
    return drain(ACTION, SETTINGS, ports, clock=ports.clock, sleep=ports.clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_the_instance_is_deregistered_before_the_heartbeat_and_the_heartbeat_before_any_wait() -> None:
    # Given a registered instance that drains at once
    ports = FakePorts(FakeClock())

    # When it is drained, Then deregistration comes first, the heartbeat second, then the one wait
    run(ports)
    assert ports.calls == ["target_states", "deregister", "heartbeat", "wait", "complete"]


def test_a_late_event_whose_action_has_ended_still_deregisters_the_instance() -> None:
    # Given an event delivered after the hook ended (the instance is terminating, possibly still registered)
    ports = FakePorts(FakeClock(), heartbeat_error=ActionNotActiveError("ValidationError"))

    # When it is handled
    outcome = run(ports)

    # Then the instance is taken out of the target group anyway, and nothing is waited for or completed
    assert ports.deregistered == [(8080,)]
    assert outcome.signal == Signal.ACTION_NOT_ACTIVE
    assert ports.calls == ["target_states", "deregister", "heartbeat"]


def test_the_instance_side_bound_leaves_room_for_the_command_to_report_within_the_drain_bound() -> None:
    # Given the drain bound of 30 s (the deregistration delay)
    ports = FakePorts(FakeClock(), waits=[InstanceWait(False, 2, 270, 27.0)], wait_seconds=28.0)

    # When the instance is drained and never reaches 0
    outcome = run(ports)

    # Then the instance waits the bound less the command allowance, and the bound is reported
    assert ports.bounds == [pytest.approx(30 - SETTINGS.command_allowance)]
    assert (outcome.signal, outcome.in_flight, outcome.ssm_commands) == (Signal.BOUND_REACHED, 2, 1)


def test_a_failed_wait_is_retried_with_another_command_up_to_the_limit_then_the_bound_is_waited_out() -> None:
    # Given every wait fails (the agent never answers)
    clock = FakeClock()
    ports = FakePorts(clock, waits=[ProbeError("wait-timeout")], wait_seconds=2.0)

    # When the instance is drained
    outcome = run(ports)

    # Then a constant number of commands is tried, and the instance is let go at the bound
    assert outcome.ssm_commands == SETTINGS.max_wait_commands
    assert outcome.errors == {"wait-timeout": SETTINGS.max_wait_commands}
    assert outcome.signal == Signal.BOUND_REACHED
    assert outcome.drain_seconds == pytest.approx(30)


def test_a_wait_that_fails_once_is_followed_by_one_that_decides() -> None:
    # Given a first wait that fails and a second that drains
    ports = FakePorts(FakeClock(), waits=[ProbeError("command-Failed"), drained()])

    # When the instance is drained
    outcome = run(ports)

    # Then the second answer decides
    assert (outcome.signal, outcome.ssm_commands) == (Signal.REQUESTS_DRAINED, 2)
    assert outcome.errors == {"command-Failed": 1}


def test_a_target_already_draining_is_not_deregistered_again_and_ends_the_wait_when_it_leaves() -> None:
    # Given a target CodeDeploy is already deregistering, on an instance that cannot be asked, which leaves the group
    clock = FakeClock()
    ports = FakePorts(
        clock, waits=[ProbeError("InvalidInstanceId")], states=[{8080: "draining"}, {8080: "draining"}, {}]
    )

    # When the instance is drained
    outcome = run(ports)

    # Then it is let go when the load balancer has finished with it, before our own 30 s bound
    assert ports.deregistered == []
    assert outcome.signal == Signal.TARGET_DEREGISTERED
    assert outcome.drain_seconds < 30


def test_draining_state_alone_never_counts_as_drained() -> None:
    # Given a target that stays draining and an instance that cannot be asked
    clock = FakeClock()
    ports = FakePorts(clock, waits=[ProbeError("InvalidInstanceId")], states=[{8080: "draining"}])

    # When the instance is drained
    outcome = run(ports)

    # Then only the bound ends the wait
    assert outcome.signal == Signal.BOUND_REACHED
    assert outcome.drain_seconds == pytest.approx(30)


def test_an_instance_registered_at_two_ports_is_deregistered_at_both() -> None:
    # Given an instance registered at 8080 and 8081
    clock = FakeClock()
    ports = FakePorts(clock, states=[{8081: "healthy", 8080: "unhealthy"}])

    # When the instance is drained
    outcome = run(ports)

    # Then both registrations are removed
    assert ports.deregistered == [(8080, 8081)]
    assert outcome.deregistered_ports == (8080, 8081)


def test_an_unknown_registration_is_deregistered_at_the_app_port_and_still_asks_the_instance() -> None:
    # Given DescribeTargetHealth fails
    clock = FakeClock()
    ports = FakePorts(clock, states=[TransientError("Throttling")])

    # When the instance is drained
    outcome = run(ports)

    # Then it is deregistered at the app port and released on the instance's own signal
    assert ports.deregistered == [(8080,)]
    assert outcome.signal == Signal.REQUESTS_DRAINED


def test_the_bound_stays_inside_the_heartbeat_timeout() -> None:
    # Given a heartbeat timeout shorter than the deregistration delay (misconfigured)
    clock = FakeClock()
    ports = FakePorts(clock, waits=[ProbeError("InvalidInstanceId")])
    settings = replace(SETTINGS, deregistration_delay=300.0, heartbeat_timeout=60.0)

    # When the instance is drained
    outcome = drain(ACTION, settings, ports, clock=clock, sleep=clock.sleep)

    # Then it is released before the hook would time out, leaving the margin for the completion
    assert outcome.drain_seconds == pytest.approx(60 - settings.heartbeat_margin)


def test_the_bound_stays_inside_the_invocation() -> None:
    # Given an invocation with only 12 s left
    clock = FakeClock()
    ports = FakePorts(clock, waits=[ProbeError("InvalidInstanceId")])

    # When the instance is drained
    outcome = run(ports, hard_deadline=clock.now + 12)

    # Then it is released in time to complete
    assert outcome.drain_seconds == pytest.approx(12)


def test_a_failed_heartbeat_does_not_stop_the_drain() -> None:
    # Given RecordLifecycleActionHeartbeat is throttled
    clock = FakeClock()
    ports = FakePorts(clock, heartbeat_error=TransientError("Throttling"))

    # When the instance is drained
    outcome = run(ports)

    # Then the drain goes on and completes
    assert outcome.completion == Completion.COMPLETED
    assert outcome.errors == {"Throttling": 1}


def test_an_action_found_inactive_makes_no_ssm_call_and_no_completion() -> None:
    # Given the action was already completed and the instance has already left the target group
    clock = FakeClock()
    ports = FakePorts(
        clock,
        waits=[ProbeError("must not wait")],
        states=[{}],
        heartbeat_error=ActionNotActiveError("ValidationError"),
    )

    # When the instance is drained
    outcome = run(ports)

    # Then nothing is deregistered, waited for or completed
    assert outcome.signal == Signal.ACTION_NOT_ACTIVE
    assert (ports.deregistered, ports.completed) == ([], 0)
    assert "wait" not in ports.calls


def test_completion_throttled_every_time_gives_up_after_the_attempt_budget() -> None:
    # Given CompleteLifecycleAction is throttled on every attempt
    clock = FakeClock()
    ports = FakePorts(clock, complete_errors=[TransientError("Throttling")] * 10)

    # When the instance is drained, Then it raises after six attempts with capped backoff
    with pytest.raises(CompletionFailedError) as raised:
        run(ports)
    assert raised.value.outcome is not None
    assert raised.value.outcome.errors == {"Throttling": 6}
    assert clock.sleeps[-5:] == [0.5, 1.0, 2.0, 4.0, 5.0]
