"""The finisher and the bake window (issue 14 §1): the window's end is enforced in AWS once its run is gone, and a
window that still runs, or a fast rollback, is never undone by the finisher's ordinary switch."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bluegreen import bake
from tests.bluegreen.test_bake_record import EXAMPLES
from tests.lambdas.finisher.conftest import SCHEDULED_EVENT, FinisherWorld
from tests.release.fakes import FakeCodeDeploy
from tests.release.support import APP, BUCKET, GROUP, SLOT_A, SLOT_B

KEY = bake.window_key(APP, GROUP)


def _baked(world: FinisherWorld, *, minutes_left: int, state: str = bake.OPEN) -> FakeCodeDeploy:
    """A release onto B succeeded; its run opened a bake window keeping A (2 instances) and then vanished (its lease
    released or expired): the group lists B, both slots hold 2 instances."""
    world.release.scale(SLOT_A, 2)
    world.release.scale(SLOT_B, 2)
    codedeploy = world.release.codedeploy(SLOT_B)
    deployment = codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, minutes_ago=10)
    now = world.release.clock.now()
    window = bake.Window(
        release_id="baker",
        deployment_id=deployment,
        old_slot=SLOT_A,
        new_slot=SLOT_B,
        opened=now - timedelta(minutes=10),
        deadline=now + timedelta(minutes=minutes_left),
        state=state,
        reason="test",
    )
    bake.open_window(world.release.s3, BUCKET, KEY, window)
    return codedeploy


def _window(world: FinisherWorld) -> bake.Window:
    window = bake.read_window(world.release.s3, BUCKET, KEY)
    assert window is not None
    return window


def test_after_the_deadline_the_sweep_empties_the_old_slot_of_a_window_whose_run_is_gone(world: FinisherWorld) -> None:
    # Given a bake window whose deadline passed a minute ago, its run gone
    codedeploy = _baked(world, minutes_left=-1)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the release is converged on B (A emptied through the drain path) and the window is closed
    assert answer["status"] == "switched"
    world.assert_converged(codedeploy, SLOT_B)
    window = _window(world)
    assert window.state == bake.CLOSED and "finisher" in window.reason


def test_before_the_deadline_the_sweep_keeps_the_old_slot_and_writes_nothing(world: FinisherWorld) -> None:
    # Given a bake window with 5 minutes left, its run gone
    codedeploy = _baked(world, minutes_left=5)
    before = _window(world)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then A keeps its instances, the group still lists B, and the window is as it was
    assert answer["status"] == "bake-window-open"
    assert world.release.slot(SLOT_A)["DesiredCapacity"] == 2
    assert codedeploy.listed == [SLOT_B]
    assert _window(world).etag == before.etag


def test_a_rollback_requested_before_the_deadline_is_never_undone_by_the_sweep_after_it(world: FinisherWorld) -> None:
    # Given a rollback requested inside the window, whose deadline has passed since
    codedeploy = _baked(world, minutes_left=-1, state=bake.ROLLBACK_REQUESTED)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the old slot is kept for the rollback (`deploy.py rollback` completes it)
    assert answer["status"] == "fast-rollback-pending"
    assert world.release.slot(SLOT_A)["DesiredCapacity"] == 2
    assert _window(world).state == bake.ROLLBACK_REQUESTED


def test_a_fast_rollback_that_reached_the_old_slot_is_finished_onto_it_not_switched_back(world: FinisherWorld) -> None:
    # Given a fast rollback that put traffic on A (state rolled-back) and whose run died before re-pointing the group
    codedeploy = _baked(world, minutes_left=5, state=bake.ROLLED_BACK)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the group lists A and B is emptied, although the last successful deployment targeted B
    assert answer["status"] == "fast-rollback-finished"
    world.assert_converged(codedeploy, SLOT_A)


def test_a_window_of_an_older_deployment_does_not_hold_a_newer_release(world: FinisherWorld) -> None:
    # Given an open window recorded for another deployment than the group's last one
    codedeploy = _baked(world, minutes_left=5)
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, minutes_ago=1)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the finisher finishes the newer release as always
    assert answer["status"] == "switched"
    world.assert_converged(codedeploy, SLOT_B)


class _NoListBucket:
    """The S3 client as the finisher's role sees it: GetObject of a missing key answers 403 AccessDenied, since the
    role has no s3:ListBucket (docs/decisions.md F86)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_object(self, **params: Any) -> Any:
        try:
            return self._client.get_object(**params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_without_list_bucket_a_missing_window_still_lets_the_finisher_switch(world: FinisherWorld) -> None:
    # Given a success onto B whose run died (no bake window ever recorded) and S3 answering a missing key with 403
    world.release.scale(SLOT_A, 2)
    world.release.scale(SLOT_B, 2)
    codedeploy = world.release.codedeploy(SLOT_A)
    codedeploy.add_deployment(status="Succeeded", target_slot=SLOT_B, minutes_ago=10)
    world.release.s3 = _NoListBucket(world.release.s3)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then the missing window counts as none: the release is switched and converged on B
    assert answer["status"] == "switched"
    world.assert_converged(codedeploy, SLOT_B)


@pytest.mark.parametrize("body", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_a_record_that_is_not_a_window_is_logged_and_taken_as_absent_never_an_error(
    world: FinisherWorld, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a release onto B that succeeded, whose window record was replaced by one that is not a window
    codedeploy = _baked(world, minutes_left=5)
    world.release.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    # When the sweep runs
    answer = world.invoke(SCHEDULED_EVENT, codedeploy)
    # Then it answers normally (no retry into the dead-letter queue) and finishes the release as without a window
    assert answer["status"] == "switched"
    world.assert_converged(codedeploy, SLOT_B)
    # And its log line is a warning naming the record
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["level"] == "WARNING"
    assert line["window"].startswith(f"bake window record unreadable, taken as absent: s3://{BUCKET}/{KEY}: ")
