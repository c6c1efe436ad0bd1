"""Slots: reading them, scaling them, waiting for them, and pausing their scaling processes."""

from __future__ import annotations

import io

import pytest
from release import slots
from release.errors import Cancelled, TargetsError, TimedOut
from release.orchestrate import SlotPlan, capacity_for
from release.targets import Targets

from bluegreen.config import FleetSize
from tests.release.support import SLOT_A, SLOT_B, World


def _state(name: str, desired: int, max_size: int = 4) -> slots.SlotState:
    return slots.SlotState(name, 0, max_size, desired, (), frozenset())


def _targets(fleet: FleetSize) -> Targets:
    return Targets(bucket="b", application="a", deployment_group="g", slots=(SLOT_A, SLOT_B), fleet=fleet)


def test_capacity_is_the_live_size_when_it_exceeds_the_fleet_size() -> None:
    plan = SlotPlan(SLOT_A, SLOT_B, _state(SLOT_A, 3), _state(SLOT_B, 0), False)
    assert capacity_for(plan, _targets(FleetSize(1, 2, 4))) == 3


def test_capacity_is_the_fleet_size_when_the_live_slot_is_smaller_or_empty() -> None:
    plan = SlotPlan(SLOT_A, SLOT_B, _state(SLOT_A, 0), _state(SLOT_B, 0), True)
    assert capacity_for(plan, _targets(FleetSize(1, 2, 4))) == 2


def test_capacity_never_exceeds_the_maximum() -> None:
    plan = SlotPlan(SLOT_A, SLOT_B, _state(SLOT_A, 9, max_size=10), _state(SLOT_B, 0, max_size=4), False)
    assert capacity_for(plan, _targets(FleetSize(1, 2, 6))) == 6


def test_a_missing_slot_is_a_targets_error(world: World) -> None:
    with pytest.raises(TargetsError, match="no-such-group"):
        slots.describe_slots(world.autoscaling, [SLOT_A, "no-such-group"])


def test_processes_are_resumed_when_the_block_raises(world: World) -> None:
    # Given both slots with processes suspended inside the block
    with pytest.raises(RuntimeError), slots.processes_suspended(world.autoscaling, (SLOT_A, SLOT_B), lambda _: None):
        assert world.slot(SLOT_A)["SuspendedProcesses"]
        raise RuntimeError("boom")
    # Then nothing stays suspended
    assert world.slot(SLOT_A)["SuspendedProcesses"] == world.slot(SLOT_B)["SuspendedProcesses"] == []


def test_the_suspended_processes_are_the_ones_that_add_or_remove_instances() -> None:
    assert {"Launch", "Terminate", "AZRebalance", "ReplaceUnhealthy", "AlarmNotification", "ScheduledActions"} <= set(
        slots.SUSPENDED_PROCESSES
    )
    assert "HealthCheck" not in slots.SUSPENDED_PROCESSES


def test_waiting_for_instances_that_never_come_times_out_with_a_hint(world: World) -> None:
    # Given an empty slot and nobody scaling it
    runtime = world.runtime()
    # When waiting for 2 instances for 30 s, then it times out naming the slot
    with pytest.raises(TimedOut, match=SLOT_B) as caught:
        slots.wait_serving(world.autoscaling, SLOT_B, 2, runtime=runtime, timeout=30, log=io.StringIO().write)
    assert "--scale-timeout" in caught.value.hint


def test_waiting_stops_when_a_stop_is_requested(world: World) -> None:
    runtime = world.runtime()
    runtime.stop.request("SIGTERM")
    with pytest.raises(Cancelled, match="SIGTERM"):
        slots.wait_serving(world.autoscaling, SLOT_B, 2, runtime=runtime, timeout=300, log=lambda _: None)


def test_scaling_sets_desired_and_keeps_the_template_maximum(world: World) -> None:
    # When scaling slot B to 3 with minimum 1
    slots.scale(world.autoscaling, slots.describe_slots(world.autoscaling, [SLOT_B])[SLOT_B], 3, minimum=1)
    # Then desired is 3, min 1, max unchanged
    group = world.slot(SLOT_B)
    assert (group["DesiredCapacity"], group["MinSize"], group["MaxSize"]) == (3, 1, 4)
