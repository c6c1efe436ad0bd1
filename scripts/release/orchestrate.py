"""The release state machine: bundle → pre-flight → upload → slots → deploy → follow → finish (or clean up).

`Release` is the command object (the shape of aws-cli's `codedeploy push`): it is built once with its collaborators
(the clients, the targets, the options, the clock and the view), runs linear steps, and fills in one `ReleaseRecord`,
the result the report is written from.

Every run derives the situation from AWS (the deployment group, the slots, the deployments in flight), never from
files on the runner, so a run after a crash knows what to do:

* Live slot: the slot the deployment group lists (docs/decisions.md F3), checked against the target group's
  registered targets and the last successful deployment before anything is uploaded (`release.live`). A slot whose
  instances are registered is never emptied as idle; a list the load balancer contradicts is corrected only when a
  third witness explains it (an interrupted switch, an interrupted first release), else the release stops with
  exit 2. Without a known target group the list alone decides, as it always did.
* First release: when the live slot has no serving instance and nothing is registered with the target group, the
  idle slot is filled and deployed in place through the stack's bootstrap group, then handed to the blue/green group
  (`release.bootstrap`); a stack without that group gets the blue/green deployment with an empty original
  environment, with a note (docs/decisions.md F15).
* Crashed release: with no deployment in flight, an idle slot that still wants or holds instances was left behind by
  an interrupted run. It is emptied (and waited for) before being filled again, because instances holding part of an
  unfinished deployment can fail the next Install (fileExistsBehavior DISALLOW). Scaling processes this tool
  suspends are resumed on both slots first, since a crash may have left them suspended.
* Capacity: the idle slot gets max(live slot's desired, the stack's fleet desired), capped at the larger of the slot's
  and the fleet's maximum, with the fleet's minimum.
* On SIGINT/SIGTERM or the timeout the deployment is stopped with rollback at once. The idle slot is emptied when
  traffic cannot be on it: no green instance reached AllowTraffic, or the rollback deployment succeeded, and the
  target group no longer holds any of its instances (waited for up to the deregistration delay). Otherwise it is left
  for CodeDeploy's rollback, and the next run tidies it. A failed first release always empties its slot: nothing
  served before it. From the stop on, every wait (the deployment settling, CodeDeploy naming and running the
  rollback, the target group letting go of the idle slot) shares one bound, `--cleanup-timeout`; a second signal ends
  it at once.
* Scaling processes are resumed only once this run's deployment and its rollback have ended (docs/decisions.md F9):
  after a success before the switch, after a failure or stop once the rollback ended (or CodeDeploy named none
  within the whole wait). While either may still run (an AWS error while following, the cleanup bound reached, a
  second signal) they stay suspended and the idle slot is left as it is; the error says so, and that the AWS-side
  finisher (or `status --follow`, or the next release) resumes them once CodeDeploy reports the end.
* An unexpected exception (a bug) after CreateDeployment stops the deployment with rollback once and ends the run
  with exit 1 naming the deployment, never a silent traceback with the deployment unwatched.
* One run at a time: before anything is written (after the bundle and the bucket check) the run takes the deployment
  group's release lease (`release.lease`, an S3 conditional write in the artifact bucket), renews it while it waits,
  renews it again right before every scaling call, and releases it on every way out. A run that cannot take it exits
  5 having touched nothing; a run whose lease was taken over (it stalled past the expiry) scales nothing any more.
  The deployment's description starts with the run's release id, so a CreateDeployment the SDK retried and CodeDeploy
  refused (one is in flight: our own first attempt) is recognised and followed (`deployments.own_deployment_in_flight`).
* After the deployment succeeded nothing is reported as a failed deployment: the steps that follow (re-pointing the
  group, resuming processes on every slot, emptying the old slot) are retried, and if one still fails the run ends
  "released, finishing incomplete" (exit 7) with the exact repair; the next release finishes them first anyway.
* A StopDeployment that keeps failing leaves the scaling processes suspended (the deployment still runs) and the run
  says so, with how to stop it; the exit code stays the timeout's or the cancel's.
* Bake window (`bake_minutes` > 0, setting bakeMinutes): after the switch the old slot keeps its instances out of
  traffic while the run watches the group's alarms and the window's record in AWS; an alarm or `deploy.py rollback`
  puts traffic back on it in seconds, the deadline empties it (`release.bake`). A release that finds another one's
  window open ends it first: it accepts the live slot and the old slot is emptied before the idle slot is filled.
* Agent readiness: the idle slot is filled until every instance is InService; the stack's launch lifecycle hook keeps
  a new instance out of InService until its CodeDeploy agent runs (docs/decisions.md F21), so InService means "ready
  to be deployed to".
  `--scale-timeout` is the budget for launch, boot, user data and the agent's start.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bluegreen import finish
from bluegreen.timing import TrafficTiming, release_model
from release import bake, bootstrap, deployments, gate, live, slots
from release.appspec import BLUE_EVENT_ORDER, GREEN_EVENT_ORDER
from release.bootstrap import Bootstrap, Route
from release.ci import CiContext
from release.errors import (
    AwsUnavailable,
    Cancelled,
    DeploymentFailed,
    FinishIncomplete,
    LeaseHeld,
    LeaseLost,
    ReleaseError,
    TimedOut,
)
from release.estimate import expectation
from release.follow import FollowResult, Snapshot, failure_lines, follow, poll
from release.lease import SKEW_SECONDS as LEASE_SKEW_SECONDS
from release.lease import TTL_SECONDS as LEASE_TTL_SECONDS
from release.lease import Lease, default_owner, lease_key
from release.record import ReleaseRecord
from release.retry import AWS_ERRORS, error_code, retried
from release.runtime import Runtime
from release.targets import Targets
from release.timeout import default_timeout_seconds, read_traffic_timing
from release.tree import RevisionTree, scan_revision
from release.upload import check_bucket, publish_revision
from release.views import View

# Waiting for CodeDeploy to name the rollback deployment of a failed/stopped one (rollbackInfo appears shortly after).
ROLLBACK_ID_WAIT_SECONDS = 60.0
ROLLBACK_ID_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Clients:
    """The AWS clients the release uses, built by the CLI."""

    s3: Any
    autoscaling: Any
    codedeploy: Any
    elbv2: Any | None = None
    # DescribeAlarms during a bake window (release.bake); None: the window watches requests and its deadline only.
    cloudwatch: Any | None = None


@dataclass(frozen=True)
class ReleaseOptions:
    """How to release."""

    app_dir: Path | None
    ci: CiContext = field(default_factory=CiContext)
    description: str | None = None
    timeout_seconds: float | None = None
    scale_timeout_seconds: float = 900.0
    cleanup_timeout_seconds: float = 120.0
    rollback_timeout_seconds: float = 900.0
    key_prefix: str | None = None
    # The release id (in the lease and at the start of the deployment's description); a fresh one by default.
    release_id: str | None = None
    # Who runs the release, as the lease shows it to a refused run (default: host and process id).
    owner: str | None = None
    # CreateDeployment options (release.cli --ignore-application-stop-failures, --file-exists-behavior).
    ignore_application_stop_failures: bool = False
    file_exists_behavior: str | None = None
    # False (--no-wait): create the deployment and end; `status --follow` or the next run finishes it (`converge`).
    wait: bool = True
    # The pre-promotion check run while a gated deployment waits in Ready (release.gate), and its time limit.
    check_command: str | None = None
    check_timeout_seconds: float = 300.0
    # The bake window after the switch (setting bakeMinutes, release.bake); 0: the old slot is emptied at once.
    bake_minutes: int = 0


@dataclass(frozen=True)
class SlotPlan:
    """Which slot serves and which one receives the release."""

    live: str
    idle: str
    live_state: slots.SlotState
    idle_state: slots.SlotState
    first_release: bool
    route: Route = Route.BLUE_GREEN
    # Set on the bootstrap route only: the bootstrap group's steps (release.bootstrap).
    bootstrap: Bootstrap | None = None


@dataclass(frozen=True)
class Situation:
    """What pre-flight found: the blue/green group, the resolved live slot, its evidence, the bootstrap group."""

    group: deployments.GroupInfo
    decision: live.LiveSlot
    evidence: live.Evidence
    bootstrap: Bootstrap | None


def capacity_for(plan: SlotPlan, targets: Targets) -> int:
    """max(live desired, fleet desired), capped at the larger of the idle slot's and the fleet's maximum."""
    wanted = max(plan.live_state.desired, targets.fleet.desired)
    return min(wanted, max(plan.idle_state.max_size, targets.fleet.maximum))


def _hook_seconds(appspec: Any, events: tuple[str, ...]) -> int:
    hooks = getattr(appspec, "hooks", {}) or {}
    return sum(script.timeout_seconds for event in events for script in hooks.get(event, ()))


def _traffic_reached_green(snapshot: Snapshot | None) -> bool:
    if snapshot is None:
        return False
    return finish.traffic_reached_green(
        (target.label, event.name, event.status) for target in snapshot.targets for event in target.events
    )


def _gated(group: deployments.GroupInfo, plan: SlotPlan) -> bool:
    """Whether the deployment will wait for promotion: a blue/green one whose group says STOP_DEPLOYMENT (F80)."""
    return plan.bootstrap is None and group.ready_action == "STOP_DEPLOYMENT"


def _where_failed(snapshot: Snapshot) -> str:
    """`Green i-1 AfterInstall (ScriptFailed)` for each failed event, or the deployment's error code."""
    failed = [
        f"{target.label or '?'} {target.target_id} {event.name}"
        + (f" ({event.error_code})" if event.error_code else "")
        for target in snapshot.targets
        for event in target.failed_events
    ]
    code = (snapshot.deployment.get("errorInformation") or {}).get("code")
    return ", ".join(failed) or f"error {code or 'unknown'}"


def _owner(ci: CiContext) -> str:
    """Who runs this release, as the lease shows it to a run it refuses: the CI build when there is one."""
    where = default_owner()
    return f"build {ci.build} of {ci.branch or '?'} ({where})" if ci.build else where


class Release:
    """One `release` (or `rollback`) run: its collaborators, held once, and the record it fills in.

    `run()` never raises a `ReleaseError`: the outcome (and the error, if any) is in the returned record, so the
    report is written on every path.
    """

    def __init__(
        self,
        clients: Clients,
        targets: Targets,
        options: ReleaseOptions,
        runtime: Runtime,
        view: View,
        *,
        command: str = "release",
        check_runner: gate.CommandRunner = gate.run_shell,
    ) -> None:
        """Hold the collaborators; nothing is called until `run` (`check_runner` runs the pre-promotion check)."""
        self.clients = clients
        self.targets = targets
        self.options = options
        self.runtime = runtime
        self.view = view
        self.release_id = options.release_id or uuid.uuid4().hex[:12]
        self.record = ReleaseRecord(
            command=command,
            started=runtime.now(),
            application=targets.application,
            deployment_group=targets.deployment_group,
            release_id=self.release_id,
        )
        self.lease = Lease(
            clients.s3,
            targets.bucket,
            lease_key(targets.application, targets.deployment_group),
            release_id=self.release_id,
            command=command,
            runtime=runtime,
            owner=options.owner or _owner(options.ci),
        )
        # Set once the deployment succeeded: from then on no error may be reported as a failed deployment.
        self._committed = False
        # Slots whose scaling processes could not be resumed after the deployment, and why StopDeployment failed.
        self._unresumed: list[str] = []
        self._stop_failure: str | None = None
        # The promotion gate: how the pre-promotion check is run, and its outcome when it failed.
        self._check_runner = check_runner
        self._check_failure: gate.CheckOutcome | None = None
        # Set when --no-wait left the deployment running: processes stay suspended, `converge` finishes it later.
        self._unwatched = False
        # The slots this run suspended, and those it leaves suspended because the deployment (or its rollback) may
        # still run (docs/decisions.md F9).
        self._suspended: list[str] = []
        self._kept_suspended: list[str] = []
        # After a stop or cancel: when every wait for the deployment, its rollback and the target group ends
        # (`--cleanup-timeout` from the stop), and whether the rollback was seen to its end (or to none).
        self._cleanup_deadline: datetime | None = None
        self._rollback_settled = False

    # -- the steps, in order -----------------------------------------------------------------------------------------

    def run(self, revision: dict[str, Any] | None = None) -> ReleaseRecord:
        """Release `options.app_dir`, or the given `revision` (for `rollback`); return the filled-in record."""
        record = self.record
        try:
            tree = self._bundle() if revision is None else None
            # A stop during bundling ends the run before it takes the lease or uploads anything.
            self._raise_if_stopped("the pre-flight")
            situation = self._preflight()
            if tree is not None:
                self._raise_if_stopped("uploading the revision")
                revision = self._upload(tree)
            assert revision is not None
            record.revision = revision
            self._deploy(situation, revision, tree.appspec if tree is not None else None)
        except ReleaseError as exc:
            record.error = self._with_kept_suspended(exc)
        except AWS_ERRORS as exc:
            record.error = self._with_kept_suspended(self._aws_error(exc))
        except Exception as exc:
            if record.deployment_id is None:
                raise  # nothing was created: a bug, with its traceback
            # A bug after CreateDeployment must not leave the deployment unwatched without a word (exit 1).
            record.error = self._with_kept_suspended(self._unexpected(exc))
        finally:
            self._end()
        return record

    def converge(self) -> ReleaseRecord:
        """Finish what an ended deployment left, exactly as every release does first, and nothing more.

        For `status --follow` after a `release --no-wait` (or any run that ended before its deployment): take the
        lease, resolve the live slot (re-pointing the group after a deployment that succeeded unwatched), resume the
        scaling processes on both slots and empty the idle slot (`_preflight`, `_plan_slots`, `_prepare_idle`).
        Like `run`, never raises a `ReleaseError`: the outcome is in the record.
        """
        record = self.record
        try:
            situation = self._preflight()
            with record.phase("finish", self.runtime):
                plan = self._plan_slots(situation)
                record.live_before, record.idle = plan.live, plan.idle
                self._prepare_idle(plan)
        except ReleaseError as exc:
            record.error = exc
        except AWS_ERRORS as exc:
            record.error = self._aws_error(exc)
        finally:
            self._end()
        return record

    def _end(self) -> None:
        """On every way out: release the lease, note the end, leave the screen tidy."""
        note = self.lease.release()
        if note:
            self.view.note(note)
        self.record.finished = self.runtime.now()
        self.view.close()

    def _aws_error(self, exc: Exception) -> ReleaseError:
        """An AWS error nobody below expected: never "deployment failed"; its meaning depends on how far we got."""
        record = self.record
        operation = getattr(exc, "operation_name", None) or "an AWS call"
        detail = exc.response.get("Error", {}).get("Message", exc) if isinstance(exc, ClientError) else exc
        text = f"{operation} failed ({error_code(exc)}): {detail}"
        if self._committed:
            return FinishIncomplete(
                f"released: deployment {record.deployment_id} succeeded and traffic is on {record.idle}, but "
                f"finishing is incomplete: {text}"
            )
        if record.deployment_id is not None:
            return AwsUnavailable(
                f"{text}; deployment {record.deployment_id} may still be running",
                hint=(
                    "`python scripts/deploy.py status` shows it; `python scripts/deploy.py stop` stops it with "
                    "rollback. If AWS refused the credentials: `aws sts get-caller-identity`."
                ),
            )
        if record.idle and self.lease.held:
            try:
                self._empty_idle(record.idle, traffic_safe=True)
            except (ReleaseError, *AWS_ERRORS) as cleanup:
                self.view.note(f"{record.idle} left as it is ({cleanup}); the next run empties it")
        return AwsUnavailable(text)

    def _unexpected(self, exc: Exception) -> ReleaseError:
        """A bug after the deployment was created: try to stop it with rollback once, and say what runs (exit 1)."""
        deployment_id = self.record.deployment_id
        assert deployment_id is not None
        self.view.note(f"unexpected error after deployment {deployment_id} was created: {exc!r}")
        try:
            message = deployments.stop_deployment(self.clients.codedeploy, deployment_id)
            stopped = f"it was stopped with rollback ({message})"
        except ClientError as stop_error:
            completed = error_code(stop_error) == "DeploymentAlreadyCompletedException"
            stopped = "it had already completed" if completed else f"it MAY STILL BE RUNNING ({stop_error})"
        except Exception as stop_error:  # the report must come out whatever the stop raised (it is logged here)
            stopped = f"it MAY STILL BE RUNNING: StopDeployment failed ({stop_error!r})"
        return DeploymentFailed(
            f"the release tool failed unexpectedly after creating deployment {deployment_id} ({type(exc).__name__}: "
            f"{exc}); {stopped}",
            hint=(
                f"`python scripts/deploy.py status` shows it; to stop it: `aws deploy stop-deployment --deployment-id "
                f"{deployment_id} --auto-rollback-enabled`. Please report the error above: it is a bug of the tool."
            ),
        )

    def _with_kept_suspended(self, error: ReleaseError) -> ReleaseError:
        """Add to `error` which slots stay suspended because this run's deployment (or its rollback) may still run,
        who resumes them, and when (docs/decisions.md F9)."""
        if not self._kept_suspended:
            return error
        deployment_id = self.record.deployment_id
        error.hint = (
            f"{error.hint + ' ' if error.hint else ''}Scaling processes stay suspended on "
            f"{', '.join(self._kept_suspended)} while deployment {deployment_id} or its rollback may still run "
            "(docs/decisions.md F9): resuming them now could launch or terminate instances under CodeDeploy. Once it "
            "has ended, the stack's AWS-side finisher (if it has one) resumes them when CodeDeploy reports the end; "
            f"else `python scripts/deploy.py status --follow --deployment-id {deployment_id}` or the next release "
            "resumes them and empties the idle slot."
        )
        return error

    def _bundle(self) -> RevisionTree:
        """Validate `options.app_dir` and hash its files into the revision's content hash (nothing is compressed).

        The zip is made only if the upload finds its key missing (`_upload`), so an unchanged revision costs one read
        of its files.
        """
        assert self.options.app_dir is not None
        record = self.record
        with record.phase("bundle", self.runtime):
            tree = scan_revision(self.options.app_dir)
            record.bundle_sha256, record.bundle_files = tree.content_sha256, len(tree.files)
            self.view.note(
                f"revision {tree.content_sha256[:12]}: {len(tree.files)} files, {tree.content_bytes} bytes, "
                "appspec valid"
            )
        return tree

    def _preflight(self) -> Situation:
        """Bucket, deployment groups, no deployment in flight, both slots and the live slot, before anything is written.

        The live slot is resolved here (`release.live`), so a refusal (exit 2) comes before any upload or scaling.
        """
        with self.record.phase("pre-flight", self.runtime):
            check_bucket(self.clients.s3, self.targets.bucket)
            self._take_lease()
            # Every read below is idempotent: one transient error (throttling, a dropped connection) reads again.
            return retried(
                self._read_situation,
                runtime=self.runtime,
                only_transient=True,
                log=self.view.note,
                what="a pre-flight read",
            )

    def _take_lease(self) -> None:
        """Take the release lease (exit 5 without it) and renew it from every wait from now on."""
        try:
            taken_over = self.lease.acquire()
        except LeaseHeld:
            # Held by a run that bakes its release: a new release asks it to end its window, then takes the lease.
            if not self._ends_windows or not bake.ask_to_end(
                self._bake_site(), release_id=self.release_id, now=self.runtime.now()
            ):
                raise
            taken_over = self._lease_after_window()
        if taken_over:
            self._recovered(taken_over)
        self.runtime = dataclasses.replace(
            self.runtime, sleep=self.lease.renewing_sleep(self.runtime.sleep, self.view.note)
        )
        if self._ends_windows:
            ended = bake.close_for_release(self._bake_site(), release_id=self.release_id, now=self.runtime.now())
            if ended:
                self._recovered(ended)

    @property
    def _ends_windows(self) -> bool:
        """Only a run that deploys ends another release's bake window (`status --follow` only finishes a deployment)."""
        return self.record.command in ("release", "rollback")

    def _lease_after_window(self) -> str | None:
        """Wait (bounded by the lease's expiry) for the baking run to end its window and let go of the lease."""
        waited, bound = 0.0, LEASE_TTL_SECONDS + LEASE_SKEW_SECONDS
        self.view.note("another release bakes: asked it to end its bake window; waiting for its lease")
        while True:
            try:
                return self.lease.acquire()
            except LeaseHeld:
                if waited >= bound or self.runtime.stop.requested:
                    raise
            self.runtime.sleep(bake.POLL_SECONDS)
            waited += bake.POLL_SECONDS

    def _bake_site(self) -> bake.Site:
        return bake.Site.of(self.clients, self.targets)

    def _owned(self) -> None:
        """Right before changing a slot or the group: renew the lease now; `LeaseLost` if another run owns them."""
        self.lease.ensure(self.view.note)

    def _read_situation(self) -> Situation:
        """The deployment group, no deployment in flight, the bootstrap group, both slots and the live slot (reads)."""
        codedeploy, targets = self.clients.codedeploy, self.targets
        group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
        deployments.refuse_if_in_flight(codedeploy, targets.application, targets.deployment_group)
        steps = self._bootstrap_group()
        states = slots.describe_slots(self.clients.autoscaling, targets.slots)
        evidence = self._evidence(group, states, steps)
        decision = live.resolve(evidence)
        evidence = self._idle_deregistered(evidence, decision.idle)
        return Situation(group, decision, evidence, steps)

    def _bootstrap_group(self) -> Bootstrap | None:
        """The stack's bootstrap group, if it has one; a deployment in flight there is refused like any (exit 5)."""
        name = self.targets.bootstrap_group
        if not name:
            return None
        codedeploy, application = self.clients.codedeploy, self.targets.application
        deployments.refuse_if_in_flight(codedeploy, application, name)
        return Bootstrap(codedeploy, deployments.get_bootstrap_group(codedeploy, application, name), self.view.note)

    def _evidence(
        self, group: deployments.GroupInfo, states: dict[str, slots.SlotState], steps: Bootstrap | None
    ) -> live.Evidence:
        """What the deployment group, the target group and the last successful deployment say (`release.live`)."""
        pair = self.targets.slots
        return live.read_evidence(
            self.clients.codedeploy,
            self.clients.elbv2,
            self.targets.target_group_arn,
            group=group,
            pair=pair,
            slot_instances={name: [i.instance_id for i in states[name].instances] for name in pair},
            bootstrap_slot=steps.group.succeeded_on(pair) if steps else None,
        )

    def _deregistration_bound(self) -> float:
        timing = read_traffic_timing(self.clients.elbv2, self.targets.target_group_arn)
        return live.deregistration_bound_seconds(timing.deregistration_delay_seconds, timing.interval_seconds)

    def _idle_deregistered(self, evidence: live.Evidence, idle: str) -> live.Evidence:
        """Wait (bounded) until the idle slot's leaving targets are gone; refuse (exit 2) if it stays registered."""
        held = evidence.registered_in(idle)
        if not held or self.clients.elbv2 is None or not self.targets.target_group_arn:
            return evidence
        bound = self._deregistration_bound()
        held = live.wait_deregistered(
            self.clients.elbv2,
            self.targets.target_group_arn,
            idle,
            set(held),
            runtime=self.runtime,
            timeout=bound,
            log=self.view.progress,
        )
        self._raise_if_stopped("touching the slots")
        if held:
            raise live.still_held(idle, held, bound)
        left = {i: state for i, state in (evidence.targets or {}).items() if evidence.members.get(i) != idle}
        return dataclasses.replace(evidence, targets=left)

    def _upload(self, tree: RevisionTree) -> dict[str, Any]:
        """Zip the revision into the artifact bucket as it is compressed, unless its key is there already; return the
        CodeDeploy revision (pinned by ETag and version id)."""
        ci = self.options.ci
        with self.record.phase("upload", self.runtime):
            stored = publish_revision(
                self.clients.s3,
                tree,
                bucket=self.targets.bucket,
                application=self.targets.application,
                prefix=self.options.key_prefix,
                commit=ci.commit,
                branch=ci.branch,
                build=ci.build,
            )
            self.record.uploaded, self.record.bundle_size = stored.uploaded, stored.size
            self.view.note(
                f"{'uploaded' if stored.uploaded else 'unchanged, upload skipped'}: s3://{stored.bucket}/{stored.key}"
            )
        return stored.to_codedeploy()

    def _deploy(self, situation: Situation, revision: dict[str, Any], appspec: Any) -> None:
        """From the slots onwards: fill the idle slot, deploy to it, follow, and switch or clean up."""
        record, group = self.record, situation.group
        self._raise_if_stopped("touching the slots")
        with record.phase("slots", self.runtime):
            plan = self._plan_slots(situation)
            record.live_before, record.idle, record.first_release = plan.live, plan.idle, plan.first_release
            self._prepare_idle(plan)
        try:
            result = self._fill_and_deploy(group, plan, revision, appspec)
        except ReleaseError:
            if record.deployment_id is None and self.lease.held:
                # Nothing was deployed (interrupted while filling, or refused by CreateDeployment): emptying is safe.
                # Without the lease the slots are another run's: nothing is touched.
                self._empty_idle(plan.idle, traffic_safe=True)
            raise
        if result.ending == "started":
            return  # --no-wait: the deployment runs on; `converge` (status --follow, the next run) finishes it
        if self._stop_failure is not None:
            raise self._still_running(plan, result)
        if not (result.ending == "finished" and result.snapshot.status == "Succeeded"):
            with record.phase("rollback", self.runtime):
                raise self._with_unresumed(self._finish_unsuccessful(plan, result))
        self._committed = True
        with record.phase("switch", self.runtime):
            self._switch(group, plan)

    # -- slots ---------------------------------------------------------------------------------------------------------

    def _raise_if_stopped(self, before: str) -> None:
        """A stop requested while bundling, uploading or filling the slot ends the run before the next step."""
        if self.runtime.stop.requested:
            raise Cancelled(f"release cancelled ({self.runtime.stop.reason}) before {before}")

    def _recovered(self, note: str) -> None:
        self.view.note(note)
        self.record.recovered.append(note)

    def _plan_slots(self, situation: Situation) -> SlotPlan:
        """Act on the resolved live slot (point the group, clear the bootstrap group's leftovers); choose the route."""
        decision, evidence, targets = situation.decision, situation.evidence, self.targets
        for note in decision.notes:
            self.view.note(note)
        self._owned()
        if decision.repoint:
            self._recovered(decision.repoint)
            deployments.point_group_at(self.clients.codedeploy, situation.group, decision.live)
        recovered = situation.bootstrap.recover() if situation.bootstrap else None
        if recovered:
            self.record.recovered.append(recovered)
        states = slots.describe_slots(self.clients.autoscaling, targets.slots)
        live_state = states[decision.live]
        # The idle slot's own targets were waited out in pre-flight; what is left is registered elsewhere.
        registered = (
            None
            if evidence.targets is None
            else {i: state for i, state in evidence.targets.items() if evidence.members.get(i) != decision.idle}
        )
        route = bootstrap.choose_route(
            live_serving=live_state.serving, registered=registered, bootstrap_group=targets.bootstrap_group
        )
        if route is not Route.BLUE_GREEN:
            self.view.note(
                bootstrap.route_note(
                    route, live=decision.live, registered=registered, bootstrap_group=targets.bootstrap_group
                )
            )
        steps = situation.bootstrap if route is Route.BOOTSTRAP else None
        first = route is not Route.BLUE_GREEN
        return SlotPlan(decision.live, decision.idle, live_state, states[decision.idle], first, route, steps)

    def _prepare_idle(self, plan: SlotPlan) -> None:
        """Resume processes a crash may have left suspended; empty an idle slot left scaled up; wait out draining."""
        autoscaling = self.clients.autoscaling
        self._owned()
        slots.resume(autoscaling, (plan.live, plan.idle))
        idle = plan.idle_state
        if idle.occupied:
            self._recovered(
                f"{idle.name} is idle but holds {len(idle.staying)} instance(s) (desired {idle.desired}) with no "
                "deployment in flight: an interrupted release left it; emptying it before the new release"
            )
            slots.scale(autoscaling, idle, 0, minimum=0)
        if idle.instances:
            slots.wait_empty(
                autoscaling,
                idle.name,
                runtime=self.runtime,
                timeout=self.options.scale_timeout_seconds,
                log=self.view.note,
                progress=self.view.progress,
            )

    def _fill(self, plan: SlotPlan) -> int:
        """Scale the idle slot to the release's capacity and wait until every instance serves; return the capacity."""
        autoscaling = self.clients.autoscaling
        capacity = capacity_for(plan, self.targets)
        self.record.capacity = capacity
        with self.record.phase("scale-up", self.runtime):
            self.view.note(
                f"scaling {plan.idle} to {capacity} instance(s) (live {plan.live} has {plan.live_state.desired}); "
                f"waiting up to {self.options.scale_timeout_seconds:.0f} s (--scale-timeout) for launch, boot, user "
                "data and the CodeDeploy agent: an instance is InService only once its agent runs"
            )
            idle_now = slots.describe_slots(autoscaling, [plan.idle])[plan.idle]
            self._owned()
            slots.scale(autoscaling, idle_now, capacity, minimum=min(self.targets.fleet.minimum, capacity))
            slots.wait_serving(
                autoscaling,
                plan.idle,
                capacity,
                runtime=self.runtime,
                timeout=self.options.scale_timeout_seconds,
                log=self.view.note,
                progress=self.view.progress,
            )
        return capacity

    def _empty_idle(self, idle: str, *, traffic_safe: bool, force: bool = False) -> None:
        """Scale the idle slot to 0, unless traffic may reach it; `force` only for a failed first release."""
        if not traffic_safe:
            self.view.note(
                f"{idle} left running: traffic may still reach it until CodeDeploy's rollback finishes; "
                "the next run empties it"
            )
            return
        held = None if force else self._held_by_target_group(idle)
        if held:
            self.view.note(f"{idle} left running: {held}; the next run empties it once they have deregistered")
            return
        self._owned()
        finish.empty_slot(self.clients.autoscaling, idle)
        self.view.note(f"{idle} scaled back to 0")

    def _held_by_target_group(self, idle: str) -> str | None:
        """Why the target group still holds the idle slot (after waiting out draining), or None (`release.live`)."""
        elbv2, arn = self.clients.elbv2, self.targets.target_group_arn
        if elbv2 is None or not arn:
            return None
        instances = {i.instance_id for i in slots.describe_slots(self.clients.autoscaling, [idle])[idle].instances}
        if not instances:
            return None
        try:
            timeout = min(self._cleanup_left(self.options.cleanup_timeout_seconds), self._deregistration_bound())
            held = live.wait_deregistered(
                elbv2, arn, idle, instances, runtime=self.runtime, timeout=timeout, log=self.view.progress
            )
        except ReleaseError as exc:
            return f"the target group cannot be read ({exc.message})"
        return f"its instances are registered with the target group ({live.describe_targets(held)})" if held else None

    def _switch(self, group: deployments.GroupInfo, plan: SlotPlan) -> None:
        """Point the group at the new live slot and empty the old one (the drain Lambda lets each instance go).

        The deployment succeeded: traffic is on the new slot whatever happens here. The steps are
        `bluegreen.finish.switch_steps`, the ones the AWS-side finisher runs too; each is retried and tried even when
        the one before failed; what still fails ends the run "released, finishing incomplete" (exit 7). When the
        finisher took the lease over (this run stalled past it) and already finished, the run sees it done.
        """
        record = self.record
        unfinished: list[str] = []
        record.live_after = plan.idle
        if self._finished_by_another(plan):
            return
        point, empty_old = finish.switch_steps(
            self.clients.codedeploy,
            self.clients.autoscaling,
            application=group.application,
            group=group.name,
            new_live=plan.idle,
            old_live=plan.live,
        )
        if plan.bootstrap is not None:
            # The blue/green group takes the slot before the bootstrap group lets go of it (release.bootstrap).
            boot, point_blue_green = plan.bootstrap, point.call
            point = finish.Step(
                f"hand {plan.idle} from the bootstrap group to {group.name}",
                lambda: boot.succeeded(point_blue_green),
                "the next release points the group at the live slot and clears the bootstrap group",
            )
        if self._post_commit(point.what, point.call, repair=point.repair, unfinished=unfinished):
            self.view.note(f"deployment group {group.name} now lists {plan.idle} as the live slot")
        self._owned()
        if self._bakes(plan, unfinished):
            self._bake(plan)
        elif self._post_commit(empty_old.what, empty_old.call, repair=empty_old.repair, unfinished=unfinished):
            self.view.note(
                f"{plan.live} scaling to 0; the drain Lambda lets each instance go once its connections drained"
            )
        unfinished.extend(
            f"scaling processes are still suspended on {name}: {finish.resume_command(name)}"
            for name in self._unresumed
        )
        if unfinished:
            lines = "\n".join(f"  - {line}" for line in unfinished)
            raise FinishIncomplete(
                f"released: deployment {record.deployment_id} succeeded and traffic is on {plan.idle}, but "
                f"finishing is incomplete:\n{lines}"
            )

    def _bakes(self, plan: SlotPlan, unfinished: list[str]) -> bool:
        """Whether this release keeps the old slot for a bake window: `bake_minutes` > 0, a blue/green release, the
        group re-pointed, and a target group to roll back through (else the old slot is emptied as today)."""
        if self.options.bake_minutes <= 0 or plan.bootstrap is not None or unfinished:
            return False
        if self.clients.elbv2 is None or not self.targets.target_group_arn:
            self.view.note("no bake window: the stack's target group is unknown (output TargetGroupArn)")
            return False
        return True

    def _bake(self, plan: SlotPlan) -> None:
        """Keep the old slot out of traffic for the bake window, watching it; end it or roll back (release.bake)."""
        record = self.record
        assert record.deployment_id is not None
        timing = read_traffic_timing(self.clients.elbv2, self.targets.target_group_arn)
        watch = bake.Watch(self._bake_site(), self.runtime, self.view.note, timing, owned=self._owned)
        with record.phase("bake", self.runtime):
            window = watch.open(
                release_id=self.release_id,
                deployment_id=record.deployment_id,
                old_slot=plan.live,
                new_slot=plan.idle,
                minutes=self.options.bake_minutes,
            )
            outcome = watch.watch(window)
        record.bake.extend(outcome.notes)
        for note in outcome.notes:
            self.view.note(note)
        if outcome.ending == "rolled-back":
            record.live_after = plan.live
            raise DeploymentFailed(
                f"deployment {record.deployment_id} succeeded, then was rolled back inside the bake window: traffic "
                f"is on {plan.live} again, {plan.idle} is being emptied"
            )

    def _finished_by_another(self, plan: SlotPlan) -> bool:
        """Renew the lease before the switch; if it was lost, whether another actor already finished this release.

        A run that stalled past its lease (a frozen runner, a long network partition) finds, when it wakes up, that
        the finisher took the lease over. If the group already lists this release's slot, the other slot is empty
        and nothing is suspended (`bluegreen.finish.converged`), the release is done: the run says so and exits 0.
        Otherwise `LeaseLost` goes up (exit 5): the slots are another actor's now.
        """
        try:
            self._owned()
            return False
        except LeaseLost:
            listed = deployments.get_group(
                self.clients.codedeploy, self.targets.application, self.targets.deployment_group
            )
            why = finish.converged(
                listed.listed_slots, finish.read_slots(self.clients.autoscaling, self.targets.slots), live=plan.idle
            )
            if why is not None:
                raise
        self.view.note(
            f"the release lease was taken over meanwhile, and the release is already finished: {plan.idle} is live"
        )
        self._unresumed = []
        return True

    def _post_commit(self, what: str, call: Callable[[], object], *, repair: str, unfinished: list[str]) -> bool:
        """Run one step after the success, retried; on a lasting failure note it with its repair and go on."""
        try:
            retried(call, runtime=self.runtime, log=self.view.note, what=what)
        except AWS_ERRORS as exc:
            self.view.note(f"could not {what}: {error_code(exc)}")
            unfinished.append(f"could not {what} ({error_code(exc)}); repair: {repair}")
            return False
        return True

    # -- the deployment ------------------------------------------------------------------------------------------------

    def _timeout(
        self, group: deployments.GroupInfo, plan: SlotPlan, capacity: int, appspec: Any, traffic: TrafficTiming | None
    ) -> float:
        if self.options.timeout_seconds:
            # An explicit timeout bounds the deployment's own work; the wait for promotion is people's time, added.
            return self.options.timeout_seconds + (group.ready_wait_minutes * 60 if _gated(group, plan) else 0)
        blue_instances = plan.live_state.serving
        if plan.bootstrap is not None:
            # In place, each instance runs the blue events (BlockTraffic) and the green ones in turn, in the bootstrap
            # group's configuration, with no ready wait and no blue termination wait.
            group = dataclasses.replace(
                group,
                deployment_config=plan.bootstrap.group.deployment_config,
                ready_action="CONTINUE_DEPLOYMENT",
                blue_action="KEEP_ALIVE",
            )
            blue_instances = capacity
        return default_timeout_seconds(
            group,
            green_instances=capacity,
            blue_instances=blue_instances,
            green_hook_seconds=_hook_seconds(appspec, GREEN_EVENT_ORDER),
            blue_hook_seconds=_hook_seconds(appspec, BLUE_EVENT_ORDER),
            # The deadline needs the target group's timing: unreadable here, the release stops (not guessed).
            traffic=traffic or read_traffic_timing(self.clients.elbv2, self.targets.target_group_arn),
        )

    def _informational_traffic(self) -> TrafficTiming | None:
        """The target group's timing for the live view's estimates and the report's release-time model
        (docs/performance.md). Informational only: unreadable, the release goes on without them (said once)."""
        try:
            return read_traffic_timing(self.clients.elbv2, self.targets.target_group_arn)
        except AWS_ERRORS as exc:
            self.view.note(f"no release-time model in the report: the target group could not be read ({exc})")
            return None

    def _fill_and_deploy(
        self, group: deployments.GroupInfo, plan: SlotPlan, revision: dict[str, Any], appspec: Any
    ) -> FollowResult:
        """Fill the idle slot, deploy to it with scaling paused and follow; stop the deployment on timeout or cancel."""
        record, view, autoscaling = self.record, self.view, self.clients.autoscaling
        traffic = self._informational_traffic()
        model = None
        if traffic is not None:
            # One model for the live view's estimates and the report (capacity_for is what `_fill` scales to).
            model = release_model(
                traffic, instances=capacity_for(plan, self.targets), deployment_config_name=group.deployment_config
            )
            view.expect(record, expectation(model, traffic, scale_timeout_seconds=self.options.scale_timeout_seconds))
        capacity = self._fill(plan)
        record.timeout_seconds = self._timeout(group, plan, capacity, appspec, traffic)
        if plan.bootstrap is None:
            record.model = model
        with record.phase("deployment", self.runtime):
            self._owned()
            self._suspended = slots.suspend(autoscaling, (plan.live, plan.idle), view.note)
            try:
                result = self._create_and_follow(group, plan, revision)
            except BaseException:
                if record.deployment_id is None:
                    self._after_deployment()  # nothing was created: nothing runs that needs the processes suspended
                elif self._stop_failure is None:
                    self._kept_suspended = list(self._suspended)  # it may still run: `_with_kept_suspended` says so
                raise
            if result.ending == "started" or (result.ending == "finished" and result.snapshot.status == "Succeeded"):
                self._after_deployment()
            # Any other ending: the deployment or its rollback may run on; `_finish_unsuccessful` resumes them once
            # both have ended (docs/decisions.md F9).
            return result

    def _after_deployment(self) -> None:
        """Resume the slots' processes once the deployment (and any rollback) ended, unless --no-wait left it running,
        StopDeployment failed, or another run owns the slots."""
        suspended = self._suspended
        if self._unwatched:
            self.view.note(
                f"scaling processes stay suspended on {', '.join(suspended)} while deployment "
                f"{self.record.deployment_id} runs (--no-wait): `status --follow` or the next release finishes it"
            )
            return
        if self._stop_failure is not None:
            self.view.note(
                f"scaling processes stay suspended on {', '.join(suspended)}: deployment "
                f"{self.record.deployment_id} is still running"
            )
            return
        if not self.lease.held:
            return  # the lease was lost: the slots are another run's now (its suspensions are its own)
        try:
            self._owned()
        except LeaseLost:
            # Taken over meanwhile (this run stalled past its lease): the slots are another actor's now; the switch
            # finds out whether that actor already finished (`_finished_by_another`).
            return
        self._unresumed = slots.resume_every(
            self.clients.autoscaling, suspended, runtime=self.runtime, log=self.view.note
        )

    def _create_and_follow(
        self, group: deployments.GroupInfo, plan: SlotPlan, revision: dict[str, Any]
    ) -> FollowResult:
        """Create the deployment (recognising our own after a retried create), follow it; stop it on timeout/cancel."""
        codedeploy, record, view = self.clients.codedeploy, self.record, self.view
        self._raise_if_stopped("creating the deployment")
        description = deployments.build_description(
            self.options.ci, self.options.description, release_id=self.release_id
        )
        if plan.bootstrap is not None:
            record.deployment_id = plan.bootstrap.start(
                slot=plan.idle, revision=revision, description=description, release_id=self.release_id
            )
        else:
            record.deployment_id = deployments.create_deployment(
                codedeploy,
                application=group.application,
                group=group.name,
                revision=revision,
                idle_slot=plan.idle,
                description=description,
                release_id=self.release_id,
                ignore_application_stop_failures=self.options.ignore_application_stop_failures,
                file_exists_behavior=self.options.file_exists_behavior,
            )
        if not self.options.wait and plan.bootstrap is not None:
            # The first release hands the slot from the bootstrap group to the blue/green group afterwards
            # (release.bootstrap); that hand-over is this run's, so it follows the deployment despite --no-wait.
            view.note("first release through the bootstrap group: followed to its end despite --no-wait")
        elif not self.options.wait:
            self._unwatched = True
            view.note(f"deployment {record.deployment_id} created, not followed (--no-wait): {description}")
            started = Snapshot(deployment={"deploymentId": record.deployment_id, "status": "Created"}, targets=())
            record.snapshot, record.deployment_status = started, started.status
            return FollowResult("started", started)
        view.note(f"deployment {record.deployment_id} created (timeout {record.timeout_seconds:.0f} s): {description}")
        followed_from = self.runtime.now()
        result = follow(
            codedeploy,
            record.deployment_id,
            runtime=self.runtime,
            view=view,
            timeout=record.timeout_seconds or 0.0,
            until_ready=_gated(group, plan),
        )
        if result.ending == "ready":
            result = self._at_the_gate(group, plan, result, followed_from)
        if result.ending in ("timeout", "cancelled"):
            # Stop first, within seconds of the signal or deadline; everything else can wait (CI kills soon after
            # SIGTERM). Processes are resumed only once the deployment and its rollback have ended
            # (`_finish_unsuccessful`), never while either may still run (docs/decisions.md F9).
            result = self._stop(record.deployment_id, result)
        record.snapshot = result.snapshot
        record.deployment_status = result.snapshot.status
        return result

    def _at_the_gate(
        self, group: deployments.GroupInfo, plan: SlotPlan, ready: FollowResult, started: datetime
    ) -> FollowResult:
        """The deployment waits for promotion (docs/decisions.md F80, F81): run the pre-promotion check, then follow
        on while `promote` continues it or `abort` stops it, from this or any other machine.

        The release keeps following through the wait, with the slots' scaling processes suspended and the lease held,
        so that it switches the slots itself once the promoted deployment succeeds; its timeout counts the wait. A
        failed check stops the deployment with rollback at once ("check-failed").
        """
        record, view = self.record, self.view
        assert record.deployment_id is not None
        view.note(f"deployment {record.deployment_id} is Ready: {plan.idle} is installed and serves no traffic yet")
        outcome = self._pre_promotion_check(plan, record.deployment_id)
        if outcome is not None:
            for line in outcome.lines():
                view.note(line)
            if not outcome.passed and self.runtime.stop.requested:
                # A stop request ended the check: the cancel path stops the deployment (exit 4), not a failed check.
                return FollowResult("cancelled", ready.snapshot)
            if not outcome.passed:
                self._check_failure = outcome
                stopped = self._stop(record.deployment_id, ready)
                return stopped if stopped.ending == "finished" else FollowResult("check-failed", stopped.snapshot)
        view.note(
            "waiting for promotion: run `python scripts/deploy.py promote` (or `python scripts/deploy.py abort` to "
            f"stop it with rollback); unpromoted, CodeDeploy stops it after {group.ready_wait_minutes} min"
        )
        elapsed = (self.runtime.now() - started).total_seconds()
        return follow(
            self.clients.codedeploy,
            record.deployment_id,
            runtime=self.runtime,
            view=view,
            timeout=max((record.timeout_seconds or 0.0) - elapsed, 0.0),
        )

    def _pre_promotion_check(self, plan: SlotPlan, deployment_id: str) -> gate.CheckOutcome | None:
        """Run the check against the replacement slot through the test listener (release.gate), if one was given."""
        command = self.options.check_command
        if not command:
            return None
        arn, url, elbv2 = self.targets.preview_target_group_arn, self.targets.test_url, self.clients.elbv2
        if not arn or not url or elbv2 is None:
            return gate.CheckOutcome(command, False, "the stack has no test listener (testListenerPort)")
        replacement = slots.describe_slots(self.clients.autoscaling, [plan.idle])[plan.idle]
        check = gate.PromotionCheck(
            elbv2,
            target_group_arn=arn,
            url=url,
            command=command,
            runtime=self.runtime,
            log=self.view.note,
            mark=gate.CheckMark.of(self.clients.s3, self.targets),
            timeout_seconds=self.options.check_timeout_seconds,
            runner=self._check_runner,
        )
        return check.run([instance.instance_id for instance in replacement.staying], deployment_id)

    def _stop(self, deployment_id: str, result: FollowResult) -> FollowResult:
        """StopDeployment with rollback, retried; a deployment that completed meanwhile is taken as it ended."""
        codedeploy, view = self.clients.codedeploy, self.view
        if self._cleanup_deadline is None:
            # From the stop on, every wait (the deployment settling, the rollback, the target group) shares this bound.
            self._cleanup_deadline = self.runtime.now() + timedelta(seconds=self.options.cleanup_timeout_seconds)

        def stop() -> str | None:
            try:
                return deployments.stop_deployment(codedeploy, deployment_id)
            except ClientError as exc:
                if error_code(exc) == "DeploymentAlreadyCompletedException":
                    return None
                raise

        try:
            message = retried(stop, runtime=self.runtime, delay=1.0, log=view.note, what="StopDeployment")
        except AWS_ERRORS as exc:
            self._stop_failure = f"{error_code(exc)}: {exc}"
            view.note(f"StopDeployment failed after retries: {self._stop_failure}")
            return result
        if message is None:
            # The stop raced the deployment's end (DeploymentAlreadyCompletedException): report what really happened.
            ended = retried(lambda: poll(codedeploy, deployment_id), runtime=self.runtime, log=view.note, what="poll")
            view.note(f"deployment {deployment_id} had already completed ({ended.status}) when it was to be stopped")
            return FollowResult("finished", ended)
        view.note(f"StopDeployment with rollback: {message}")
        return result

    def _still_running(self, plan: SlotPlan, result: FollowResult) -> ReleaseError:
        """The error when StopDeployment kept failing: the deployment runs on, processes stay suspended."""
        deployment_id = self.record.deployment_id
        message = (
            f"deployment {deployment_id} is STILL RUNNING: StopDeployment failed after retries "
            f"({self._stop_failure}). Scaling processes stay suspended on {plan.live} and {plan.idle}, as a running "
            "deployment needs (docs/decisions.md F9); no slot was scaled"
        )
        hint = (
            f"Stop it now: `python scripts/deploy.py stop` with the same --stack (or `aws deploy stop-deployment "
            f"--deployment-id {deployment_id} --auto-rollback-enabled`). Then run the release again: it resumes the "
            "processes and empties the idle slot once the deployment has ended."
        )
        if result.ending == "timeout":
            return TimedOut(f"timed out after {self.record.timeout_seconds:.0f} s; {message}", hint=hint)
        if result.ending == "check-failed":
            return DeploymentFailed(f"the pre-promotion check failed; {message}", hint=hint)
        return Cancelled(f"release cancelled ({self.runtime.stop.reason}); {message}", hint=hint)

    # -- an unsuccessful end -------------------------------------------------------------------------------------------

    def _settled(self, deployment_id: str, result: FollowResult) -> Snapshot:
        """The deployment's last snapshot; a stopped one is followed (bounded) until it settles, to report it."""
        stop = self.runtime.stop
        if result.ending in ("timeout", "cancelled", "check-failed") and stop.count <= 1:
            ended = follow(
                self.clients.codedeploy,
                deployment_id,
                runtime=self.runtime,
                view=self.view,
                timeout=self._cleanup_left(self.options.cleanup_timeout_seconds),
                stop_at=stop.count + 1,
            )
            return ended.snapshot
        return result.snapshot

    def _finish_unsuccessful(self, plan: SlotPlan, result: FollowResult) -> ReleaseError:
        """Report the failure, follow the rollback, empty the idle slot when safe; return the error to raise."""
        record, stop = self.record, self.runtime.stop
        assert record.deployment_id is not None
        snapshot = self._settled(record.deployment_id, result)
        record.snapshot = snapshot
        record.deployment_status = snapshot.status
        record.failure = failure_lines(snapshot.targets)
        info = snapshot.deployment.get("errorInformation") or {}
        if info:
            record.failure.insert(0, f"deployment error {info.get('code', '?')}: {info.get('message', '')}")
        if self._check_failure is not None:
            record.failure[:0] = self._check_failure.lines()
        if record.failure:
            # The diagnostics are printed once, in the summary at the end (release.report); here only where.
            self.view.note(
                f"deployment {record.deployment_id} {snapshot.status.lower()}: {_where_failed(snapshot)}; "
                "the summary at the end gives the diagnostics"
            )
        if snapshot.status in deployments.TERMINAL_STATUSES and stop.count <= 1:
            self._follow_rollback(record.deployment_id, self._cleanup_left(self.options.rollback_timeout_seconds))
        if snapshot.status in deployments.TERMINAL_STATUSES and self._rollback_settled:
            self._after_deployment()
            self._clean_up_idle(plan, snapshot)
        elif self._stop_failure is None:
            # The deployment or its rollback may still run: its slots stay as they are, processes suspended (F9).
            self._kept_suspended = list(self._suspended)
            self.view.note(
                f"scaling processes stay suspended on {', '.join(self._suspended)} and {plan.idle} is left as it is: "
                f"deployment {record.deployment_id} or its rollback may still be running"
            )
        rolled = f" Rollback {record.rollback_id}: {record.rollback_status or 'unknown'}." if record.rollback_id else ""
        if result.ending == "timeout":
            return TimedOut(
                f"deployment {record.deployment_id} did not finish within {record.timeout_seconds:.0f} s; "
                f"it was stopped with rollback.{rolled}"
            )
        if result.ending == "cancelled":
            return Cancelled(
                f"release cancelled ({stop.reason}); deployment {record.deployment_id} was stopped "
                f"with rollback.{rolled}"
            )
        if self._check_failure is not None:
            return DeploymentFailed(
                f"pre-promotion check failed ({self._check_failure.reason}): {self._check_failure.command}; "
                f"deployment {record.deployment_id} was stopped with rollback before any traffic moved, traffic "
                f"stays on {plan.live}.{rolled}"
            )
        where = (
            f"{plan.idle} was emptied: nothing served before this first release"
            if plan.bootstrap is not None
            else f"traffic stays on {plan.live}"
        )
        return DeploymentFailed(f"deployment {record.deployment_id} {snapshot.status.lower()}; {where}.{rolled}")

    def _with_unresumed(self, error: ReleaseError) -> ReleaseError:
        """Add to `error` the slots whose processes could not be resumed, with the command that resumes them."""
        if self._unresumed:
            commands = "; ".join(finish.resume_command(name) for name in self._unresumed)
            error.hint = (
                f"{error.hint} Scaling processes are still suspended on {', '.join(self._unresumed)}: {commands}"
            )
        return error

    def _clean_up_idle(self, plan: SlotPlan, snapshot: Snapshot) -> None:
        """After an unsuccessful deployment: let go of the idle slot when no traffic can be on it."""
        if plan.bootstrap is not None:
            # A first release: nothing served before it, so its slot goes back to 0 even where its own AllowTraffic
            # registered instances; the bootstrap group lets go of the slot first.
            plan.bootstrap.ended_unsuccessfully()
            self._empty_idle(plan.idle, traffic_safe=True, force=True)
            return
        traffic_safe = finish.idle_may_be_emptied(
            traffic_reached_green=_traffic_reached_green(snapshot), rollback_status=self.record.rollback_status
        )
        self._empty_idle(plan.idle, traffic_safe=traffic_safe)

    def _cleanup_left(self, otherwise: float) -> float:
        """Seconds left before the cleanup deadline after a stop (never below 0), or `otherwise` when nothing was
        stopped (a deployment that failed on its own gets the full rollback timeout)."""
        if self._cleanup_deadline is None:
            return otherwise
        return max((self._cleanup_deadline - self.runtime.now()).total_seconds(), 0.0)

    def _follow_rollback(self, deployment_id: str, timeout: float) -> None:
        """Find the rollback deployment CodeDeploy started for `deployment_id` and follow it to its end.

        The wait for its id and the follow together take at most `timeout` seconds (the id wait also at most
        `ROLLBACK_ID_WAIT_SECONDS`); a further stop request ends either at once. Sets `_rollback_settled` when the
        rollback was seen to its end, or CodeDeploy named none within the whole wait.
        """
        codedeploy, record, runtime, view = self.clients.codedeploy, self.record, self.runtime, self.view
        started = runtime.now()
        id_wait = min(ROLLBACK_ID_WAIT_SECONDS, timeout)
        signals_seen = runtime.stop.count

        def waited() -> float:
            return (runtime.now() - started).total_seconds()

        while True:
            info = deployments.get_deployment(codedeploy, deployment_id)
            rollback = info.get("rollbackInfo") or {}
            record.rollback_message = rollback.get("rollbackMessage")
            record.rollback_id = rollback.get("rollbackDeploymentId")
            if record.rollback_id or waited() >= id_wait or runtime.stop.count > signals_seen:
                break
            view.progress(f"waiting for CodeDeploy to name the rollback deployment of {deployment_id}")
            runtime.sleep(min(ROLLBACK_ID_POLL_SECONDS, max(id_wait - waited(), 0.0)))
        if not record.rollback_id:
            # Seen to none only when the whole wait passed undisturbed; a shorter (cleanup) bound proves nothing.
            self._rollback_settled = id_wait >= ROLLBACK_ID_WAIT_SECONDS and runtime.stop.count == signals_seen
            view.note(f"no rollback deployment ({record.rollback_message or 'CodeDeploy named none'})")
            return
        view.note(f"rollback deployment {record.rollback_id} started by CodeDeploy; following it")
        result = follow(
            codedeploy,
            record.rollback_id,
            runtime=runtime,
            view=view,
            timeout=max(timeout - waited(), 0.0),
            stop_at=signals_seen + 1,
        )
        record.rollback_status = result.snapshot.status
        self._rollback_settled = record.rollback_status in deployments.TERMINAL_STATUSES
        view.note(f"rollback deployment {record.rollback_id}: {record.rollback_status}")
