"""The small subcommands: `status` (what is live, runs, ran), `stop`, and the revision `rollback` goes back to.

`status` reads everything once into a `Status` and renders it as one screen (`status_text`) or as JSON for scripts
(`status_json`, `status --json`), the group's bake window included (`WindowStatus`): whether `rollback` can still put
traffic back on the old slot fast, and until when.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen import bake as bake_record
from release import deployments, links, live, slots
from release.answers import required
from release.bake import POLL_SECONDS, rolled_back_in_window
from release.errors import (
    Cancelled,
    DeploymentFailed,
    ExitCode,
    FinishIncomplete,
    LiveSlotUnclear,
    ReleaseError,
    TargetsError,
    TimedOut,
)
from release.follow import Watched, failure_lines, format_seconds, watch
from release.orchestrate import Release
from release.record import ReleaseRecord
from release.retry import error_code
from release.targets import Targets

# How far back `rollback` looks for the previous successful release.
ROLLBACK_LOOKBACK = timedelta(days=90)


def _revision_name(info: dict[str, Any]) -> str:
    location = (info.get("revision") or {}).get("s3Location") or {}
    return f"s3://{location.get('bucket')}/{location.get('key')}" if location else "-"


def _evidence(
    codedeploy: Any,
    elbv2: Any | None,
    targets: Targets,
    group: deployments.GroupInfo,
    states: dict[str, slots.SlotState],
) -> live.Evidence:
    """The witnesses of the live slot, read as a release reads them (the bootstrap group's word included)."""
    boot = (
        deployments.get_bootstrap_group(codedeploy, targets.application, targets.bootstrap_group)
        if targets.bootstrap_group
        else None
    )
    return live.read_evidence(
        codedeploy,
        elbv2,
        targets.target_group_arn,
        group=group,
        pair=targets.slots,
        slot_instances={name: [i.instance_id for i in states[name].instances] for name in targets.slots},
        bootstrap_slot=boot.succeeded_on(targets.slots) if boot else None,
    )


def _live_slot(evidence: live.Evidence) -> tuple[str | None, str]:
    """The live slot as the next release resolves it (`release.live`), and the line that says so."""
    try:
        decision = live.resolve(evidence)
    except LiveSlotUnclear as exc:
        return None, f"unclear, the next release stops with exit 2: {exc.message}"
    line = (
        decision.live if decision.checked else f"{decision.live} (the deployment group's list alone: no target group)"
    )
    if decision.repoint:
        line += f"; the next release first fixes the list: {decision.repoint}"
    return decision.live, line


@dataclass(frozen=True)
class SlotStatus:
    """One slot as `status` shows it: capacity, instances, suspended processes and its targets (None: not read)."""

    name: str
    role: str
    state: slots.SlotState
    targets: dict[str, str] | None

    @property
    def healthy(self) -> int:
        """Registered targets whose health check passes."""
        return sum(1 for state in (self.targets or {}).values() if state == "healthy")

    def as_json(self) -> dict[str, Any]:
        """The slot's stable JSON form."""
        state = self.state
        return {
            "name": self.name,
            "role": self.role,
            "desired": state.desired,
            "min": state.min_size,
            "max": state.max_size,
            "inService": state.serving,
            "leaving": len(state.instances) - len(state.staying),
            "suspendedProcesses": sorted(state.suspended),
            "targets": None
            if self.targets is None
            else {
                "registered": len(self.targets),
                "healthy": self.healthy,
                "states": dict(sorted(self.targets.items())),
            },
        }


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}"


def _why(window: bake_record.Window) -> str:
    """The window's last request or decision: why, by whom, when (what of it the record holds)."""
    who = ", ".join(
        part for part in (window.requested_by, _utc(window.requested_at) if window.requested_at else "") if part
    )
    return f"{window.reason or window.state} ({who})" if who else window.reason or window.state


@dataclass(frozen=True)
class WindowStatus:
    """The group's bake window as `status` shows it (README, "Bake window and fast rollback").

    `window` is the record while the window keeps the old slot, or once it ended if it belongs to the group's last
    attempted or last successful deployment (it explains the slots and CodeDeploy's history); None otherwise.
    `problem` says why the record could not be read (status shows everything else all the same).
    """

    window: bake_record.Window | None = None
    problem: str | None = None

    @property
    def ended(self) -> bool:
        """Whether the window shown has ended (rolled back or closed): the old slot is no longer kept."""
        return self.window is not None and self.window.state not in bake_record.KEEPS_OLD_SLOT

    def fast_rollback(self, now: datetime) -> bool:
        """Whether `rollback` at `now` puts traffic back on the old slot (rather than release the previous revision):
        an open window before its deadline, or a fast rollback already asked for (`release.bake.Requester.ask`)."""
        window = self.window
        if window is None:
            return False
        if window.state in (bake_record.ROLLBACK_REQUESTED, bake_record.ROLLING_BACK):
            return True
        return window.state == bake_record.OPEN and not window.expired(now)

    def hint(self, now: datetime) -> str | None:
        """What an operator can do about the window at `now`; None when there is nothing (no window, or it ended).

        The tool's command is written as `python scripts/deploy.py` (release.cli.as_invoked rewrites it)."""
        window = self.window
        if window is None or self.ended:
            return None
        old, new, poll = window.old_slot, window.new_slot, f"{POLL_SECONDS:.0f} s"
        lease = "once it can take the release lease; a new release exits 5 until the rollback is done"
        if window.state == bake_record.ROLLBACK_REQUESTED:
            return (
                f"the run watching the window moves traffic to {old} within {poll}; if that run is gone, "
                f"`python scripts/deploy.py rollback` does it {lease}"
            )
        if window.state == bake_record.ROLLING_BACK:
            return f"if it stalls (its run gone), `python scripts/deploy.py rollback` completes it {lease}"
        slow = "`python scripts/deploy.py rollback` is no longer fast: it releases the previous revision again"
        if window.state == bake_record.END_REQUESTED:
            return (
                f"the run watching the window empties {old} and closes it within {poll}, then the new release fills "
                f"the idle slot (if that run is gone, the new release closes it once the run's release lease has "
                f"expired); {slow}"
            )
        if window.expired(now):
            return (
                f"the deadline passed but the window is not ended yet: the run watching it ends it within {poll}; if "
                f"that run is gone, the finisher empties {old} and closes the window within its sweep (every "
                f"finisherSweepMinutes, once the run's release lease has expired; without the finisher, the next "
                f"release does); {slow}"
            )
        return (
            f"`python scripts/deploy.py rollback` puts traffic back on {old} in seconds; a new release ends the window "
            f"first: it accepts {new} as live and empties {old} before it fills the idle slot"
        )

    def lines(self, now: datetime) -> list[str]:
        """The window's lines on the status screen (no label): one for an ended window or a problem, else the
        state and deadline, the slots, the last request or decision, and the hint; none without a window."""
        window = self.window
        if window is None:
            return [self.problem] if self.problem else []
        about = f"release {window.release_id}, deployment {window.deployment_id}"
        if window.state == bake_record.ROLLED_BACK:
            return [
                f"rolled back: {_why(window)}; traffic is back on {window.old_slot}, {window.new_slot} is emptied; "
                f"CodeDeploy still lists deployment {window.deployment_id} as Succeeded (release {window.release_id})"
            ]
        if self.ended:
            return [f"{window.state}: {_why(window)}; {window.new_slot} serves, {window.old_slot} is emptied ({about})"]
        seconds = (window.deadline - now).total_seconds()
        left = f"{format_seconds(seconds)} left" if seconds > 0 else f"passed {format_seconds(-seconds)} ago"
        kept = "kept for a fast rollback" if self.fast_rollback(now) else "kept until the window is ended"
        slots = f"new slot {window.new_slot} serves; old slot {window.old_slot} runs out of traffic, {kept}"
        if window.state == bake_record.ROLLING_BACK:
            slots = f"traffic moves from new slot {window.new_slot} back to old slot {window.old_slot}"
        lines = [f"{window.state}, deadline {_utc(window.deadline)} ({left}); {about}", slots]
        if window.reason:
            lines.append(f"last request: {_why(window)}")
        return [*lines, *filter(None, [self.hint(now)])]

    def as_json(self, now: datetime, wording: Callable[[str], str]) -> dict[str, Any] | None:
        """The window's stable JSON form (times in ISO 8601), None without a window to show."""
        window = self.window
        if window is None:
            return None
        seconds = (window.deadline - now).total_seconds()
        hint = self.hint(now)
        return {
            "state": window.state,
            "ended": self.ended,
            "releaseId": window.release_id,
            "deploymentId": window.deployment_id,
            "newSlot": window.new_slot,
            "oldSlot": window.old_slot,
            "opened": window.opened.isoformat(),
            "deadline": window.deadline.isoformat(),
            "secondsLeft": max(seconds, 0.0),
            "deadlinePassed": seconds <= 0,
            "fastRollbackAvailable": self.fast_rollback(now),
            "reason": window.reason or None,
            "requestedBy": window.requested_by or None,
            "requestedAt": _iso(window.requested_at),
            "hint": wording(hint) if hint else None,
        }


def read_window_status(s3: Any, targets: Targets, group: deployments.GroupInfo) -> WindowStatus:
    """The group's bake window for `status`; never raises for an AWS error or a record that is not a window:
    `problem` says what could not be read.

    Unlike the finisher, a 403 is not taken as "no window" (`denied_means_absent`): the finisher's role may read
    exactly this key, whereas whoever runs `status` may be denied the record itself (docs/decisions.md F86).
    """
    key = bake_record.window_key(targets.application, targets.deployment_group)
    where = f"s3://{targets.bucket}/{key}"
    try:
        window = bake_record.read_window(s3, targets.bucket, key)
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) in ("AccessDenied", "403"):
            return WindowStatus(
                problem=f"unknown: {where} answered AccessDenied: these credentials may not read it, or, without "
                "s3:ListBucket, no window was ever recorded (docs/decisions.md F86); the release role reads it"
            )
        return WindowStatus(problem=f"unknown: {where} could not be read ({exc})")
    except bake_record.WindowUnreadable as exc:
        return WindowStatus(
            problem=f"unreadable: a record exists at {where} but is not a bake window ({exc.why}); the finisher "
            "acts as if there were none, `rollback` and `release` refuse until it is fixed or deleted (the bucket's "
            "versions keep it)"
        )
    if window is None:
        return WindowStatus()
    if window.state in bake_record.KEEPS_OLD_SLOT or window.deployment_id in (
        group.last_attempted_id,
        group.last_successful_id,
    ):
        return WindowStatus(window)
    # An ended window of an earlier release tells nothing about the slots now; the bucket's versions keep it.
    return WindowStatus()


@dataclass(frozen=True)
class Status:
    """Everything `status` shows, read once: the group, the live slot, both slots, deployments and links."""

    application: str
    deployment_group: str
    deployment_config: str
    live: str | None
    live_line: str
    slots: tuple[SlotStatus, ...]
    in_flight: tuple[dict[str, Any], ...]
    recent: tuple[dict[str, Any], ...]
    links: dict[str, str]
    now: datetime
    # The region the status was read in: each deployment's console page is built from it (None: no links).
    region: str | None = None
    window: WindowStatus = WindowStatus()

    def page(self, info: dict[str, Any]) -> str | None:
        """The deployment's console page (docs/decisions.md F72), or None without a region or an id."""
        deployment_id = info.get("deploymentId")
        return links.deployment_url(self.region, str(deployment_id)) if self.region and deployment_id else None

    @property
    def idle(self) -> str | None:
        """The slot that is not live, once the live slot is known."""
        return next((slot.name for slot in self.slots if slot.role == "idle"), None)


def _target_slot(info: dict[str, Any]) -> str:
    return ",".join((info.get("targetInstances") or {}).get("autoScalingGroups") or []) or "-"


def _seconds_between(start: Any, end: Any) -> float | None:
    return (end - start).total_seconds() if isinstance(start, datetime) and isinstance(end, datetime) else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def read_status(
    clients: StatusClients, targets: Targets, *, last: int, now: datetime, region: str | None = None
) -> Status:
    """Read the group, both slots, the target group, the deployments in flight, the last `last` deployments and the
    group's bake window.

    The live slot is the one the next release would resolve (`release.live`), so a refusal shows here first.
    """
    codedeploy = clients.codedeploy
    group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
    states = slots.describe_slots(clients.autoscaling, targets.slots)
    evidence: live.Evidence | None = None
    try:
        evidence = _evidence(codedeploy, clients.elbv2, targets, group, states)
        current, line = _live_slot(evidence)
    except ReleaseError as exc:
        current, line = None, f"cannot be determined: {exc.message}"
    slot_views = tuple(
        SlotStatus(
            name=name,
            role="live" if name == current else "idle" if current else "?",
            state=states[name],
            targets=evidence.registered_in(name) if evidence is not None and evidence.targets is not None else None,
        )
        for name in targets.slots
    )
    flying = tuple(
        deployments.get_deployment(codedeploy, deployment_id)
        for deployment_id in deployments.deployments_in_flight(
            codedeploy, targets.application, targets.deployment_group
        )
    )
    recent = deployments.recent_deployments(codedeploy, targets.application, targets.deployment_group, last, now=now)
    window = read_window_status(clients.s3, targets, group)
    return Status(
        application=targets.application,
        deployment_group=targets.deployment_group,
        deployment_config=group.deployment_config,
        live=current,
        live_line=line,
        slots=slot_views,
        in_flight=flying,
        recent=tuple(recent),
        links=links.console_links(region, targets),
        now=now,
        region=region,
        window=window,
    )


def _slot_line(slot: SlotStatus) -> str:
    state = slot.state
    suspended = f", suspended: {', '.join(sorted(state.suspended))}" if state.suspended else ""
    health = ""
    if slot.targets is not None:
        health = (
            f", targets {len(slot.targets)} registered / {slot.healthy} healthy, "
            f"registered: {live.describe_targets(slot.targets)}"
        )
    return (
        f"  {slot.role:4}  {slot.name}: desired {state.desired} (min {state.min_size}, max {state.max_size}), "
        f"{state.serving} InService, {len(state.instances) - len(state.staying)} leaving{suspended}{health}\n"
    )


def _overview(info: dict[str, Any]) -> str:
    counts = info.get("deploymentOverview") or {}
    shown = [
        f"{counts[key]} {key.lower()}" for key in ("Succeeded", "InProgress", "Failed", "Pending") if key in counts
    ]
    return f": instances {', '.join(shown)}" if shown else ""


def _in_flight_line(info: dict[str, Any], status: Status) -> str:
    elapsed = format_seconds(_seconds_between(info.get("createTime"), status.now))
    return (
        f"{info.get('deploymentId')} {info.get('status', '?')} for {elapsed}, onto {_target_slot(info)} "
        f"(created by {info.get('creator', '?')}){_overview(info)}"
    )


def _recent_line(info: dict[str, Any]) -> str:
    created = info.get("createTime")
    when = created.strftime("%Y-%m-%d %H:%M:%SZ") if isinstance(created, datetime) else "?"
    took = format_seconds(_seconds_between(created, info.get("completeTime")))
    return (
        f"  {info.get('deploymentId')}  {when}  {info.get('status', '?'):10} {took:>12}  "
        f"{info.get('creator', '?'):18} -> {_target_slot(info)}  {_revision_name(info)}  {info.get('description', '')}"
    ).rstrip() + "\n"


def status_text(status: Status, wording: Callable[[str], str] = str) -> str:
    """The one-screen status: the group, the live slot and its health, the idle slot, the bake window, deployments,
    links; `wording` writes the tool's command as the user ran it (release.cli.as_invoked)."""
    out = [f"deployment group  {status.application} / {status.deployment_group} ({status.deployment_config})\n"]
    out.append(f"live slot         {status.live_line}\n")
    out.extend(_slot_line(slot) for slot in status.slots)
    window = "\n                  ".join(wording(line) for line in status.window.lines(status.now))
    out.append(f"bake window       {window or 'none'}\n")
    flying = "\n                  ".join(
        _in_flight_line(info, status) + (f"\n                  {status.page(info)}" if status.page(info) else "")
        for info in status.in_flight
    )
    out.append(f"in flight         {flying or 'none'}\n")
    out.append(f"last {len(status.recent)} deployments:\n")
    out.extend(_recent_line(info) for info in status.recent)
    newest = status.page(status.recent[0]) if status.recent else None
    if newest:
        out.append(f"{'last deployment':18}{newest}\n")
    for key, label in (("dashboard", "dashboard"), ("deploymentGroup", "console")):
        if key in status.links:
            out.append(f"{label:18}{status.links[key]}\n")
    return "".join(out)


def _deployment_json(info: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    created = info.get("createTime")
    item: dict[str, Any] = {
        "id": info.get("deploymentId"),
        "status": info.get("status"),
        "creator": info.get("creator"),
        "targetSlot": None if _target_slot(info) == "-" else _target_slot(info),
        "revision": None if _revision_name(info) == "-" else _revision_name(info),
        "description": info.get("description"),
        "createTime": _iso(created),
        "completeTime": _iso(info.get("completeTime")),
        "durationSeconds": _seconds_between(created, info.get("completeTime")),
    }
    if now is not None:
        item["elapsedSeconds"] = _seconds_between(created, now)
        item["instances"] = dict(info.get("deploymentOverview") or {})
    return item


def status_json(status: Status, wording: Callable[[str], str] = str) -> dict[str, Any]:
    """The machine-readable status (`status --json`; stable keys, times in ISO 8601); `bakeWindow` is None without
    a window to show, `bakeWindowError` says why its record could not be read (`status_text`'s `wording`)."""
    return {
        "application": status.application,
        "deploymentGroup": status.deployment_group,
        "deploymentConfig": status.deployment_config,
        "liveSlot": status.live,
        "idleSlot": status.idle,
        "liveSlotReason": status.live_line,
        "slots": [slot.as_json() for slot in status.slots],
        "inFlight": [{**_deployment_json(info, status.now), "link": status.page(info)} for info in status.in_flight],
        "recent": [{**_deployment_json(info), "link": status.page(info)} for info in status.recent],
        "bakeWindow": status.window.as_json(status.now, wording),
        "bakeWindowError": status.window.problem,
        "links": dict(status.links),
        "readAt": status.now.isoformat(),
    }


@dataclass(frozen=True)
class StatusClients:
    """The clients `status` reads with: `s3` reads the bake window's record in the artifact bucket; `elbv2` None
    leaves the target group out (values given without a stack)."""

    codedeploy: Any
    autoscaling: Any
    s3: Any
    elbv2: Any | None = None


def print_status(
    clients: StatusClients,
    targets: Targets,
    stream: TextIO,
    *,
    last: int,
    as_json: bool = False,
    region: str | None = None,
    now: datetime | None = None,
    wording: Callable[[str], str] = str,
) -> int:
    """Write the status (`status_text`, or `status_json` as JSON with `as_json`) to `stream`; 0. `wording` writes the
    tool's command in hints as the user ran it (release.cli.as_invoked)."""
    status = read_status(clients, targets, last=last, now=now or datetime.now(UTC), region=region)
    stream.write(json.dumps(status_json(status, wording), indent=2) + "\n" if as_json else status_text(status, wording))
    return 0


def stop_in_flight(codedeploy: Any, targets: Targets, stream: TextIO, *, region: str | None = None) -> int:
    """Stop every deployment in flight for the group, with automatic rollback; 0 also when none runs.

    Each stopped deployment's console page is printed when the region is known (docs/decisions.md F72).
    """
    ids = deployments.deployments_in_flight(codedeploy, targets.application, targets.deployment_group)
    if not ids:
        stream.write("no deployment in flight; nothing to stop\n")
        return 0
    for deployment_id in ids:
        stream.write(
            f"stopping {deployment_id} with rollback: {deployments.stop_deployment(codedeploy, deployment_id)}\n"
        )
        if region:
            stream.write(f"  {links.deployment_url(region, deployment_id)}\n")
    stream.write(
        "the release that started it (if still running) cleans up its idle slot; otherwise the next release does\n"
    )
    return 0


def previous_revision(
    codedeploy: Any, targets: Targets, window: bake_record.Window | None = None
) -> tuple[dict[str, Any], str]:
    """The revision of the last successful user deployment before the current one, and that deployment's id.

    "Current" is the group's last successful deployment. Deployments by CodeDeploy's rollback, and ones of the same
    revision as the current one, are skipped: rolling back to what is live would change nothing. `window` is the
    group's bake-window record: when it rolled the current deployment back, the previous revision is already live
    on the window's old slot (CodeDeploy still lists the current one, docs/decisions.md F88), so `TargetsError`
    (exit 2) refuses the no-op release.
    """
    group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
    if not group.last_successful_id:
        raise TargetsError(
            "the deployment group has no successful deployment yet; there is nothing to roll back",
            hint="Release a revision first (`python scripts/deploy.py release`).",
        )
    rolled_back = rolled_back_in_window(window, group.last_successful_id)
    if rolled_back is not None:
        raise TargetsError(
            f"deployment {group.last_successful_id} was already rolled back in its bake window: "
            f"{rolled_back.old_slot} serves the revision before it; a rollback would release the live revision "
            "again, nothing to roll back",
            hint="`python scripts/deploy.py status` shows what is live; to change it, release the wanted revision "
            "with `release --app-dir` from its commit.",
        )
    current = deployments.get_deployment(codedeploy, group.last_successful_id)
    end = required(current, "createTime", "GetDeployment")
    candidates = deployments.list_deployments(
        codedeploy,
        targets.application,
        targets.deployment_group,
        start=end - ROLLBACK_LOOKBACK,
        end=end,
        statuses=("Succeeded",),
    )
    candidates = [
        info
        for info in candidates
        if info.get("deploymentId") not in (None, current.get("deploymentId"))
        and info.get("creator") == "user"
        and info.get("revision")
        and info.get("revision") != current.get("revision")
        and info.get("createTime") is not None
        and info["createTime"] < end
    ]
    if not candidates:
        raise TargetsError(
            f"no earlier successful release with a different revision than {_revision_name(current)} "
            f"(looked back {ROLLBACK_LOOKBACK.days} days)",
            hint="Release the wanted revision explicitly with `release --app-dir` from its commit.",
        )
    chosen = max(candidates, key=lambda info: info["createTime"])
    return dict(chosen["revision"]), str(chosen["deploymentId"])


# ----------------------------------------------------------------------------------------------------------------------
# status --follow: follow a deployment another run started, then finish it as a release would
# ----------------------------------------------------------------------------------------------------------------------


def deployment_to_follow(codedeploy: Any, targets: Targets, deployment_id: str | None) -> str:
    """The deployment `status --follow` follows: the one given, else the one in flight, else the group's latest.

    A given id must be a deployment of the target's deployment group (or its bootstrap group): `TargetsError`
    (exit 2) otherwise, also when CodeDeploy knows no such deployment, and when the group has never had one.
    """
    groups = {name for name in (targets.deployment_group, targets.bootstrap_group) if name}
    if deployment_id:
        try:
            info = deployments.get_deployment(codedeploy, deployment_id)
        except ClientError as exc:
            # GetDeployment's errors for an unknown id, or not an id at all (docs/decisions.md F100).
            if error_code(exc) not in ("DeploymentDoesNotExistException", "InvalidDeploymentIdException"):
                raise
            raise TargetsError(
                f"no deployment {deployment_id} in this group ({targets.application}/{targets.deployment_group})",
                hint="Give a deployment id of this group (`status` lists them), or drop --deployment-id.",
            ) from exc
        if info.get("applicationName") != targets.application or info.get("deploymentGroupName") not in groups:
            raise TargetsError(
                f"deployment {deployment_id} belongs to {info.get('applicationName')}/"
                f"{info.get('deploymentGroupName')}, not to {targets.application}/{targets.deployment_group}",
                hint="Give a deployment of this group (`status` lists them), or the --stack it belongs to.",
            )
        _refuse_an_old_ending(codedeploy, targets, info)
        return deployment_id
    for group in sorted(groups, key=lambda name: name != targets.deployment_group):
        flying = deployments.deployments_in_flight(codedeploy, targets.application, group)
        if flying:
            return flying[0]
    latest = deployments.get_group(codedeploy, targets.application, targets.deployment_group).last_attempted_id
    if latest is None:
        raise TargetsError(
            f"{targets.application}/{targets.deployment_group} has no deployment to follow",
            hint="Start one with `python scripts/deploy.py release` (or `release --no-wait`).",
        )
    return latest


def _refuse_an_old_ending(codedeploy: Any, targets: Targets, info: dict[str, Any]) -> None:
    """`TargetsError` (exit 2) for a deployment of the blue/green group that has ended and is not the group's latest:
    a later deployment decided which slot serves since, so finishing this one would report a switch nobody made."""
    deployment_id = str(info.get("deploymentId"))
    if info.get("status") not in deployments.TERMINAL_STATUSES or info.get("deploymentGroupName") != (
        targets.deployment_group
    ):
        return
    latest = deployments.get_group(codedeploy, targets.application, targets.deployment_group).last_attempted_id
    if latest in (None, deployment_id):
        return
    ended = info.get("completeTime")
    when = f"{ended:%Y-%m-%d %H:%M:%SZ}" if isinstance(ended, datetime) else "an unknown time"
    raise TargetsError(
        f"deployment {deployment_id} ended at {when} ({str(info.get('status')).lower()}) and is not the group's "
        f"latest ({latest}); nothing to follow",
        hint="Run `python scripts/deploy.py status` to see what is live, or `status --follow` without "
        "--deployment-id to follow the group's latest deployment.",
    )


def nothing_to_finish(codedeploy: Any, autoscaling: Any, targets: Targets, deployment_id: str) -> str | None:
    """Why `status --follow` has nothing to do, or None: the deployment has ended and the group converged on it.

    Converged: the group lists exactly the slot the deployment left serving (its target when it succeeded, the other
    slot otherwise), the other slot holds no instance and neither slot has a suspended process. Then following it
    would only report an old switch as new.
    """
    info = deployments.get_deployment(codedeploy, deployment_id)
    target = _target_slot(info).split(",")[0]
    if info.get("status") not in deployments.TERMINAL_STATUSES or target not in targets.slots:
        return None
    other = next(name for name in targets.slots if name != target)
    live_slot = target if info.get("status") == "Succeeded" else other
    idle = other if live_slot == target else target
    group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
    states = slots.describe_slots(autoscaling, targets.slots)
    if group.listed_slots != (live_slot,) or states[idle].occupied or states[idle].instances:
        return None
    if any(state.suspended for state in states.values()):
        return None
    return f"nothing in flight; {live_slot} is live, nothing to finish"


def _watch_error(watched: Watched, deployment_id: str, reason: str | None) -> ReleaseError:
    """The watch ended before the deployment did (timeout, stop request): nothing was stopped, it runs on."""
    hint = (
        f"`python scripts/deploy.py status --follow --deployment-id {deployment_id}` watches it again and finishes "
        "it; `python scripts/deploy.py stop` stops it with rollback."
    )
    what = watched.rollback_id or deployment_id
    if watched.result.ending == "timeout":
        return TimedOut(
            f"stopped watching after --timeout; deployment {what} still runs (it was not stopped)", hint=hint
        )
    return Cancelled(f"stopped watching ({reason}); deployment {what} still runs (it was not stopped)", hint=hint)


def follow_and_finish(release: Release, deployment_id: str, *, timeout: float | None) -> ReleaseRecord:
    """`status --follow`: watch the deployment to its end (`follow.watch`), then finish as a release would.

    After the end, `Release.converge` does what every release does first (re-point the group to the slot that
    serves, resume scaling on both slots, empty the idle slot). The record carries release's outcome and exit code:
    0 succeeded and finished, 1 failed (rolled back), 3/4 the watch ended first (the deployment runs on), 5 another
    run holds the lease (it finishes), 7 succeeded but finishing failed, 8 AWS unreachable.
    """
    codedeploy, runtime, view = release.clients.codedeploy, release.runtime, release.view
    record = release.record
    with record.phase("deployment", runtime):
        watched = watch(codedeploy, deployment_id, runtime=runtime, view=view, timeout=timeout or math.inf)
    snapshot = watched.result.snapshot
    record.rollback_id, record.rollback_status = watched.rollback_id, watched.rollback_status
    record.rollback_message = watched.rollback_message
    if watched.result.ending != "finished":
        record.deployment_id, record.snapshot, record.deployment_status = deployment_id, snapshot, snapshot.status
        record.error = _watch_error(watched, deployment_id, runtime.stop.reason)
        record.finished = runtime.now()
        view.close()
        return record
    release.converge()
    # Set after `converge`, whose AWS-error path reads a deployment id as "may still be running".
    record.deployment_id, record.snapshot, record.deployment_status = deployment_id, snapshot, snapshot.status
    record.failure = failure_lines(snapshot.targets)
    succeeded = snapshot.status == "Succeeded"
    target = _target_slot(snapshot.deployment).split(",")[0]
    if target in release.targets.slots:
        # What the deployment changed, not what `converge` found afterwards (by then the group lists the new slot).
        record.idle = target
        record.live_before = next(name for name in release.targets.slots if name != target)
        record.live_after = target if succeeded else None
    finish = record.error
    if finish is not None and succeeded and finish.exit_code == ExitCode.AWS_UNAVAILABLE:
        record.error = FinishIncomplete(
            f"released: deployment {deployment_id} succeeded, but finishing is incomplete: {finish.message}",
            hint="Run `python scripts/deploy.py status --follow` again, or the next release: either finishes it.",
        )
    elif not succeeded and (finish is None or finish.exit_code != ExitCode.RELEASE_IN_FLIGHT):
        rolled = f" Rollback {watched.rollback_id}: {watched.rollback_status}." if watched.rollback_id else ""
        record.error = DeploymentFailed(f"deployment {deployment_id} {snapshot.status.lower()}.{rolled}")
        if finish is not None:
            record.error.hint += f" Finishing after it did not complete: {finish.message}"
    return record
