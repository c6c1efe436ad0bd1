"""The pure decision with a fake `DrainPorts`: the bounds and signals that are awkward to stage in moto."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest
from drain.decision import (
    ActionNotActiveError,
    Completion,
    CompletionFailedError,
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
    """Scripted answers; a read is an int (the count) or an exception to raise."""

    clock: FakeClock
    reads: list[int | Exception] = field(default_factory=list)
    states: list[Mapping[int, str] | Exception] = field(default_factory=lambda: [{8080: "healthy"}])
    heartbeat_error: Exception | None = None
    complete_errors: list[Exception] = field(default_factory=list)
    read_seconds: float = 0.0
    deregistered: list[tuple[int, ...]] = field(default_factory=list)
    completed: int = 0

    def record_heartbeat(self, action: LifecycleAction) -> None:
        if self.heartbeat_error:
            raise self.heartbeat_error

    def complete(self, action: LifecycleAction) -> None:
        if self.complete_errors:
            raise self.complete_errors.pop(0)
        self.completed += 1

    def target_states(self, instance_id: str) -> Mapping[int, str]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if isinstance(state, Exception):
            raise state
        return state

    def deregister(self, instance_id: str, ports: Sequence[int]) -> None:
        self.deregistered.append(tuple(ports))

    def connection_count(self, instance_id: str, timeout: float) -> int:
        self.clock.now += self.read_seconds
        read = self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]
        if isinstance(read, Exception):
            raise read
        return read


def run(ports: FakePorts, **kwargs: object) -> object:
    return drain(ACTION, SETTINGS, ports, clock=ports.clock, sleep=ports.clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_reads_are_spaced_by_the_poll_interval_including_the_time_a_read_takes() -> None:
    # Given reads that take 1.5 s each and never reach zero
    clock = FakeClock()
    ports = FakePorts(clock, reads=[4], read_seconds=1.5)

    # When the instance is drained
    run(ports)

    # Then the function sleeps only the rest of each 5 s interval
    assert clock.sleeps[:-1] == pytest.approx([3.5] * (len(clock.sleeps) - 1))


def test_a_failed_read_between_two_zeros_does_not_count_as_drained() -> None:
    # Given zero, a failed read, zero, then zero
    clock = FakeClock()
    ports = FakePorts(clock, reads=[0, ProbeError("probe-timeout"), 0, 0])

    # When the instance is drained
    outcome = run(ports)

    # Then drained is decided only after two zero reads in a row
    assert outcome.signal == Signal.CONNECTIONS_DRAINED
    assert outcome.polls == 3
    assert outcome.errors == {"probe-timeout": 1}


def test_a_target_already_draining_is_not_deregistered_again_and_ends_the_wait_when_it_leaves() -> None:
    # Given a target CodeDeploy is already deregistering, busy, which leaves the group after two polls
    clock = FakeClock()
    ports = FakePorts(clock, reads=[3], states=[{8080: "draining"}, {8080: "draining"}, {}])

    # When the instance is drained
    outcome = run(ports)

    # Then it is let go when the load balancer has finished with it, before our own 30 s bound
    assert ports.deregistered == []
    assert outcome.signal == Signal.TARGET_DEREGISTERED
    assert outcome.drain_seconds < 30


def test_draining_state_alone_never_counts_as_drained() -> None:
    # Given a target that stays draining and an instance that keeps a connection
    clock = FakeClock()
    ports = FakePorts(clock, reads=[1], states=[{8080: "draining"}])

    # When the instance is drained
    outcome = run(ports)

    # Then only the bound ends the wait
    assert outcome.signal == Signal.BOUND_REACHED
    assert outcome.drain_seconds == pytest.approx(30)


def test_an_instance_registered_at_two_ports_is_deregistered_at_both() -> None:
    # Given an instance registered at 8080 and 8081
    clock = FakeClock()
    ports = FakePorts(clock, reads=[0], states=[{8081: "healthy", 8080: "unhealthy"}])

    # When the instance is drained
    outcome = run(ports)

    # Then both registrations are removed
    assert ports.deregistered == [(8080, 8081)]
    assert outcome.deregistered_ports == (8080, 8081)


def test_an_unknown_registration_is_deregistered_at_the_app_port_and_waits_the_full_bound() -> None:
    # Given DescribeTargetHealth fails and the instance never reads zero
    clock = FakeClock()
    ports = FakePorts(clock, reads=[2], states=[TransientError("Throttling")])

    # When the instance is drained
    outcome = run(ports)

    # Then it is deregistered at the app port and released at the bound
    assert ports.deregistered == [(8080,)]
    assert outcome.signal == Signal.BOUND_REACHED


def test_the_bound_stays_inside_the_heartbeat_timeout() -> None:
    # Given a heartbeat timeout shorter than the deregistration delay (misconfigured)
    clock = FakeClock()
    ports = FakePorts(clock, reads=[2])
    settings = replace(SETTINGS, deregistration_delay=300.0, heartbeat_timeout=60.0)

    # When the instance is drained
    outcome = drain(ACTION, settings, ports, clock=clock, sleep=clock.sleep)

    # Then it is released before the hook would time out, leaving the margin for the completion
    assert outcome.drain_seconds == pytest.approx(60 - settings.heartbeat_margin)


def test_the_bound_stays_inside_the_invocation() -> None:
    # Given an invocation with only 12 s left
    clock = FakeClock()
    ports = FakePorts(clock, reads=[2])

    # When the instance is drained
    outcome = run(ports, hard_deadline=clock.now + 12)

    # Then it is released in time to complete
    assert outcome.drain_seconds == pytest.approx(12)


def test_a_failed_heartbeat_does_not_stop_the_drain() -> None:
    # Given RecordLifecycleActionHeartbeat is throttled
    clock = FakeClock()
    ports = FakePorts(clock, reads=[0], heartbeat_error=TransientError("Throttling"))

    # When the instance is drained
    outcome = run(ports)

    # Then the drain goes on and completes
    assert outcome.completion == Completion.COMPLETED
    assert outcome.errors == {"Throttling": 1}


def test_an_action_found_inactive_at_the_start_makes_no_other_call() -> None:
    # Given the action was already completed
    clock = FakeClock()
    ports = FakePorts(
        clock, reads=[ProbeError("must not read")], heartbeat_error=ActionNotActiveError("ValidationError")
    )

    # When the instance is drained
    outcome = run(ports)

    # Then nothing is deregistered, read or completed
    assert outcome.signal == Signal.ACTION_NOT_ACTIVE
    assert (ports.deregistered, ports.completed) == ([], 0)


def test_completion_throttled_every_time_gives_up_after_the_attempt_budget() -> None:
    # Given CompleteLifecycleAction is throttled on every attempt
    clock = FakeClock()
    ports = FakePorts(clock, reads=[0], complete_errors=[TransientError("Throttling")] * 10)

    # When the instance is drained, Then it raises after six attempts with capped backoff
    with pytest.raises(CompletionFailedError) as raised:
        run(ports)
    assert raised.value.outcome is not None
    assert raised.value.outcome.errors == {"Throttling": 6}
    assert clock.sleeps[-5:] == [0.5, 1.0, 2.0, 4.0, 5.0]
