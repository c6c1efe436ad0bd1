"""The release tool and the finisher finish through the same functions of `bluegreen.finish` (issue 12 §4: "sharing
one implementation"), so whichever acts first wins and the other finds the work done."""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen import finish
from tests.lambdas.finisher.conftest import SCHEDULED_EVENT, FinisherWorld
from tests.release import scenarios
from tests.release.support import SLOT_A, SLOT_B
from tests.release.test_faults import Faulty, release


def _recording(monkeypatch: pytest.MonkeyPatch, name: str) -> list[dict[str, Any]]:
    """Replace `bluegreen.finish.<name>` by a wrapper that records each call's keyword arguments."""
    calls: list[dict[str, Any]] = []
    original = getattr(finish, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append({"args": args[1:] if name == "empty_slot" else (), **kwargs})
        return original(*args, **kwargs)

    monkeypatch.setattr(finish, name, wrapper)
    return calls


def test_the_tool_and_the_finisher_switch_through_the_same_switch_steps(
    world: FinisherWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given bluegreen.finish.switch_steps recorded
    calls = _recording(monkeypatch, "switch_steps")
    world.release.scale(SLOT_A, 2)
    codedeploy = world.release.codedeploy(SLOT_A, scenarios.success())
    # When the tool releases onto B (and leaves its processes suspended: exit 7), then the finisher completes it
    autoscaling = Faulty(world.release.autoscaling).fail("resume_processes", when=lambda _p: bool(codedeploy.created))
    record, _ = release(world.release, codedeploy, autoscaling=autoscaling)
    world.release.autoscaling.suspend_processes(AutoScalingGroupName=SLOT_A, ScalingProcesses=["Launch"])
    codedeploy.listed = [SLOT_A]  # as if the tool's switch had not happened
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then both asked switch_steps for the same switch: B becomes live, A is emptied
    assert record.exit_code == 7
    assert answer["status"] == "switched"
    assert [(call["new_live"], call["old_live"]) for call in calls] == [(SLOT_B, SLOT_A), (SLOT_B, SLOT_A)]
    world.assert_converged(codedeploy, SLOT_B)


def test_the_tool_and_the_finisher_clean_up_through_the_same_rule_and_the_same_emptying(
    world: FinisherWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the cleanup rule and the emptying recorded
    rule = _recording(monkeypatch, "idle_may_be_emptied")
    emptied = _recording(monkeypatch, "empty_slot")
    world.release.scale(SLOT_A, 2)
    codedeploy = world.release.codedeploy(SLOT_A, scenarios.failure_at_after_install())
    # When the tool's deployment onto B fails and it cleans up; then B is scaled up again by hand and the sweep runs
    record, _ = release(world.release, codedeploy)
    world.release.scale(SLOT_B, 1)
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then both decided with idle_may_be_emptied (rollback succeeded) and emptied B with empty_slot
    assert record.exit_code == 1
    assert answer["status"] == "cleaned-up"
    assert [call["rollback_status"] for call in rule] == ["Succeeded", "Succeeded"]
    assert [call["args"] for call in emptied] == [(SLOT_B,), (SLOT_B,)]
    world.assert_converged(codedeploy, SLOT_A)
