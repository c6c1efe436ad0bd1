"""The shared finish rules (bluegreen.finish): when a release is finished, and when a failed slot may be emptied."""

from __future__ import annotations

import pytest

from bluegreen.finish import SUSPENDED_PROCESSES, Slot, converged, idle_may_be_emptied, traffic_reached_green


def slot(name: str, desired: int = 0, staying: tuple[str, ...] = (), suspended: frozenset[str] = frozenset()) -> Slot:
    return Slot(name=name, desired=desired, staying=staying, serving=len(staying), suspended=suspended)


LIVE = slot("a", 2, ("i-1", "i-2"))
EMPTY = slot("b")


def test_one_listed_slot_an_empty_other_and_nothing_suspended_is_finished() -> None:
    assert converged(["a"], {"a": LIVE, "b": EMPTY}) is None


@pytest.mark.parametrize(
    ("listed", "slots", "why"),
    [
        (["a", "b"], {"a": LIVE, "b": EMPTY}, "lists"),
        ([], {"a": LIVE, "b": EMPTY}, "no slot"),
        (["a"], {"a": LIVE, "b": slot("b", 2)}, "b is not live"),
        (["a"], {"a": LIVE, "b": slot("b", 0, ("i-3",))}, "b is not live"),
        (["a"], {"a": slot("a", 2, ("i-1",), frozenset({"Launch"})), "b": EMPTY}, "Launch suspended"),
    ],
)
def test_anything_else_is_unfinished_and_says_why(listed: list[str], slots: dict[str, Slot], why: str) -> None:
    reason = converged(listed, slots)
    assert reason is not None and why in reason


def test_an_operators_own_suspension_does_not_make_a_release_unfinished() -> None:
    # HealthCheck is not one of the processes a release suspends
    assert "HealthCheck" not in SUSPENDED_PROCESSES
    assert converged(["a"], {"a": slot("a", 2, ("i-1",), frozenset({"HealthCheck"})), "b": EMPTY}) is None


def test_finished_on_another_slot_is_not_finished_for_this_release() -> None:
    assert converged(["a"], {"a": LIVE, "b": EMPTY}, live="b") == "the deployment group lists a, not b"


@pytest.mark.parametrize(
    ("reached", "rollback", "allowed"),
    [
        (False, None, True),
        (False, "Failed", True),
        (True, "Succeeded", True),
        (True, "Failed", False),
        (True, None, False),
    ],
)
def test_a_failed_slot_is_emptied_only_when_no_traffic_can_be_on_it(
    reached: bool, rollback: str | None, allowed: bool
) -> None:
    assert idle_may_be_emptied(traffic_reached_green=reached, rollback_status=rollback) is allowed


@pytest.mark.parametrize(
    ("events", "reached"),
    [
        ([("Green", "AllowTraffic", "Pending")], False),
        ([("Green", "AllowTraffic", "InProgress")], True),
        ([("Green", "AllowTraffic", "Failed")], True),
        ([("Blue", "AllowTraffic", "Succeeded")], False),
        ([("Green", "AfterInstall", "Succeeded")], False),
    ],
)
def test_traffic_reached_green_once_a_green_allow_traffic_started(
    events: list[tuple[str, str, str]], reached: bool
) -> None:
    assert traffic_reached_green(events) is reached
