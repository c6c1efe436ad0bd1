"""Scale-in of the live slot at any time (a scaling policy, a health replacement), end to end through the handler.

moto holds the live slot (two instances, both registered in the target group) and the target group; Auto Scaling's
own half of a scale-in, holding the chosen instance in Terminating:Wait and completing it, is not in moto, so the
Stubber stands for RecordLifecycleActionHeartbeat and CompleteLifecycleAction (checked against the service model),
and for the SSM command's output. The handler gets the EventBridge event Auto Scaling sends for that instance.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drain.handler import handle

from tests.lambdas.drain.conftest import World, build_world, wait_output


@pytest.fixture
def live_slot() -> Iterator[World]:
    """The live slot with two instances serving; the first is the one the scale-in chose."""
    yield from build_world(desired=2)


def test_a_scale_in_of_the_live_slot_deregisters_first_and_completes_once_no_request_is_in_flight(
    live_slot: World,
) -> None:
    # Given the live slot scaled in by one: Auto Scaling holds the chosen instance in Terminating:Wait, which still
    # has requests in flight (the wait on the instance runs for a few status reads before it reports 0)
    world = live_slot
    world.expect_heartbeat()
    world.expect_wait(wait_output(drained=True, checks=25, elapsed_cs=240), in_progress=4)
    world.expect_complete()

    # When the termination event reaches the drain Lambda
    result = handle(world.event(), config=world.config(), ports=world.ports, clock=world.clock, sleep=world.clock.sleep)

    # Then the instance was deregistered before anything else happened to it ...
    assert world.calls[:3] == ["DescribeTargetHealth", "DeregisterTargets", "RecordLifecycleActionHeartbeat"]
    # ... the action was completed with CONTINUE (the stub checks the parameters) only after the instance reported
    # no request in flight: the last status read came before the completion
    assert world.calls[3:] == ["SendCommand"] + ["GetCommandInvocation"] * 5 + ["CompleteLifecycleAction"]
    assert (result["status"], result["signal"]) == ("completed", "requests-drained")
    world.lifecycle.assert_no_pending_responses()
    world.run_command.assert_no_pending_responses()
    # ... and the rest of the live slot keeps serving: only the leaving instance left the target group
    assert world.registered_targets() == list(world.other_instance_ids)
