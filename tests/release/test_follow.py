"""Following a deployment: batching target reads, back-off, transient errors, and the two views."""

from __future__ import annotations

import io
import random

from botocore.exceptions import EndpointConnectionError
from release.follow import Backoff, failure_lines, follow, format_seconds, is_transient, read_targets
from release.runtime import Runtime
from release.views import LineView, LiveView, make_view

from tests.release import scenarios
from tests.release.fakes import (
    GREEN_EVENTS,
    FakeClock,
    FakeCodeDeploy,
    Frame,
    Script,
    all_succeeded,
    client_error,
    instance,
)


def _many_targets(count: int) -> list[dict]:
    return [instance(f"i-{n:017d}", "Green", all_succeeded(GREEN_EVENTS)) for n in range(count)]


def _deployment(frames: list[Frame], **script) -> tuple[FakeCodeDeploy, str]:
    codedeploy = FakeCodeDeploy("app", "group", "slot-a", script=Script(frames, **script))
    deployment_id = codedeploy.create_deployment(
        applicationName="app",
        deploymentGroupName="group",
        revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip", "eTag": "e"}},
        targetInstances={"autoScalingGroups": ["slot-b"]},
    )["deploymentId"]
    return codedeploy, deployment_id


def test_targets_are_read_at_most_25_per_batch_call() -> None:
    # Given a deployment with 60 instances
    codedeploy, deployment_id = _deployment([Frame("InProgress", _many_targets(60))])
    codedeploy.get_deployment(deploymentId=deployment_id)
    # When reading its targets
    targets = read_targets(codedeploy, deployment_id)
    # Then all 60 came back through calls of at most 25 ids
    assert len(targets) == 60
    assert [len(c["targetIds"]) for c in codedeploy.called("batch_get_deployment_targets")] == [25, 25, 10]


def test_following_ends_when_the_deployment_reaches_a_terminal_status() -> None:
    # Given a deployment that succeeds on the third poll
    codedeploy, deployment_id = _deployment([Frame("Created"), Frame("InProgress"), Frame("Succeeded")])
    clock = FakeClock()
    view = LineView(io.StringIO(), clock.now)
    # When following it
    result = follow(codedeploy, deployment_id, runtime=Runtime(clock.now, clock.sleep), view=view, timeout=600)
    # Then it finished Succeeded after two sleeps
    assert (result.ending, result.snapshot.status) == ("finished", "Succeeded")
    assert len(clock.sleeps) == 2


def test_following_reports_a_timeout_without_stopping_anything() -> None:
    # Given a deployment that never ends
    codedeploy, deployment_id = _deployment([Frame("InProgress")])
    clock = FakeClock()
    # When following it for 30 s
    result = follow(
        codedeploy,
        deployment_id,
        runtime=Runtime(clock.now, clock.sleep),
        view=LineView(io.StringIO(), clock.now),
        timeout=30,
    )
    # Then it ends with "timeout" and no StopDeployment (the caller decides)
    assert result.ending == "timeout"
    assert codedeploy.called("stop_deployment") == []


def test_a_non_transient_error_is_not_swallowed() -> None:
    # Given a deployment id that does not exist
    codedeploy, _ = _deployment([Frame("InProgress")])

    def missing(**_params):
        raise client_error("DeploymentDoesNotExistException", "GetDeployment")

    codedeploy.get_deployment = missing
    clock = FakeClock()
    # When following it, then the error propagates
    try:
        follow(
            codedeploy,
            "d-MISSING",
            runtime=Runtime(clock.now, clock.sleep),
            view=LineView(io.StringIO(), clock.now),
            timeout=30,
        )
    except Exception as exc:
        assert "DeploymentDoesNotExistException" in str(exc)
    else:
        raise AssertionError("expected the error to propagate")


def test_throttling_5xx_and_dropped_connections_are_transient() -> None:
    # Then throttling, service errors and connection drops are worth another poll, a validation error is not
    assert is_transient(client_error("ThrottlingException", "GetDeployment"))
    assert is_transient(client_error("ServiceUnavailable", "GetDeployment"))
    assert is_transient(EndpointConnectionError(endpoint_url="https://codedeploy"))
    assert not is_transient(client_error("InvalidDeploymentIdException", "GetDeployment"))


def test_back_off_doubles_per_throttle_up_to_the_cap_with_jitter() -> None:
    # Given a back-off of 5 s capped at 60 s
    backoff = Backoff(base=5, cap=60, rng=random.Random(7))
    delays = []
    # When throttled six times in a row
    for _ in range(6):
        backoff.throttled()
        delays.append(backoff.next_delay())
    # Then the delays grow, never pass the cap plus jitter, and a good poll resets them
    assert delays[0] < delays[2]
    assert max(delays) <= 60 * 1.2
    backoff.ok()
    assert backoff.next_delay() <= 5 * 1.2


def test_failure_lines_name_the_instance_event_and_diagnostics() -> None:
    # Given the failed AfterInstall of a green instance
    codedeploy, deployment_id = _deployment([Frame("Failed", scenarios.failed_targets())])
    codedeploy.get_deployment(deploymentId=deployment_id)
    # When formatting the failure
    text = "\n".join(failure_lines(read_targets(codedeploy, deployment_id)))
    # Then each diagnostic field is there
    assert "AfterInstall failed" in text and "ScriptFailed" in text and "after_install.sh" in text
    assert "missing key 'port'" in text


def test_the_line_view_writes_no_control_characters() -> None:
    # Given a plain view
    clock = FakeClock()
    stream = io.StringIO()
    view = make_view(stream, clock.now)
    codedeploy, deployment_id = _deployment([Frame("InProgress", scenarios.failed_targets())])
    # When showing a snapshot
    view.update(
        follow(codedeploy, deployment_id, runtime=Runtime(clock.now, clock.sleep), view=view, timeout=0).snapshot
    )
    # Then it is a LineView with timestamped lines and nothing else
    assert isinstance(view, LineView)
    assert "\x1b" not in stream.getvalue()
    assert stream.getvalue().startswith("2026-01-01T12:00:00Z")


def test_the_live_view_redraws_in_place() -> None:
    # Given a live view
    clock = FakeClock()
    stream = io.StringIO()
    view = LiveView(stream, clock.now)
    codedeploy, deployment_id = _deployment([Frame("InProgress", scenarios.failed_targets())])
    # When two snapshots are shown
    for _ in range(2):
        codedeploy.get_deployment(deploymentId=deployment_id)
        snapshot = follow(
            codedeploy, deployment_id, runtime=Runtime(clock.now, clock.sleep), view=view, timeout=0
        ).snapshot
        view.update(snapshot)
    # Then the second draw moved the cursor back over the first
    assert "\x1b[" in stream.getvalue()


def test_durations_read_naturally() -> None:
    assert format_seconds(None) == "-"
    assert format_seconds(12.4) == "12 s"
    assert format_seconds(185) == "3 min 05 s"
