"""The bake window and its fast rollback (issue 14 §1; README, "Release strategies").

With `bakeMinutes` > 0 a successful release does not empty the old slot at once. Its instances keep running out of
traffic (BlockTraffic deregistered them) while the release run watches, every `POLL_SECONDS`:

* the window's record in AWS (`bluegreen.bake`, next to the release lease): a `rollback-requested` written by
  `deploy.py rollback` from any machine, or an `end-requested` written by a release that wants to start;
* the deployment group's CloudWatch alarms (the names the group lists, DescribeAlarms, docs/decisions.md F87): one
  that transitioned to ALARM since the release's deployment started (`firing`, F106) is a rollback decision;
* the deadline: once it passed, the window is closed and the old slot emptied through the drain path, as today.

The fast rollback (`FastRollback`) is a traffic step only, since the old slot still runs the previous revision:
register the old slot's instances with the target group, wait until each is healthy under the tuned health check,
deregister the new slot's instances (new requests stop at once, F4), point the deployment group back at the old slot
and scale the new slot to 0, so the drain hook lets each instance go once its requests in flight finished.
CodeDeploy knows nothing of it: its history keeps the release's deployment as Succeeded (CodeDeploy cannot record a
rollback that is not a deployment, F88); the window's record (state `rolled-back`, who asked, why, when; the artifact
bucket keeps every version) and the release report say what happened, and the group's lastSuccessfulDeployment is no
longer the live slot's revision, which `release.live` already accepts (the load balancer and the group's list decide).

If the runner dies, the window's end is enforced in AWS: the finisher empties the old slot once the deadline and the
run's lease have passed (`lambdas/finisher`), and `deploy.py rollback` performs a requested rollback itself as soon as
it can take the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bluegreen import bake, finish
from bluegreen.lease import LeaseUnavailable
from bluegreen.timing import FastRollbackModel, TrafficTiming, fast_rollback_model
from release import deployments
from release.errors import Cancelled, DeploymentFailed, LeaseHeld, WindowRecordUnreadable
from release.runtime import Runtime
from release.targets import Targets

# How often the run reads the window's record and the alarms: a request or an alarm is acted on within this.
POLL_SECONDS = 2.0
# How often the old slot's targets are read while they become healthy.
HEALTH_POLL_SECONDS = 1.0
# The old slot must become healthy within this many times the model's figure (and never less than a minute), else
# the rollback is abandoned and traffic stays on the new slot.
HEALTHY_BOUND_FACTOR = 3
HEALTHY_BOUND_MINIMUM_SECONDS = 60.0


@dataclass(frozen=True)
class Site:
    """What a bake window acts on: the clients, the window's record, the group and the target group."""

    s3: Any
    autoscaling: Any
    codedeploy: Any
    elbv2: Any | None
    cloudwatch: Any | None
    bucket: str
    application: str
    group: str
    target_group_arn: str | None

    @classmethod
    def of(cls, clients: Any, targets: Targets) -> Site:
        """The site of a release's clients (with s3, autoscaling, codedeploy, elbv2, cloudwatch) and targets."""
        return cls(
            s3=clients.s3,
            autoscaling=clients.autoscaling,
            codedeploy=clients.codedeploy,
            elbv2=clients.elbv2,
            cloudwatch=clients.cloudwatch,
            bucket=targets.bucket,
            application=targets.application,
            group=targets.deployment_group,
            target_group_arn=targets.target_group_arn,
        )

    @property
    def key(self) -> str:
        """The window's object key (`bluegreen.bake.window_key`)."""
        return bake.window_key(self.application, self.group)

    def read(self) -> bake.Window | None:
        """The stored window, or None; `WindowRecordUnreadable` (exit 2) when the record is not a window."""
        return read_record(self.s3, self.bucket, self.key)

    def change(self, window: bake.Window) -> bake.Window:
        """Conditional write of the window (`bake.WindowChanged` when another actor changed it first)."""
        return bake.change(self.s3, self.bucket, self.key, window)


@dataclass
class Outcome:
    """How a window ended: `ended` (deadline), `ended-early` (a release asked), `rolled-back`, `left` (the run
    stopped watching; AWS enforces the end); the notes the report shows; the measured seconds to the old slot."""

    ending: str
    notes: list[str] = field(default_factory=list)
    rollback_seconds: float | None = None


def firing(cloudwatch: Any, names: tuple[str, ...], since: datetime) -> list[str]:
    """Which of the alarms are in ALARM having transitioned to it at or after `since` (the deployment's start).

    The time is `StateTransitionedTimestamp`, the last change of StateValue; `StateUpdatedTimestamp` also moves when
    only the evaluation state is updated, so an alarm red since before the release would look new
    (docs/decisions.md F106). It falls back to StateUpdatedTimestamp for an answer without the field. An alarm that
    went to ALARM after the deployment started counts, also if that was before the window opened; one already in
    ALARM before it started is not this release's doing. DescribeAlarms takes at most 100 names (F87).
    """
    if cloudwatch is None or not names:
        return []
    answer = cloudwatch.describe_alarms(AlarmNames=list(names[:100]), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = [*answer.get("MetricAlarms", []), *answer.get("CompositeAlarms", [])]
    return sorted(
        str(alarm["AlarmName"])
        for alarm in alarms
        if alarm.get("StateValue") == "ALARM"
        and alarm.get("StateTransitionedTimestamp", alarm.get("StateUpdatedTimestamp", since)) >= since
    )


def read_record(s3: Any, bucket: str, key: str, *, denied_means_absent: bool = False) -> bake.Window | None:
    """`bluegreen.bake.read_window` for the tool: a record that is not a window is `WindowRecordUnreadable`."""
    try:
        return bake.read_window(s3, bucket, key, denied_means_absent=denied_means_absent)
    except bake.WindowUnreadable as exc:
        raise WindowRecordUnreadable(f"the bake window record {exc.where} is not one: {exc.why}") from exc


def deployment_start(codedeploy: Any, window: bake.Window) -> datetime:
    """When the window's deployment was created (GetDeployment createTime); the window's opening if unknown."""
    created = deployments.get_deployment(codedeploy, window.deployment_id).get("createTime")
    return created if isinstance(created, datetime) else window.opened


def rolled_back_in_window(window: bake.Window | None, deployment_id: str) -> bake.Window | None:
    """The window in which `deployment_id` was rolled back (state `rolled-back`), or None.

    CodeDeploy still lists that deployment as the group's lastSuccessfulDeployment (F88), so whoever reads "what the
    group released last" (promote-revision, status --all-stages, rollback) must ask the window's record too.
    """
    if window is not None and window.deployment_id == deployment_id and window.state == bake.ROLLED_BACK:
        return window
    return None


class FastRollback:
    """Traffic back onto the window's old slot (module docstring); the caller holds the release lease."""

    def __init__(self, site: Site, runtime: Runtime, log: Callable[[str], None], timing: TrafficTiming) -> None:
        """Nothing is called until `run`."""
        self.site, self.runtime, self.log = site, runtime, log
        self.model: FastRollbackModel = fast_rollback_model(timing)

    def run(self, window: bake.Window, reason: str) -> Outcome:
        """Roll back onto `window.old_slot`; `DeploymentFailed` (traffic stays on the new slot) when the old slot's
        instances do not become healthy in time or there are none. The new slot is deregistered only once the old one
        is healthy (F85, F89): traffic is never left on targets that fail their checks."""
        site, started = self.site, self.runtime.now()
        if site.elbv2 is None or not site.target_group_arn:
            raise DeploymentFailed("a fast rollback needs the target group (output TargetGroupArn)")
        window = site.change(window.with_state(bake.ROLLING_BACK, reason=reason))
        old = finish.read_slots(site.autoscaling, [window.old_slot]).get(window.old_slot)
        instances = list(old.staying) if old else []
        if not instances:
            site.change(window.with_state(bake.OPEN, reason=f"rollback impossible: {window.old_slot} holds none"))
            raise DeploymentFailed(f"{window.old_slot} holds no instance: nothing to roll back onto")
        self.log(f"fast rollback ({reason}): registering {len(instances)} instance(s) of {window.old_slot}")
        targets = [{"Id": instance} for instance in instances]
        site.elbv2.register_targets(TargetGroupArn=site.target_group_arn, Targets=targets)
        if not self._healthy(instances):
            site.elbv2.deregister_targets(TargetGroupArn=site.target_group_arn, Targets=targets)
            site.change(window.with_state(bake.OPEN, reason=f"rollback abandoned: {window.old_slot} not healthy"))
            raise DeploymentFailed(
                f"fast rollback abandoned: {window.old_slot}'s instances did not pass the health check within "
                f"{self._bound():.0f} s; traffic stays on {window.new_slot}, the window stays open",
                hint="Read the target group's health reasons (`python scripts/deploy.py status`).",
            )
        on_old = self.runtime.now()
        window = site.change(window.with_state(bake.ROLLED_BACK, reason=reason))
        self._release_new_slot(window)
        seconds = (on_old - started).total_seconds()
        return Outcome(
            "rolled-back",
            [
                f"rolled back inside the bake window ({reason}): traffic fully on {window.old_slot} after "
                f"{seconds:.0f} s; {self.model.describe()}",
                f"{window.new_slot} scaling to 0 through the drain path; the deployment group lists {window.old_slot}",
                f"CodeDeploy still shows deployment {window.deployment_id} Succeeded; the rollback is recorded in "
                f"s3://{site.bucket}/{site.key} (state rolled-back) and in this report",
            ],
            seconds,
        )

    def _bound(self) -> float:
        return max(self.model.seconds * HEALTHY_BOUND_FACTOR, HEALTHY_BOUND_MINIMUM_SECONDS)

    def _healthy(self, instances: list[str]) -> bool:
        """Wait until every instance is `healthy` in the target group (F83), bounded by `_bound`."""
        site, deadline = self.site, self.runtime.now() + timedelta(seconds=self._bound())
        assert site.elbv2 is not None
        while True:
            answer = site.elbv2.describe_target_health(
                TargetGroupArn=site.target_group_arn, Targets=[{"Id": instance} for instance in instances]
            )
            states = {
                item["Target"]["Id"]: item["TargetHealth"]["State"] for item in answer["TargetHealthDescriptions"]
            }
            if all(states.get(instance) == "healthy" for instance in instances):
                return True
            if self.runtime.now() >= deadline:
                return False
            self.runtime.sleep(HEALTH_POLL_SECONDS)

    def _release_new_slot(self, window: bake.Window) -> None:
        """Deregister the new slot's instances now (new requests stop at once, F85), point the group back, empty the
        new slot (the drain hook lets each instance go once its requests in flight finished)."""
        site = self.site
        assert site.elbv2 is not None
        new = finish.read_slots(site.autoscaling, [window.new_slot]).get(window.new_slot)
        if new and new.staying:
            site.elbv2.deregister_targets(
                TargetGroupArn=site.target_group_arn, Targets=[{"Id": instance} for instance in new.staying]
            )
        point, empty_new = bake.rollback_steps(
            site.codedeploy, site.autoscaling, application=site.application, group=site.group, window=window
        )
        point.call()
        empty_new.call()


class Watch:
    """The release run's side of a bake window: open it, watch it, end it or roll back (module docstring)."""

    def __init__(
        self,
        site: Site,
        runtime: Runtime,
        log: Callable[[str], None],
        timing: TrafficTiming,
        *,
        owned: Callable[[], None],
    ) -> None:
        """`owned` renews the release lease right before a slot or the group is changed (`LeaseLost` if lost)."""
        self.site, self.runtime, self.log, self.timing, self.owned = site, runtime, log, timing, owned

    def open(self, *, release_id: str, deployment_id: str, old_slot: str, new_slot: str, minutes: int) -> bake.Window:
        """Record the window in AWS before anything waits on it."""
        now = self.runtime.now()
        window = bake.Window(
            release_id=release_id,
            deployment_id=deployment_id,
            old_slot=old_slot,
            new_slot=new_slot,
            opened=now,
            deadline=now + timedelta(minutes=minutes),
        )
        window = bake.open_window(self.site.s3, self.site.bucket, self.site.key, window)
        self.log(
            f"bake window open until {window.deadline:%H:%M:%SZ}: {old_slot} stays running out of traffic; "
            "`python scripts/deploy.py rollback` puts traffic back on it in seconds"
        )
        return window

    def watch(self, window: bake.Window) -> Outcome:
        """Poll until the deadline, a request or an alarm; act on it. A stop request ends the watch only."""
        names = deployments.alarm_names(self.site.codedeploy, self.site.application, self.site.group)
        model = fast_rollback_model(self.timing).describe()
        since = deployment_start(self.site.codedeploy, window)
        while True:
            current = self._look(window, model)
            if isinstance(current, Outcome):
                return current
            try:
                if current.state in (bake.ROLLBACK_REQUESTED, bake.ROLLING_BACK):
                    # ROLLING_BACK seen by the lease holder: a rollback this run began and was interrupted; resume.
                    return self._roll_back(current, f"requested by {current.requested_by or 'someone'}", model)
                if current.state == bake.END_REQUESTED:
                    return self._end(current, early=True, model=model)
                fired = firing(self.site.cloudwatch, names, since)
                if fired:
                    reason = f"alarm {', '.join(fired)}"
                    requested = self.site.change(
                        current.with_state(bake.ROLLBACK_REQUESTED, reason=reason, by="alarm", at=self.runtime.now())
                    )
                    return self._roll_back(requested, reason, model)
                if current.expired(self.runtime.now()):
                    return self._end(current, early=False, model=model)
            except bake.WindowChanged:
                continue  # a request landed between our read and our write: it wins, read it
            if self.runtime.stop.requested:
                return Outcome(
                    "left",
                    [
                        f"stopped watching ({self.runtime.stop.reason}): {current.old_slot} stays until "
                        f"{current.deadline:%H:%M:%SZ}, then the finisher empties it; `deploy.py rollback` still works",
                        model,
                    ],
                )
            remaining = (current.deadline - self.runtime.now()).total_seconds()
            self.runtime.sleep(max(min(POLL_SECONDS, remaining), 0.0))

    def _look(self, window: bake.Window, model: str) -> bake.Window | Outcome:
        """The window now, or how the watch ends: another actor ended it, or its record is no window any more (the
        finisher then takes it as absent and empties the old slot at its next sweep)."""
        try:
            current = self.site.read() or window
        except WindowRecordUnreadable as exc:
            return Outcome("left", [f"stopped watching: {exc.message}; the finisher takes it as no window", model])
        if current.state not in bake.KEEPS_OLD_SLOT:
            return Outcome("left", [f"bake window {current.state} by another actor: {current.reason}", model])
        return current

    def _roll_back(self, window: bake.Window, reason: str, model: str) -> Outcome:
        self.owned()
        return FastRollback(self.site, self.runtime, self.log, self.timing).run(window, reason)

    def _end(self, window: bake.Window, *, early: bool, model: str) -> Outcome:
        """Close the window (conditional write first, so a request that came before wins), then empty the old slot."""
        reason = window.reason if early else "deadline passed without trouble"
        self.site.change(window.with_state(bake.CLOSED, reason=reason, at=self.runtime.now()))
        self.owned()
        finish.empty_slot(self.site.autoscaling, window.old_slot)
        return Outcome(
            "ended-early" if early else "ended",
            [
                f"bake window ended ({reason}): {window.old_slot} scaling to 0; the drain Lambda lets each instance go",
                model,
            ],
        )


def ask_to_end(site: Site, *, release_id: str, now: datetime) -> bool:
    """A release that found the lease held: if a bake window is open, ask its run to end it (documented rule: the new
    release accepts the live slot, the old slot is emptied through the drain path before the idle slot is filled)."""
    for _ in range(3):
        window = site.read()
        if window is None or window.state not in (bake.OPEN, bake.END_REQUESTED):
            return False
        if window.state == bake.END_REQUESTED:
            return True
        try:
            site.change(
                window.with_state(
                    bake.END_REQUESTED,
                    reason=f"release {release_id} started: it accepts {window.new_slot} as live",
                    by=f"release {release_id}",
                    at=now,
                )
            )
            return True
        except bake.WindowChanged:
            continue
    return False


def close_for_release(site: Site, *, release_id: str, now: datetime) -> str | None:
    """Under the lease, before a release reads the slots: end a window its run left open (documented rule), and
    refuse (`LeaseHeld`, exit 5) while a fast rollback is pending. Returns a note when a window was ended."""
    window = site.read()
    if window is None:
        return None
    if window.state in (bake.ROLLBACK_REQUESTED, bake.ROLLING_BACK):
        raise LeaseHeld(
            f"a fast rollback onto {window.old_slot} is pending ({window.reason}); this run touched nothing",
            hint="Run `python scripts/deploy.py rollback` to complete it, then release again.",
        )
    if window.state not in (bake.OPEN, bake.END_REQUESTED):
        return None
    reason = f"ended by release {release_id}: {window.new_slot} is accepted as live"
    try:
        site.change(window.with_state(bake.CLOSED, reason=reason, by=f"release {release_id}", at=now))
    except bake.WindowChanged as exc:
        raise LeaseHeld(
            f"the bake window of release {window.release_id} changed while this run ended it ({exc}); this run "
            "touched nothing",
            hint="Run the release again.",
        ) from exc
    return (
        f"the bake window of release {window.release_id} was still open: {reason}; {window.old_slot} is emptied "
        "through the drain path before the idle slot is filled"
    )


@dataclass(frozen=True)
class RollbackRequest:
    """What `deploy.py rollback` did about a bake window: `None` outcome means there was no window to use."""

    outcome: Outcome | None
    message: str


class Requester:
    """`deploy.py rollback` inside a bake window: ask for the rollback, then see it done (by the watching run, or by
    this process once it can take the release lease, when the run is gone)."""

    def __init__(
        self,
        site: Site,
        runtime: Runtime,
        log: Callable[[str], None],
        timing: TrafficTiming,
        *,
        lease: Any,
        owner: str,
        wait_seconds: float,
    ) -> None:
        """`lease` is an unacquired `release.lease.Lease`; `wait_seconds` bounds the wait for the watching run."""
        self.site, self.runtime, self.log, self.timing = site, runtime, log, timing
        self.lease, self.owner, self.wait_seconds = lease, owner, wait_seconds

    def request(self) -> RollbackRequest:
        """Ask for the rollback if a window is open and its deadline has not passed, then see it done; `outcome` None
        when there is no window to roll back through."""
        asked = self.ask()
        if isinstance(asked, str):
            return RollbackRequest(None, asked)
        return self._see_it_done()

    def ask(self) -> bake.Window | str:
        """Write `rollback-requested` (conditionally: a deadline reached first wins, and so does an earlier request);
        the window, or why there is none to use."""
        for _ in range(3):
            window = self.site.read()
            now = self.runtime.now()
            if window is None or window.state not in bake.KEEPS_OLD_SLOT or window.state == bake.END_REQUESTED:
                return "no bake window is open"
            if window.state != bake.OPEN:
                return window  # a rollback was asked for already: see it done
            if window.expired(now):
                return f"the bake window ended at {window.deadline:%H:%M:%SZ}"
            try:
                window = self.site.change(
                    window.with_state(bake.ROLLBACK_REQUESTED, reason="rollback requested", by=self.owner, at=now)
                )
            except bake.WindowChanged:
                continue
            self.log(f"fast rollback onto {window.old_slot} requested (bake window of release {window.release_id})")
            return window
        return "the bake window kept changing; run rollback again"

    def _see_it_done(self) -> RollbackRequest:
        waited = 0.0
        while waited <= self.wait_seconds:
            window = self.site.read()
            if window is not None and window.state == bake.ROLLED_BACK:
                return RollbackRequest(Outcome("rolled-back", [window.reason]), f"traffic is on {window.old_slot}")
            if window is None or window.state not in (bake.ROLLBACK_REQUESTED, bake.ROLLING_BACK):
                state = window.state if window else "gone"
                raise DeploymentFailed(f"the fast rollback did not happen: the bake window is {state}")
            if self._take_lease():
                try:
                    outcome = FastRollback(self.site, self.runtime, self.log, self.timing).run(
                        window, f"requested by {window.requested_by or self.owner}; the watching run is gone"
                    )
                finally:
                    self.lease.release()
                return RollbackRequest(outcome, f"traffic is on {window.old_slot}")
            if self.runtime.stop.requested:
                raise Cancelled(
                    f"rollback cancelled ({self.runtime.stop.reason}) while waiting for it; the request stands: the "
                    "watching run performs it, or the next `rollback` once it can take the lease"
                )
            self.runtime.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
        raise LeaseHeld(
            f"the fast rollback was requested but not done within {self.wait_seconds:.0f} s: the run holding the "
            "release lease did not act on it",
            hint="Run `python scripts/deploy.py rollback` again once its lease expired (10 minutes).",
        )

    def _take_lease(self) -> bool:
        try:
            self.lease.acquire()
        except (LeaseHeld, LeaseUnavailable):
            return False
        return True
