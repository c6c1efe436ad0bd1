"""The promotion gate: `promote`, `abort`, and the pre-promotion check against the test listener.

With setting `promotionGate` on, the blue/green group stops each deployment once the replacement slot is installed,
before any traffic moves: the deployment shows `Ready` and waits up to `promotionWaitMinutes` for ContinueDeployment
(docs/decisions.md F80, F81). `release` follows it through that wait; `promote` and `abort` act on it from anywhere:

* they find the waiting deployment from AWS (the group's deployments in flight whose status is `Ready`), never from
  files the run that started it left, so they work after that runner is gone;
* `promote` continues it (ContinueDeployment, READY_WAIT), `abort` stops it with rollback (StopDeployment,
  autoRollbackEnabled); with nothing waiting both refuse with exit 2 and say what they found;
* the switch that follows a promotion (the group pointed at the new slot, scaling resumed, the old slot emptied) is
  the following `release`'s work; if that run is gone, the next `release` finishes it first, as after any crash.

The pre-promotion check (`PromotionCheck`) runs while the deployment waits: CodeDeploy has no test traffic route for
EC2 (F82), so the tool registers the replacement slot's instances in the preview target group behind the test
listener, waits until they pass its health check (F83), runs the user's command with the listener's URL in
`TEST_URL`, and deregisters them again on every way out, before the deployment can be promoted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO, TypeVar

from botocore.exceptions import ClientError

from bluegreen.lease import GONE_CODES, group_object_key
from release import deployments
from release.errors import InputError
from release.retry import AWS_ERRORS, error_code
from release.runtime import Runtime
from release.targets import Targets
from release.timeout import read_traffic_timing

READY = "Ready"
# How often `promote --wait` looks for a deployment to become Ready.
READY_POLL_SECONDS = 10.0
# ContinueDeployment / StopDeployment answers that mean "it is not waiting any more" (docs/decisions.md F81, F57).
NOT_WAITING = ("DeploymentIsNotInReadyStateException", "DeploymentAlreadyCompletedException")
# The check's environment: the test listener's URL and the deployment it checks.
URL_VARIABLE = "TEST_URL"
DEPLOYMENT_VARIABLE = "DEPLOYMENT_ID"
# Lines of the check's output kept for the report.
OUTPUT_TAIL_LINES = 20
DEFAULT_CHECK_TIMEOUT_SECONDS = 300.0
# How often the preview target group's health is read while the replacement instances register.
HEALTH_POLL_SECONDS = 5.0

Log = Callable[[str], None]
T = TypeVar("T")
# How often the running check is looked at (its exit, its deadline, a stop request).
CHECK_POLL_SECONDS = 0.1
# The most of the check's output kept (its end): the report shows only the last OUTPUT_TAIL_LINES lines anyway.
OUTPUT_TAIL_BYTES = 64 * 1024
# Runs a shell command with an environment, a timeout in seconds and a "stop requested?" predicate: (exit code, or
# None when it timed out or was stopped; output).
CommandRunner = Callable[[str, Mapping[str, str], float, Callable[[], bool]], tuple[int | None, str]]


# How long past its own bounds (preview health wait + command timeout) a "check running" mark still counts: a run
# killed during the check blocks `promote` at most this much longer.
CHECK_MARK_MARGIN_SECONDS = 60.0


class NothingWaiting(InputError):
    """No deployment of the group waits for promotion (exit 2): nothing was continued or stopped."""


class CheckRunning(InputError):
    """The release that created the waiting deployment is still running its pre-promotion check (exit 2)."""


def check_mark_key(application: str, group: str) -> str:
    """`leases/<application>/<group>.check.json`: the "check running" mark, beside the group's release lease."""
    return group_object_key(application, group, "check")


@dataclass(frozen=True)
class CheckMark:
    """The "pre-promotion check running" mark of one deployment group, an object next to its release lease.

    Body: `{"deploymentId": str, "running": bool, "expires": ISO 8601}`. The release writes it (running, expiring
    after the check's own bounds plus `CHECK_MARK_MARGIN_SECONDS`) before it registers the replacement slot in the
    preview group and overwrites it (not running) once the check ended, so only s3:GetObject/s3:PutObject on the lease
    prefix are needed, as for the lease. `promote` reads it and refuses while it says running and has not expired.

    A 403 on reading it is never taken as "no mark": it also means a promote role without s3:GetObject, and promoting
    then could move traffic to an unchecked slot. Without s3:ListBucket S3 answers a missing key with 403 too
    (docs/decisions.md F86), so `promote` needs both (docs/pipelines.md, "Promotion gate").
    """

    s3: Any
    bucket: str
    key: str

    @classmethod
    def of(cls, s3: Any, targets: Targets) -> CheckMark:
        """The mark of `targets`' deployment group in its artifact bucket."""
        return cls(s3, targets.bucket, check_mark_key(targets.application, targets.deployment_group))

    def _put(self, deployment_id: str, *, running: bool, expires: datetime) -> None:
        body = {"deploymentId": deployment_id, "running": running, "expires": expires.isoformat()}
        self.s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=json.dumps(body).encode(), ContentType="application/json"
        )

    def start(self, deployment_id: str, *, now: datetime, seconds: float) -> None:
        """Mark the check of `deployment_id` as running for at most `seconds` (plus the margin) from `now`."""
        self._put(deployment_id, running=True, expires=now + timedelta(seconds=seconds + CHECK_MARK_MARGIN_SECONDS))

    def end(self, deployment_id: str, *, now: datetime) -> None:
        """Mark the check of `deployment_id` as ended."""
        self._put(deployment_id, running=False, expires=now)

    def running(self, deployment_id: str, *, now: datetime) -> bool:
        """Whether the check of `deployment_id` runs now (no mark, another deployment's, ended or expired: no)."""
        try:
            raw = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in GONE_CODES:
                return False
            raise
        try:
            body = json.loads(raw)
            expires = datetime.fromisoformat(str(body["expires"]))
        except (ValueError, KeyError, TypeError):
            # An unreadable mark cannot say a check runs; it would otherwise block promote for ever.
            return False
        return bool(body.get("running")) and body.get("deploymentId") == deployment_id and expires > now


def _target_slot(info: Mapping[str, Any]) -> str:
    return ", ".join((info.get("targetInstances") or {}).get("autoScalingGroups") or []) or "the replacement slot"


def _in_flight(codedeploy: Any, targets: Targets) -> list[dict[str, Any]]:
    ids = deployments.deployments_in_flight(codedeploy, targets.application, targets.deployment_group)
    return [deployments.get_deployment(codedeploy, deployment_id) for deployment_id in ids]


def _nothing_waiting(targets: Targets, in_flight: Sequence[Mapping[str, Any]]) -> NothingWaiting:
    where = f"{targets.application}/{targets.deployment_group}"
    if in_flight:
        info = in_flight[0]
        return NothingWaiting(
            f"deployment {info.get('deploymentId')} of {where} is {info.get('status')}, not waiting for promotion "
            f"({READY})",
            hint="Promote once the release says 'waiting for promotion' (`python scripts/deploy.py status` shows it), "
            "or give --wait SECONDS to wait for it.",
        )
    return NothingWaiting(
        f"no deployment of {where} is waiting for promotion",
        hint="Nothing to do: no release is at the gate (promotionGate off, or the deployment was already promoted, "
        "stopped, or its promotionWaitMinutes ran out). `python scripts/deploy.py status` shows the last ones.",
    )


def find_waiting(
    codedeploy: Any, targets: Targets, *, runtime: Runtime, wait_seconds: float = 0.0, log: Log
) -> dict[str, Any]:
    """The group's deployment in `Ready` (GetDeployment of each in flight), waiting up to `wait_seconds` for one.

    Raises `NothingWaiting` (exit 2) when none is Ready by then.
    """
    started = runtime.now()
    announced = False
    while True:
        in_flight = _in_flight(codedeploy, targets)
        ready = next((info for info in in_flight if info.get("status") == READY), None)
        if ready is not None:
            return ready
        waited = (runtime.now() - started).total_seconds()
        if waited >= wait_seconds or runtime.stop.requested:
            raise _nothing_waiting(targets, in_flight)
        if not announced:
            log(f"no deployment is waiting for promotion yet; looking again for up to {wait_seconds:.0f} s")
            announced = True
        runtime.sleep(min(READY_POLL_SECONDS, wait_seconds - waited))


def _on_waiting(deployment_id: str, verb: str, call: Callable[[], T]) -> T:
    """`call` (ContinueDeployment or StopDeployment on `deployment_id`); `NothingWaiting` if it left Ready meanwhile."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) not in NOT_WAITING:
            raise
        raise NothingWaiting(
            f"deployment {deployment_id} can no longer be {verb} ({error_code(exc)}): it left {READY} meanwhile",
            hint="`python scripts/deploy.py status` shows how it ended.",
        ) from exc


def promote(
    codedeploy: Any, s3: Any, targets: Targets, stream: TextIO, *, runtime: Runtime, wait_seconds: float = 0.0
) -> int:
    """ContinueDeployment(READY_WAIT) on the group's waiting deployment; 0, or `NothingWaiting` / `CheckRunning`
    (exit 2) when nothing waits or its release still runs the pre-promotion check (`CheckMark`)."""
    info = find_waiting(codedeploy, targets, runtime=runtime, wait_seconds=wait_seconds, log=_writer(stream))
    deployment_id = str(info["deploymentId"])
    if CheckMark.of(s3, targets).running(deployment_id, now=runtime.now()):
        raise CheckRunning(
            f"the pre-promotion check of deployment {deployment_id} is running; wait for it",
            hint="Promote once the release says 'waiting for promotion' (`python scripts/deploy.py status` shows "
            "it); a failing check stops the deployment itself.",
        )
    _on_waiting(deployment_id, "promoted", lambda: deployments.continue_deployment(codedeploy, deployment_id))
    stream.write(
        f"promoted deployment {deployment_id}: CodeDeploy now routes traffic to {_target_slot(info)} "
        "(AllowTraffic, then BlockTraffic on the live slot).\n"
        "The release following it switches the slots once it succeeds; if that run is gone, the next release "
        "finishes the switch first (points the group at the new slot, resumes scaling, empties the old slot).\n"
    )
    return 0


def abort(codedeploy: Any, targets: Targets, stream: TextIO, *, runtime: Runtime) -> int:
    """StopDeployment with rollback on the group's waiting deployment; 0, or `NothingWaiting` (exit 2)."""
    info = find_waiting(codedeploy, targets, runtime=runtime, log=_writer(stream))
    deployment_id = str(info["deploymentId"])
    answer = _on_waiting(deployment_id, "aborted", lambda: deployments.stop_deployment(codedeploy, deployment_id))
    stream.write(
        f"aborted deployment {deployment_id} with rollback ({answer}): traffic never left the live slot.\n"
        f"The release following it empties {_target_slot(info)}; if that run is gone, the next release does.\n"
    )
    return 0


def _writer(stream: TextIO) -> Log:
    def write(text: str) -> None:
        stream.write(text + "\n")

    return write


# ----------------------------------------------------------------------------------------------------------------------
# The pre-promotion check
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutcome:
    """How the pre-promotion check ended: `passed`, why (`reason`), and the last lines of its output."""

    command: str
    passed: bool
    reason: str
    output_tail: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The outcome as report lines: the command, why it passed or failed, and its output's tail."""
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"pre-promotion check {verdict} ({self.reason}): {self.command}"]
        if self.output_tail:
            lines.append(f"  last {len(self.output_tail)} line(s) of its output:")
            lines.extend(f"    {line}" for line in self.output_tail)
        return lines


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # The check runs as the leader of its own process group: SIGKILL reaches its pipelines and background children
    # too, which a kill of the shell alone would leave running (holding the output, or the test listener).
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already empty
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _output_tail(out: Any) -> str:
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - OUTPUT_TAIL_BYTES))
    return str(out.read().decode("utf-8", "replace"))


def run_shell(
    command: str, env: Mapping[str, str], timeout: float, stopped: Callable[[], bool] = lambda: False
) -> tuple[int | None, str]:
    """Run `command` with /bin/sh in a session of its own; (its exit status, or None after `timeout` seconds or once
    `stopped()` is true; the last `OUTPUT_TAIL_BYTES` of stdout and stderr together).

    The verdict is the shell's own exit status, not the end of its output: the output goes to a file, so a background
    child that keeps it open cannot hold the check up. Once the shell exited, timed out or was stopped, its whole
    process group is killed, so nothing the check started outlives it.
    """
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        code = process.poll()
        while code is None and time.monotonic() < deadline and not stopped():
            time.sleep(CHECK_POLL_SECONDS)
            code = process.poll()
        _kill_group(process)
        return code, _output_tail(out)


def _tail(output: str) -> tuple[str, ...]:
    return tuple(output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:]) if output.strip() else ()


class PromotionCheck:
    """The user's check against the replacement slot, through the test listener and its preview target group.

    `run` registers the instances, waits (bounded) until all are healthy in the preview group, runs the command and
    deregisters them on every way out. AWS errors while registering or reading health fail the check (the caller
    stops the deployment); a failing deregistration is reported, never hidden, and does not change the verdict.
    """

    def __init__(
        self,
        elbv2: Any,
        *,
        target_group_arn: str,
        url: str,
        command: str,
        runtime: Runtime,
        log: Log,
        mark: CheckMark,
        timeout_seconds: float = DEFAULT_CHECK_TIMEOUT_SECONDS,
        runner: CommandRunner = run_shell,
    ) -> None:
        """Hold the collaborators; nothing is called until `run`."""
        self.elbv2 = elbv2
        self.mark = mark
        self.target_group_arn = target_group_arn
        self.url = url
        self.command = command
        self.runtime = runtime
        self.log = log
        self.timeout_seconds = timeout_seconds
        self.runner = runner

    def run(self, instance_ids: Sequence[str], deployment_id: str) -> CheckOutcome:
        """Check `instance_ids` (the replacement slot) behind the test listener; the outcome, never an exception."""
        if not instance_ids:
            return CheckOutcome(self.command, False, "the replacement slot has no instance to check")
        members = [{"Id": instance_id} for instance_id in instance_ids]
        try:
            bound = self._health_bound_seconds()
            self.mark.start(deployment_id, now=self.runtime.now(), seconds=bound + self.timeout_seconds)
        except AWS_ERRORS as exc:
            return CheckOutcome(self.command, False, f"could not mark the check as running ({error_code(exc)})")
        try:
            self.elbv2.register_targets(TargetGroupArn=self.target_group_arn, Targets=members)
            self.log(f"preview target group: registered {', '.join(instance_ids)} behind {self.url}")
            unhealthy = self._wait_healthy(members, bound)
            if unhealthy:
                return CheckOutcome(self.command, False, unhealthy)
            return self._execute(deployment_id)
        except AWS_ERRORS as exc:
            return CheckOutcome(self.command, False, f"the preview target group refused it ({error_code(exc)})")
        finally:
            self._deregister(members)
            self._end_mark(deployment_id)

    def _end_mark(self, deployment_id: str) -> None:
        try:
            self.mark.end(deployment_id, now=self.runtime.now())
        except AWS_ERRORS as exc:
            # The mark expires on its own; until then `promote` refuses, which is the safe side.
            self.log(f"could not mark the check as ended ({error_code(exc)}); `promote` refuses until it expires")

    def _health_bound_seconds(self) -> float:
        # Twice what AllowTraffic takes at the preview group's own health-check settings (docs/decisions.md F7).
        return 2.0 * read_traffic_timing(self.elbv2, self.target_group_arn).allow_traffic_seconds

    def _wait_healthy(self, members: list[dict[str, str]], bound: float) -> str | None:
        """None once every instance is healthy; otherwise, after `bound` seconds, why not (the states seen)."""
        started = self.runtime.now()
        while True:
            health = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn, Targets=members)
            states = {
                item["Target"]["Id"]: item["TargetHealth"]["State"] for item in health["TargetHealthDescriptions"]
            }
            if states and all(state == "healthy" for state in states.values()):
                return None
            waited = (self.runtime.now() - started).total_seconds()
            if waited >= bound or self.runtime.stop.requested:
                seen = ", ".join(f"{instance} {state}" for instance, state in sorted(states.items()))
                return (
                    f"not every replacement instance became healthy behind the test listener in {bound:.0f} s: {seen}"
                )
            self.runtime.sleep(HEALTH_POLL_SECONDS)

    def _execute(self, deployment_id: str) -> CheckOutcome:
        env = {**os.environ, URL_VARIABLE: self.url, DEPLOYMENT_VARIABLE: deployment_id}
        self.log(f"pre-promotion check: {self.command} ({URL_VARIABLE}={self.url}, up to {self.timeout_seconds:.0f} s)")
        code, output = self.runner(self.command, env, self.timeout_seconds, lambda: self.runtime.stop.requested)
        if code is None and self.runtime.stop.requested:
            return CheckOutcome(self.command, False, f"stopped ({self.runtime.stop.reason})", _tail(output))
        if code is None:
            return CheckOutcome(self.command, False, f"timed out after {self.timeout_seconds:.0f} s", _tail(output))
        return CheckOutcome(self.command, code == 0, f"exit {code}", _tail(output))

    def _deregister(self, members: list[dict[str, str]]) -> None:
        try:
            self.elbv2.deregister_targets(TargetGroupArn=self.target_group_arn, Targets=members)
        except AWS_ERRORS as exc:
            ids = " ".join(f"Id={member['Id']}" for member in members)
            self.log(
                f"could not take the replacement instances out of the preview target group ({error_code(exc)}); "
                f"only the test listener reaches them. Repair: aws elbv2 deregister-targets --target-group-arn "
                f"{self.target_group_arn} --targets {ids}"
            )
            return
        self.log("preview target group: replacement instances deregistered")
