"""Scripted deployments for the release tests: how CodeDeploy reports a success, a failure, a slow deployment; and a
release whose phases took known times, for the report's model beside the measurements."""

from __future__ import annotations

from datetime import datetime, timedelta

from release.follow import LifecycleEvent, Snapshot, Target
from release.record import Phase, ReleaseRecord

from bluegreen.timing import TrafficTiming, release_model
from tests.release.fakes import BLUE_EVENTS, GREEN_EVENTS, T0, Frame, Script, all_succeeded, event, instance

GREEN_1 = "i-0green000000000001"
GREEN_2 = "i-0green000000000002"
BLUE_1 = "i-0blue0000000000001"


def _green_running() -> list[dict]:
    events = [*all_succeeded(GREEN_EVENTS[:4]), event("AfterInstall", "InProgress", 4)]
    events += [event(name, "Pending") for name in GREEN_EVENTS[5:]]
    return [instance(GREEN_1, "Green", events), instance(GREEN_2, "Green", [event(n, "Pending") for n in GREEN_EVENTS])]


def _done() -> list[dict]:
    return [
        instance(GREEN_1, "Green", all_succeeded(GREEN_EVENTS)),
        instance(GREEN_2, "Green", all_succeeded(GREEN_EVENTS, offset=10)),
        instance(BLUE_1, "Blue", all_succeeded(BLUE_EVENTS, offset=20)),
    ]


def success() -> Script:
    """Created → InProgress (AfterInstall running) → Succeeded."""
    return Script([Frame("Created"), Frame("InProgress", _green_running()), Frame("Succeeded", _done())])


def failed_targets() -> list[dict]:
    """Green 1 failed at AfterInstall with the agent's diagnostics; the rest was skipped."""
    events = all_succeeded(GREEN_EVENTS[:4])
    events.append(
        event(
            "AfterInstall",
            "Failed",
            4,
            9,
            errorCode="ScriptFailed",
            scriptName="scripts/after_install.sh",
            message="Script at specified location: scripts/after_install.sh run as user root failed with exit code 3",
            logTail="[stdout]installing\n[stderr]config.json: missing key 'port'\n",
        )
    )
    events += [event(name, "Skipped") for name in GREEN_EVENTS[5:]]
    return [instance(GREEN_1, "Green", events), instance(GREEN_2, "Green", [event(n, "Skipped") for n in GREEN_EVENTS])]


def failure_at_after_install(*, rollback: bool = True) -> Script:
    """InProgress → Failed at AfterInstall; CodeDeploy starts a rollback deployment that succeeds."""
    rollback_frames = [Frame("InProgress"), Frame("Succeeded")] if rollback else None
    failed = Frame(
        "Failed",
        failed_targets(),
        error={
            "code": "HOOK_EXECUTION_FAILURE",
            "message": "The deployment failed because a specified file already exists or a lifecycle hook failed",
        },
        rollback={"rollbackMessage": "Rollback in progress" if rollback else "No rollback: first deployment"},
        rollback_frames=rollback_frames,
    )
    return Script([Frame("InProgress", _green_running()), failed])


def traffic_then_failure() -> Script:
    """Green took traffic, then a blue event failed: the rollback must finish before green may be emptied."""
    green = [instance(GREEN_1, "Green", all_succeeded(GREEN_EVENTS))]
    blue = [
        instance(
            BLUE_1,
            "Blue",
            [
                event(
                    "BeforeBlockTraffic",
                    "Failed",
                    30,
                    31,
                    errorCode="ScriptFailed",
                    scriptName="scripts/drain.sh",
                    message="exit 1",
                    logTail="",
                )
            ],
        )
    ]
    failed = Frame(
        "Failed",
        green + blue,
        rollback={"rollbackMessage": "Rollback in progress"},
        rollback_frames=[Frame("InProgress"), Frame("Succeeded")],
    )
    return Script([Frame("InProgress", green), failed])


def stopped_then_rolled_back(rollback_polls: int = 3) -> Script:
    """Runs until stopped; the stop leaves it Stopped, and CodeDeploy's rollback deployment then runs for
    `rollback_polls` polls before it succeeds."""
    stopped = Frame(
        "Stopped",
        _green_running(),
        error={"code": "DEPLOYMENT_STOPPED", "message": "stopped by the user"},
        rollback={"rollbackMessage": "Rollback in progress"},
        rollback_frames=[*(Frame("InProgress") for _ in range(rollback_polls)), Frame("Succeeded")],
    )
    return Script([Frame("InProgress", _green_running())], after_stop=stopped)


def never_ending(**kwargs: object) -> Script:
    """Stays InProgress for ever (until stopped)."""
    return Script([Frame("InProgress", _green_running())], after_stop=Frame("Stopped", _green_running()), **kwargs)


def at(seconds: float) -> datetime:
    """`seconds` after the fakes' T0."""
    return T0 + timedelta(seconds=seconds)


def measured_release() -> ReleaseRecord:
    """Two Green and two Blue instances whose events took known times, with the stack's default model."""

    def events(*spans: tuple[str, float, float]) -> tuple[LifecycleEvent, ...]:
        return tuple(LifecycleEvent(name, "Succeeded", at(start), at(end)) for name, start, end in spans)

    green_1 = events(("DownloadBundle", 104, 106), ("ValidateService", 106, 110), ("AllowTraffic", 120, 131))
    green_2 = events(("DownloadBundle", 110, 112), ("ValidateService", 112, 118), ("AllowTraffic", 131, 142))
    blue = events(("BlockTraffic", 142, 175))
    record = ReleaseRecord(command="release", started=T0, finished=at(180))
    record.phases = [Phase("scale-up", at(5), at(97)), Phase("deployment", at(100), at(176))]
    record.snapshot = Snapshot(
        {"status": "Succeeded"},
        (
            Target("i-g1", "Green", "Succeeded", green_1),
            Target("i-g2", "Green", "Succeeded", green_2),
            Target("i-b1", "Blue", "Succeeded", blue),
            Target("i-b2", "Blue", "Succeeded", blue),
        ),
    )
    record.model = release_model(
        TrafficTiming(interval_seconds=5, healthy_threshold=2, deregistration_delay_seconds=30),
        instances=2,
        deployment_config_name="CodeDeployDefault.OneAtATime",
    )
    return record
