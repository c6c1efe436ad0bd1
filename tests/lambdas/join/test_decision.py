"""The pure decision on fake ports: the waiting for InService, and the refusals that need no AWS to show."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from join.decision import Decision, InstanceGoneError, StillPendingError, join
from join.event import Launch

from tests.lambdas.join.conftest import FakeClock

LAUNCH = Launch(group_name="slot-a", instance_id="i-1234567890abcdef0")


@dataclass
class FakePorts:
    states: list[str | None]
    live: tuple[str, ...] = ("slot-a",)
    register_error: Exception | None = None
    registered: list[str] = field(default_factory=list)
    live_reads: int = 0

    def lifecycle_state(self, instance_id: str) -> str | None:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def live_groups(self) -> tuple[str, ...]:
        self.live_reads += 1
        return self.live

    def register(self, instance_id: str) -> None:
        if self.register_error is not None:
            raise self.register_error
        self.registered.append(instance_id)


def decide(ports: FakePorts, clock: FakeClock, budget: float = 300.0) -> object:
    return join(LAUNCH, ports, clock=clock, sleep=clock.sleep, deadline=clock() + budget, poll_interval=10.0)


def test_a_pending_instance_is_registered_once_in_service() -> None:
    # Given the instance is still in Pending:Wait for two reads (its launch hooks run)
    clock = FakeClock()
    ports = FakePorts(states=["Pending:Wait", "Pending:Proceed", "InService"])
    outcome = decide(ports, clock)
    # Then it is registered after two polls, and the live slot is read again after the wait
    assert outcome.decision == Decision.REGISTERED
    assert clock.sleeps == [10.0, 10.0]
    assert ports.registered == [LAUNCH.instance_id]
    assert ports.live_reads == 2


def test_an_instance_still_pending_at_the_deadline_is_left_to_the_retry() -> None:
    clock = FakeClock()
    ports = FakePorts(states=["Pending:Wait"])
    with pytest.raises(StillPendingError, match="Pending:Wait"):
        decide(ports, clock, budget=25.0)
    assert ports.registered == []


@pytest.mark.parametrize("state", ["Terminating:Wait", "Standby", "Detaching"])
def test_an_instance_that_is_not_in_service_is_not_registered(state: str) -> None:
    ports = FakePorts(states=[state])
    outcome = decide(ports, FakeClock())
    assert outcome.decision == Decision.NOT_IN_SERVICE
    assert ports.registered == []


def test_an_instance_the_target_group_refuses_as_gone_is_not_an_error() -> None:
    ports = FakePorts(states=["InService"], register_error=InstanceGoneError("InvalidTarget", "not running"))
    outcome = decide(ports, FakeClock())
    assert outcome.decision == Decision.INSTANCE_GONE


def test_an_instance_of_the_idle_slot_is_not_waited_for() -> None:
    # Given slot B is live and slot A's instance is still Pending (a release filling slot A)
    clock = FakeClock()
    ports = FakePorts(states=["Pending:Wait"], live=("slot-b",))
    outcome = decide(ports, clock)
    # Then the decision is made at once, without waiting for the instance
    assert outcome.decision == Decision.IDLE_SLOT
    assert clock.sleeps == []


def test_a_release_that_made_the_slot_idle_during_the_wait_is_seen() -> None:
    # Given slot A is live at first, then the deployment group moves to slot B while the instance is Pending
    clock = FakeClock()
    ports = FakePorts(states=["Pending:Wait", "InService"])
    reads = iter([("slot-a",), ("slot-b",)])
    ports.live_groups = lambda: next(reads)  # type: ignore[method-assign]
    outcome = decide(ports, clock)
    assert outcome.decision == Decision.IDLE_SLOT
    assert ports.registered == []
