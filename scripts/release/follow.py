"""Follow a deployment to its end: poll with jittered back-off, collect every instance's lifecycle events, show them.

Per-instance detail comes from ListDeploymentTargets + BatchGetDeploymentTargets (`deployments.deployment_targets`;
the *DeploymentInstance* APIs are deprecated). For EC2 targets each `instanceTarget` carries
`instanceLabel` (Blue = original, Green = replacement) and `lifecycleEvents` with `lifecycleEventName`, `status`,
`startTime`, `endTime` and `diagnostics` (`errorCode`, `scriptName`, `message`, `logTail`).

A poll that is throttled (after the SDK's own retries) never fails the release: the loop backs off and polls again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from release.deployments import TERMINAL_STATUSES, deployment_targets, get_deployment
from release.retry import is_transient
from release.runtime import Runtime


@dataclass(frozen=True)
class LifecycleEvent:
    """One lifecycle event of one instance."""

    name: str
    status: str
    start: datetime | None
    end: datetime | None
    error_code: str = ""
    script_name: str = ""
    message: str = ""
    log_tail: str = ""

    @property
    def seconds(self) -> float | None:
        """Duration once finished."""
        return (self.end - self.start).total_seconds() if self.start and self.end else None


@dataclass(frozen=True)
class Target:
    """One instance of the deployment, Blue (original) or Green (replacement)."""

    target_id: str
    label: str
    status: str
    events: tuple[LifecycleEvent, ...]

    @property
    def failed_events(self) -> tuple[LifecycleEvent, ...]:
        """Events that failed (normally at most one: CodeDeploy skips the rest)."""
        return tuple(event for event in self.events if event.status == "Failed")


@dataclass(frozen=True)
class Snapshot:
    """What one poll saw."""

    deployment: dict[str, Any]
    targets: tuple[Target, ...]

    @property
    def status(self) -> str:
        """The deployment status."""
        return str(self.deployment.get("status", "Unknown"))


@dataclass(frozen=True)
class FollowResult:
    """How following ended: `finished` (terminal status), `timeout`, `cancelled`, or `ready` (waiting for promotion,
    only when asked for); the release adds `check-failed` (its pre-promotion check failed and it stopped the
    deployment)."""

    ending: str
    snapshot: Snapshot


class View(Protocol):
    """Where progress goes: a live table on a terminal, timestamped lines in CI."""

    def note(self, text: str) -> None:
        """Show a free-form progress line."""

    def update(self, snapshot: Snapshot) -> None:
        """Show what changed since the last snapshot."""

    def close(self) -> None:
        """Leave the screen tidy."""


def parse_target(raw: dict[str, Any]) -> Target | None:
    """A BatchGetDeploymentTargets entry as a `Target` (EC2 targets only; others are ignored)."""
    instance = raw.get("instanceTarget")
    if not instance:
        return None
    events = []
    for item in instance.get("lifecycleEvents", []):
        diagnostics = item.get("diagnostics") or {}
        events.append(
            LifecycleEvent(
                name=item.get("lifecycleEventName", "?"),
                status=item.get("status", "Unknown"),
                start=item.get("startTime"),
                end=item.get("endTime"),
                error_code=diagnostics.get("errorCode", ""),
                script_name=diagnostics.get("scriptName", ""),
                message=diagnostics.get("message", ""),
                log_tail=diagnostics.get("logTail", ""),
            )
        )
    return Target(
        target_id=instance.get("targetId", "?"),
        label=instance.get("instanceLabel", ""),
        status=instance.get("status", "Unknown"),
        events=tuple(events),
    )


def read_targets(codedeploy: Any, deployment_id: str) -> tuple[Target, ...]:
    """Every target of the deployment with its lifecycle events, Green first then Blue, by id."""
    parsed = (parse_target(raw) for raw in deployment_targets(codedeploy, deployment_id))
    targets = [target for target in parsed if target is not None]
    targets.sort(key=lambda target: (target.label != "Green", target.target_id))
    return tuple(targets)


@dataclass
class Backoff:
    """Poll interval with jitter: `base` normally, doubled per throttled poll up to `cap`, reset after a good poll.

    Jitter (±20 %) keeps several pipelines polling the same account from synchronising.
    """

    base: float = 5.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    _throttled: int = 0

    def ok(self) -> None:
        """A poll went through."""
        self._throttled = 0

    def throttled(self) -> None:
        """A poll was throttled or hit a transient error."""
        self._throttled += 1

    def next_delay(self) -> float:
        """Seconds to sleep before the next poll."""
        delay = min(self.cap, self.base * (2.0**self._throttled))
        return delay * self.rng.uniform(0.8, 1.2)


def poll(codedeploy: Any, deployment_id: str) -> Snapshot:
    """One look at the deployment and its targets."""
    info = get_deployment(codedeploy, deployment_id)
    return Snapshot(deployment=info, targets=read_targets(codedeploy, deployment_id))


def follow(
    codedeploy: Any,
    deployment_id: str,
    *,
    runtime: Runtime,
    view: View,
    timeout: float,
    backoff: Backoff | None = None,
    stop_at: int = 1,
    until_ready: bool = False,
) -> FollowResult:
    """Poll until the deployment reaches Succeeded/Failed/Stopped, the timeout passes, or a stop is requested.

    Neither a timeout nor a stop is acted on here: the caller decides (StopDeployment, cleanup). `stop_at` is the
    number of stop requests that ends following: 1 normally, one more than already seen while cleaning up (so a
    second SIGINT/SIGTERM skips the wait for the rollback). With `until_ready`, following also ends ("ready") at the
    first poll that shows the deployment `Ready`: installed on the replacement slot and waiting for ContinueDeployment
    (the promotion gate, docs/decisions.md F81).
    """
    backoff = backoff or Backoff()
    started = runtime.now()
    last: Snapshot = Snapshot(deployment={"deploymentId": deployment_id, "status": "Created"}, targets=())
    warned_ready = False
    while True:
        try:
            last = poll(codedeploy, deployment_id)
            backoff.ok()
        except (ClientError, ConnectionError, ReadTimeoutError) as exc:
            if not is_transient(exc):
                raise
            backoff.throttled()
            view.note(f"poll not answered ({_error_code(exc)}); trying again in about {backoff.next_delay():.0f} s")
        else:
            view.update(last)
            if last.status in TERMINAL_STATUSES:
                return FollowResult("finished", last)
            if last.status == "Ready" and until_ready:
                return FollowResult("ready", last)
            if last.status == "Ready" and not warned_ready:
                warned_ready = True
                view.note("deployment is Ready: waiting for ContinueDeployment (deploymentReadyOption STOP_DEPLOYMENT)")
        if runtime.stop.count >= stop_at:
            return FollowResult("cancelled", last)
        if (runtime.now() - started).total_seconds() >= timeout:
            return FollowResult("timeout", last)
        runtime.sleep(backoff.next_delay())


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


def failure_lines(targets: Sequence[Target]) -> list[str]:
    """The failed instance(s), lifecycle event, errorCode, scriptName, message and logTail, ready to print."""
    lines: list[str] = []
    for target in targets:
        for event in target.failed_events:
            lines.append(f"{target.label or '?'} instance {target.target_id}: {event.name} failed")
            lines.append(f"  errorCode:  {event.error_code or '-'}")
            lines.append(f"  scriptName: {event.script_name or '-'}")
            lines.append(f"  message:    {event.message or '-'}")
            if event.log_tail:
                lines.append("  logTail:")
                lines.extend(f"    {line}" for line in event.log_tail.rstrip().splitlines())
    return lines


def format_seconds(seconds: float | None) -> str:
    """`12 s`, `3 min 05 s`; `-` when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


# `status --follow`: how long to wait for CodeDeploy to name the rollback of a failed or stopped deployment.
ROLLBACK_NAMED_WITHIN_SECONDS = 60.0


@dataclass(frozen=True)
class Watched:
    """How `status --follow` saw a deployment end: the deployment's result and, if CodeDeploy rolled it back, the
    rollback deployment's id, its last status and CodeDeploy's rollback message."""

    result: FollowResult
    rollback_id: str | None = None
    rollback_status: str | None = None
    rollback_message: str | None = None


def watch(codedeploy: Any, deployment_id: str, *, runtime: Runtime, view: View, timeout: float) -> Watched:
    """Follow a deployment another run started to its end and, when it did not succeed, its rollback too.

    Unlike a release, nothing is stopped here: a timeout or a stop request only ends the watch (`result.ending`
    "timeout" or "cancelled"), and the deployment runs on. The rollback is named in GetDeployment's `rollbackInfo`
    shortly after the failure; it is waited for (at most `ROLLBACK_NAMED_WITHIN_SECONDS`) and followed within what is
    left of `timeout`, so that a finish after it finds no deployment in flight.
    """
    started = runtime.now()
    result = follow(codedeploy, deployment_id, runtime=runtime, view=view, timeout=timeout)
    if result.ending != "finished" or result.snapshot.status == "Succeeded":
        return Watched(result)
    info = result.snapshot.deployment
    waited = 0.0
    while not (info.get("rollbackInfo") or {}).get("rollbackDeploymentId") and waited < ROLLBACK_NAMED_WITHIN_SECONDS:
        if runtime.stop.requested:
            break
        runtime.sleep(5.0)
        waited += 5.0
        info = get_deployment(codedeploy, deployment_id)
    rollback = info.get("rollbackInfo") or {}
    rollback_id = rollback.get("rollbackDeploymentId")
    message = rollback.get("rollbackMessage")
    if not rollback_id:
        return Watched(result, rollback_message=message)
    view.note(f"rollback deployment {rollback_id} started by CodeDeploy; following it")
    left = timeout - (runtime.now() - started).total_seconds()
    ended = follow(codedeploy, rollback_id, runtime=runtime, view=view, timeout=max(left, 0.0))
    return Watched(
        FollowResult(ended.ending, result.snapshot),
        rollback_id=rollback_id,
        rollback_status=ended.snapshot.status,
        rollback_message=message,
    )
