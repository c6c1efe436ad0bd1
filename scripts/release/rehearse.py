"""`deploy.py rehearse`: run a revision's lifecycle on this machine the way the CodeDeploy agent would on a fresh
replacement (green) instance, with no agent and no AWS account, then probe it like the target group and shut it down
like an instance termination.

What happens, in order (each step is a lifecycle event in the report and the timeline):

1. The appspec is validated by `release.appspec.load_appspec`, the validator `bundle` and `release` use.
2. DownloadBundle: the files that would be bundled (`.deployignore` honoured) are copied into
   `<sandbox>/deployment-root/<deployment group id>/d-REHEARSAL/deployment-archive`, the agent's own layout; hooks run
   from there, never from the revision directory, which the rehearsal only reads.
3. The hooks run in CodeDeploy's order for a replacement instance (`GREEN_EVENT_ORDER`). ApplicationStop is skipped
   unless asked for: the agent runs the *previous* revision's ApplicationStop scripts, and a fresh replacement
   instance has none. Install copies `files` into the sandbox root (every destination is re-rooted under it) and
   applies `permissions`. Each script gets the agent's environment variables (LIFECYCLE_EVENT, DEPLOYMENT_ID,
   APPLICATION_NAME, DEPLOYMENT_GROUP_NAME, DEPLOYMENT_GROUP_ID), runs in its own process group, is killed with its
   whole group at its timeout, and its output is captured like the agent's `logs/scripts.log`
   (`2024-01-01 12:00:00 [stdout]line`). As with the agent, an event lasts until the script has exited *and* its
   stdout/stderr are closed: a background process that keeps them open hangs the event until the timeout.
4. AllowTraffic: the app is probed exactly as the target group would (path, port, matcher, per-probe timeout, interval,
   healthy threshold from cdk.json via `stacks.config`, overridable): it is healthy after `healthy_threshold`
   consecutive successes, and the report says how long that took, which is what AllowTraffic costs.
5. BeforeBlockTraffic/AfterBlockTraffic scripts, if any, run as they would when this instance later turns blue.
6. Shutdown: a bounded wave of concurrent requests (loopback only) is put in flight, then every process the revision
   started gets SIGTERM, as systemd does at instance shutdown; every request in flight must complete, and the
   processes must exit within the stop timeout (then SIGKILL, as systemd does).

Conventions for hook scripts (the sample app in `sample-app/` follows them): besides the agent's variables the
rehearsal exports REHEARSAL_ROOT (the sandbox root that stands for `/`: re-root every path under it), REHEARSAL_PORT
(the port it will probe), REHEARSAL_ID (a token marking every process of this rehearsal), and TMPDIR and HOME inside
the sandbox. Scripts run with the sandbox root as working directory and a minimal environment (PATH, LANG).

Safety: nothing is written outside the sandbox (a new temporary directory, removed at the end unless kept) except the
report files asked for with `--report-dir`; no install destination or permission object may leave the sandbox
(`..` or a symlink pointing out is refused); every process started is found again by process group and by the
REHEARSAL_ID token and is terminated at the end, also on errors, SIGINT and SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import grp
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from release.appspec import (
    BLUE_EVENT_ORDER,
    GREEN_EVENT_ORDER,
    RESERVED_EVENTS,
    AppSpec,
    HookScript,
    load_appspec,
    revision_files,
)
from release.errors import ExitCode, InputError, ReleaseError
from release.timeline import Span, write_timeline

__all__ = [
    "DEPLOYMENT_ID",
    "DrainResult",
    "EventResult",
    "HealthCheckSettings",
    "HealthResult",
    "Probe",
    "RehearsalOptions",
    "RehearsalResult",
    "configure_parser",
    "format_report",
    "rehearse",
    "run_from_args",
]

DEPLOYMENT_ID = "d-REHEARSAL"
LANE_GREEN = "this machine (Green)"
LANE_BLUE = "this machine (Blue)"
# CodeDeploy returns "up to the last 4 KB of the diagnostic log" as logTail (API Diagnostics); the report shows as much.
LOG_TAIL_CHARS = 4096
# A runaway script must not fill the memory of the rehearsal: keep at most this much of one event's output.
_MAX_EVENT_LOG_CHARS = 1_000_000
# The agent sends SIGTERM to a timed-out script's process group; the rehearsal follows with SIGKILL after this grace.
_KILL_GRACE_SECONDS = 2.0
# systemd's DefaultTimeoutStopSec: how long an instance shutdown waits for a service before SIGKILL.
DEFAULT_STOP_TIMEOUT_SECONDS = 90.0
_MAX_DRAIN_REQUESTS = 64
_AGENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class RehearsalInterrupted(ReleaseError):
    """SIGINT or SIGTERM arrived during the rehearsal; every process it started was terminated."""

    exit_code = ExitCode.CANCELLED
    default_hint = "Run the rehearsal again when ready; nothing is left behind."


# ---------------------------------------------------------------------------------------------------------------------
# Options and results
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthCheckSettings:
    """The target group's health check as the rehearsal applies it (seconds may be fractional, for tests)."""

    path: str
    port: int
    matcher: str
    interval_seconds: float
    timeout_seconds: float
    healthy_threshold: int

    def matches(self, status: int) -> bool:
        """Whether HTTP `status` counts as a success for the matcher ("200", "200,204", "200-299")."""
        for part in self.matcher.split(","):
            low, _, high = part.strip().partition("-")
            if int(low) <= status <= int(high or low):
                return True
        return False

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"GET {self.path} on port {self.port}, matcher {self.matcher}, interval {self.interval_seconds:g} s, "
            f"timeout {self.timeout_seconds:g} s, healthy threshold {self.healthy_threshold}"
        )


@dataclass(frozen=True)
class RehearsalOptions:
    """Everything one rehearsal needs; built by `run_from_args` or directly by tests."""

    app_dir: Path
    health_check: HealthCheckSettings
    report_dir: Path | None = None
    keep_sandbox: bool = False
    application_name: str = "rehearsal"
    deployment_group_name: str = "rehearsal"
    # How long AllowTraffic waits for the target to turn healthy before the rehearsal calls it a failure.
    healthy_within_seconds: float = 120.0
    # Path the in-flight load requests at SIGTERM; None means the health-check path.
    drain_path: str | None = None
    drain_requests: int = 8
    # Pause between the last request sent and SIGTERM, so the app has accepted every connection.
    drain_settle_seconds: float = 0.3
    stop_timeout_seconds: float = DEFAULT_STOP_TIMEOUT_SECONDS
    run_application_stop: bool = False


@dataclass(frozen=True)
class EventResult:
    """One lifecycle event: its status, timing, scripts and (on failure) the agent-style error."""

    event: str
    lane: str
    status: str  # Succeeded | Failed | Skipped | Pending
    started_at: datetime | None
    ended_at: datetime | None
    scripts: tuple[str, ...] = ()
    error_code: str | None = None  # ScriptMissing | ScriptNotExecutable | ScriptTimedOut | ScriptFailed | UnknownError
    message: str = ""
    log: str = ""

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Probe:
    """One health-check probe: seconds after registration, success, and what was seen."""

    at_seconds: float
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthResult:
    """Outcome of the target-group probing (AllowTraffic)."""

    healthy: bool
    seconds_to_healthy: float | None
    probes: tuple[Probe, ...]
    settings: HealthCheckSettings


@dataclass(frozen=True)
class DrainResult:
    """Outcome of the SIGTERM drain under in-flight load."""

    path: str
    sent: int
    in_flight_at_sigterm: int
    completed: int
    lost: int
    processes_signalled: int
    seconds_to_exit: float | None  # None when something had to be SIGKILLed
    killed: int
    errors: tuple[str, ...]


@dataclass(frozen=True)
class RehearsalResult:
    """What a rehearsal found; `exit_code` is 0 (ok), 1 (the revision failed), 2 (bad input) or 4 (interrupted)."""

    app_dir: Path
    exit_code: int
    failure: str | None
    log_tail: str
    events: tuple[EventResult, ...]
    health: HealthResult | None
    drain: DrainResult | None
    notes: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    sandbox: Path | None = None  # set when the sandbox was kept
    report_files: tuple[Path, ...] = ()
    # The REHEARSAL_ID every process of this rehearsal carried in its environment (to look for leftovers).
    rehearsal_id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the revision went through the whole lifecycle."""
        return self.exit_code == 0

    def spans(self) -> tuple[Span, ...]:
        """The events as timeline spans (events that never started are drawn as Pending at the failure time)."""
        spans = []
        for event in self.events:
            start = event.started_at or self.finished_at
            spans.append(Span(event.lane, event.event, start, event.ended_at, event.status))
        return tuple(spans)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary written as rehearsal.json."""
        return _jsonable(
            {
                "app_dir": self.app_dir,
                "ok": self.ok,
                "exit_code": self.exit_code,
                "failure": self.failure,
                "log_tail": self.log_tail,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                # Full logs stay in scripts.log; the summary keeps the failure's tail only.
                "events": [
                    {
                        **{k: v for k, v in asdict(event).items() if k != "log"},
                        "duration_seconds": event.duration_seconds,
                    }
                    for event in self.events
                ],
                "health": asdict(self.health) if self.health else None,
                "drain": asdict(self.drain) if self.drain else None,
                "notes": list(self.notes),
                "sandbox": self.sandbox,
                "rehearsal_id": self.rehearsal_id,
            }
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


class _StepFailed(Exception):
    """Ends the lifecycle: an event failed (its result is already recorded)."""


# ---------------------------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------------------------


def _process_table() -> Iterator[tuple[int, int, str, bytes]]:
    """(pid, process group, state, environ) of every process this user may read, from /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or another user's process
        # The command name (field 2) may contain spaces and parentheses: split after its last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        yield pid, int(fields[2]), fields[0], environ


class ProcessTracker:
    """Finds every process a rehearsal started: by the process groups of its scripts and by the REHEARSAL_ID token
    in the environment, which a process keeps even after `setsid` or a double fork."""

    def __init__(self, token: str) -> None:
        """Track processes whose environment holds REHEARSAL_ID=`token`, and the groups given to `add_group`."""
        self.token = token
        self._marker = f"REHEARSAL_ID={token}".encode()
        self.groups: set[int] = set()

    def add_group(self, pgid: int) -> None:
        """Remember a process group created for a script."""
        self.groups.add(pgid)

    def alive(self) -> list[int]:
        """Pids of the tracked processes still running (zombies excluded: they run nothing), sorted."""
        me = os.getpid()
        found = []
        for pid, pgid, state, environ in _process_table():
            if pid == me or state in ("Z", "X"):
                continue
            if pgid in self.groups or self._marker in environ.split(b"\0"):
                found.append(pid)
        return sorted(found)

    def signal_all(self, signum: int) -> int:
        """Send `signum` to every tracked process (as systemd does to a unit's cgroup); return how many."""
        count = 0
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
                count += 1
        return count

    def wait_gone(self, timeout: float) -> bool:
        """Wait until no tracked process runs; False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def terminate_all(self, grace: float = _KILL_GRACE_SECONDS) -> list[int]:
        """SIGTERM everything still running, SIGKILL what outlives `grace`; return the pids that had to be killed."""
        if not self.alive():
            return []
        self.signal_all(signal.SIGTERM)
        if self.wait_gone(grace):
            return []
        stubborn = self.alive()
        self.signal_all(signal.SIGKILL)
        self.wait_gone(grace)
        return stubborn


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


# ---------------------------------------------------------------------------------------------------------------------
# Sandbox paths
# ---------------------------------------------------------------------------------------------------------------------


class SandboxEscape(ReleaseError):
    """A path would leave the sandbox (`..`, or a symlink pointing out of it)."""

    exit_code = ExitCode.DEPLOYMENT_FAILED


def _inside(root: Path, instance_path: str) -> Path:
    """`instance_path` (absolute on the instance) re-rooted under `root`; refuses to leave `root`.

    The check is done on the resolved path, so a symlink created by an earlier hook (say `opt -> /etc`) is caught.
    """
    relative = instance_path.lstrip("/")
    if ".." in Path(relative).parts:
        raise SandboxEscape(f"'{instance_path}' contains '..' and would leave the sandbox")
    candidate = root / relative
    if not candidate.resolve().is_relative_to(root.resolve()):
        raise SandboxEscape(f"'{instance_path}' resolves to {candidate.resolve()}, outside the sandbox")
    return candidate


def _check_target(root: Path, target: Path) -> None:
    """Refuse to write `target` when it (or a parent) is a symlink leading out of `root`, or a symlink itself."""
    if target.is_symlink():
        raise SandboxEscape(f"{target} is a symlink; the rehearsal does not write through symlinks")
    if not target.parent.resolve().is_relative_to(root.resolve()):
        raise SandboxEscape(f"{target.parent} resolves to {target.parent.resolve()}, outside the sandbox")


# ---------------------------------------------------------------------------------------------------------------------
# The rehearsal
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """Mutable state of one rehearsal (internal; the result is frozen)."""

    options: RehearsalOptions
    out: TextIO
    token: str
    sandbox: Path
    tracker: ProcessTracker
    events: list[EventResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    health: HealthResult | None = None
    drain: DrainResult | None = None
    script_log: TextIO | None = None

    @property
    def root(self) -> Path:
        return self.sandbox / "root"

    @property
    def deployment_group_id(self) -> str:
        # A stable UUID, shaped like the real DEPLOYMENT_GROUP_ID, for the same application and group names.
        name = f"rehearsal:{self.options.application_name}:{self.options.deployment_group_name}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    @property
    def deployment_dir(self) -> Path:
        return self.sandbox / "deployment-root" / self.deployment_group_id / DEPLOYMENT_ID

    @property
    def archive(self) -> Path:
        return self.deployment_dir / "deployment-archive"

    def say(self, message: str) -> None:
        self.out.write(f"{datetime.now().strftime('%H:%M:%S')} {message}\n")
        self.out.flush()

    def record(self, event: EventResult) -> EventResult:
        self.events.append(event)
        return event


def rehearse(options: RehearsalOptions, *, out: TextIO | None = None) -> RehearsalResult:
    """Rehearse the revision in `options.app_dir` and return what happened; progress lines go to `out`.

    Never raises for a failing revision or bad input (they are in the result's `exit_code` and `failure`);
    KeyboardInterrupt is turned into exit code 4 after cleanup. Every process started is gone when this returns.
    """
    started = _now()
    token = uuid.uuid4().hex
    sandbox = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    run = _Run(options, out or _NullWriter(), token, sandbox, ProcessTracker(token))
    exit_code, failure, log_tail = 0, None, ""
    try:
        _preflight(run)
        appspec = load_appspec(options.app_dir)
        _lifecycle(run, appspec)
    except _StepFailed:
        failed = next(event for event in reversed(run.events) if event.status == "Failed")
        exit_code, failure, log_tail = (
            ExitCode.DEPLOYMENT_FAILED,
            f"{failed.event} failed: {failed.message}",
            failed.log,
        )
    except InputError as exc:
        exit_code, failure = exc.exit_code, exc.describe()
    except KeyboardInterrupt:
        exit_code, failure = (
            RehearsalInterrupted.exit_code,
            RehearsalInterrupted("The rehearsal was interrupted").describe(),
        )
    finally:
        if run.script_log is not None:
            run.script_log.close()
        killed = run.tracker.terminate_all()
        if killed:
            run.notes.append(f"terminated {len(killed)} process(es) the revision left running: {killed}")
    _mark_pending(run)
    result = RehearsalResult(
        app_dir=options.app_dir,
        exit_code=int(exit_code),
        failure=failure,
        log_tail=log_tail[-LOG_TAIL_CHARS:],
        events=tuple(run.events),
        health=run.health,
        drain=run.drain,
        notes=tuple(run.notes),
        started_at=started,
        finished_at=_now(),
        sandbox=sandbox if options.keep_sandbox else None,
        rehearsal_id=token,
    )
    if options.report_dir is not None:
        result = replace(result, report_files=_write_reports(result, run, options.report_dir))
    if not options.keep_sandbox:
        _remove_sandbox(sandbox)
    return result


def _preflight(run: _Run) -> None:
    options = run.options
    app_dir = options.app_dir
    if not app_dir.is_dir():
        raise InputError(f"--app-dir {app_dir} is not a directory", hint="Point --app-dir at the revision's folder.")
    if options.report_dir is not None and options.report_dir.resolve().is_relative_to(app_dir.resolve()):
        raise InputError(
            f"--report-dir {options.report_dir} is inside the revision; the rehearsal never writes into it",
            hint="Choose a report directory outside --app-dir.",
        )
    if not 1 <= options.drain_requests <= _MAX_DRAIN_REQUESTS:
        raise InputError(f"--drain-requests must be 1..{_MAX_DRAIN_REQUESTS}, got {options.drain_requests}")
    port = options.health_check.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the app's server does (allow_reuse_address): connections of a previous run left in TIME_WAIT must not
        # count as "in use"; a listener still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise InputError(
                f"port {port} on 127.0.0.1 is already in use ({exc.strerror}); the app could not listen there",
                hint="Stop what listens there, or pass --health-check-port with a free port.",
            ) from exc


def _lifecycle(run: _Run, appspec: AppSpec) -> None:
    for directory in (run.root, run.sandbox / "tmp", run.sandbox / "home", run.deployment_dir / "logs"):
        directory.mkdir(parents=True, exist_ok=True)
    run.script_log = (run.deployment_dir / "logs" / "scripts.log").open("w", encoding="utf-8")
    run.say(f"rehearsing {run.options.app_dir} in sandbox {run.sandbox}")
    for event in GREEN_EVENT_ORDER:
        if event == "ApplicationStop" and not run.options.run_application_stop:
            when = _now()
            note = "fresh replacement instance: no previous revision, so no ApplicationStop script runs"
            run.record(EventResult(event, LANE_GREEN, "Skipped", when, when, message=note))
            run.say(f"{event}: skipped ({note})")
        elif event == "DownloadBundle":
            _step(run, event, LANE_GREEN, lambda: _download_bundle(run))
        elif event == "Install":
            _step(run, event, LANE_GREEN, lambda: _install(run, appspec))
        elif event == "AllowTraffic":
            _allow_traffic(run)
        elif event not in RESERVED_EVENTS:
            _hook_event(run, event, LANE_GREEN, appspec.hooks.get(event, ()))
    for event in BLUE_EVENT_ORDER:
        if event == "BlockTraffic":
            when = _now()
            note = "no load balancer here: the rehearsal stops sending new requests"
            run.record(EventResult(event, LANE_BLUE, "Skipped", when, when, message=note))
        else:
            _hook_event(run, event, LANE_BLUE, appspec.hooks.get(event, ()))
    _shutdown(run)


def _step(run: _Run, event: str, lane: str, action: Callable[[], str]) -> None:
    """Run one of the agent's own events; a `ReleaseError` or `OSError` from `action` fails it."""
    start = _now()
    try:
        message = action()
    except (ReleaseError, OSError) as exc:
        text = exc.describe() if isinstance(exc, ReleaseError) else f"{type(exc).__name__}: {exc}"
        run.record(EventResult(event, lane, "Failed", start, _now(), error_code="UnknownError", message=text))
        run.say(f"{event}: FAILED: {text}")
        raise _StepFailed from exc
    run.record(EventResult(event, lane, "Succeeded", start, _now(), message=message))
    run.say(f"{event}: {message}")


def _download_bundle(run: _Run) -> str:
    # Only what `bundle` would put in the zip reaches the instance; copying exactly that catches a script that
    # works locally but is excluded by .deployignore. Symlinks to files inside the revision become their content.
    files = revision_files(run.options.app_dir)
    for relative in files:
        target = run.archive / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run.options.app_dir / relative, target)
    return f"{len(files)} files copied to the deployment archive"


def _install(run: _Run, appspec: AppSpec) -> str:
    installed: set[Path] = set()
    overwrite = appspec.file_exists_behavior
    copied = retained = 0
    for mapping in appspec.files:
        source = run.archive / mapping.source if mapping.source else run.archive
        destination = _inside(run.root, mapping.destination)
        # A file source lands inside the destination folder under its own name; a directory source's content does.
        pairs = (
            [(source, destination / source.name)]
            if source.is_file()
            else [
                (path, destination / path.relative_to(source)) for path in sorted(source.rglob("*")) if path.is_file()
            ]
        )
        for origin, target in pairs:
            _make_dirs(run.root, target.parent, installed)
            _check_target(run.root, target)
            if target.exists():
                if overwrite == "RETAIN":
                    retained += 1
                    installed.add(target)
                    continue
                if overwrite != "OVERWRITE":
                    # The agent's default (DISALLOW): "a specified file already exists at this location".
                    raise SandboxEscape(
                        f"{_instance_path(run.root, target)} already exists and file_exists_behavior is "
                        f"{overwrite or 'DISALLOW (default)'}: the deployment fails as on an instance",
                    )
            shutil.copy2(origin, target)
            installed.add(target)
            copied += 1
    _apply_permissions(run, appspec, installed)
    extra = f", {retained} kept (RETAIN)" if retained else ""
    return f"{copied} files installed under {run.root}{extra}"


def _make_dirs(root: Path, directory: Path, installed: set[Path]) -> None:
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    if not current.resolve().is_relative_to(root.resolve()):
        raise SandboxEscape(f"{current} resolves to {current.resolve()}, outside the sandbox")
    for path in reversed(missing):
        path.mkdir()
        installed.add(path)


def _instance_path(root: Path, path: Path) -> str:
    return "/" + path.relative_to(root).as_posix()


def _apply_permissions(run: _Run, appspec: AppSpec, installed: set[Path]) -> None:
    is_root = os.geteuid() == 0
    for rule in appspec.permissions:
        obj = _inside(run.root, rule.object)
        if not obj.exists():
            run.notes.append(f"permissions: {rule.object} was not installed; rule skipped")
            continue
        # "permissions ... applied to the files and directories in the files section after they are copied": only
        # what this deployment installed, matched by `pattern` relative to the object, minus `except`.
        if obj.is_file():
            targets = [obj] if obj in installed else []
        else:
            targets = []
            for path in sorted(installed):
                if not path.is_relative_to(obj) or path == obj:
                    continue
                relative = path.relative_to(obj).as_posix()
                if not _glob(relative, rule.pattern) or any(_glob(relative, pattern) for pattern in rule.except_):
                    continue
                kind = "directory" if path.is_dir() else "file"
                if kind in rule.type:
                    targets.append(path)
        for path in targets:
            if rule.mode is not None:
                os.chmod(path, int(rule.mode, 8))
        if (rule.owner or rule.group) and targets:
            _apply_ownership(run, rule.object, rule.owner, rule.group, targets, is_root=is_root)


def _apply_ownership(
    run: _Run, obj: str, owner: str | None, group: str | None, targets: Sequence[Path], *, is_root: bool
) -> None:
    wanted = f"{owner or '-'}:{group or '-'}"
    if not is_root:
        run.notes.append(f"permissions: owner/group {wanted} on {obj} skipped (not running as root)")
        return
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        run.notes.append(f"permissions: owner/group {wanted} on {obj} skipped (no such user or group here)")
        return
    for path in targets:
        os.chown(path, uid, gid, follow_symlinks=False)


def _glob(relative: str, pattern: str) -> bool:
    # The agent treats "**" as "everything below the object"; other patterns are shell globs on the relative path.
    return (
        pattern == "**" or fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(Path(relative).name, pattern)
    )


# ---------------------------------------------------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------------------------------------------------


def _hook_env(run: _Run, event: str) -> dict[str, str]:
    return {
        # A minimal environment, like the agent's service: a script that needs the developer's shell fails here.
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "HOME": str(run.sandbox / "home"),
        "TMPDIR": str(run.sandbox / "tmp"),
        "LIFECYCLE_EVENT": event,
        "DEPLOYMENT_ID": DEPLOYMENT_ID,
        "APPLICATION_NAME": run.options.application_name,
        "DEPLOYMENT_GROUP_NAME": run.options.deployment_group_name,
        "DEPLOYMENT_GROUP_ID": run.deployment_group_id,
        "REHEARSAL_ROOT": str(run.root),
        "REHEARSAL_PORT": str(run.options.health_check.port),
        "REHEARSAL_ID": run.token,
    }


def _hook_event(run: _Run, event: str, lane: str, scripts: Sequence[HookScript]) -> None:
    start = _now()
    if not scripts:
        run.record(EventResult(event, lane, "Skipped", start, start, message="no scripts"))
        return
    log: list[str] = []
    _log_line(run, log, f"LifecycleEvent - {event}\n")
    for script in scripts:
        run.say(f"{event}: running {script.location} (timeout {script.timeout_seconds} s)")
        error_code, message = _run_script(run, event, script, log)
        if error_code is not None:
            text = "".join(log)
            run.record(
                EventResult(
                    event,
                    lane,
                    "Failed",
                    start,
                    _now(),
                    tuple(s.location for s in scripts),
                    error_code,
                    message,
                    text,
                )
            )
            run.say(f"{event}: FAILED ({error_code}): {message}")
            raise _StepFailed
    end = _now()
    run.record(EventResult(event, lane, "Succeeded", start, end, tuple(s.location for s in scripts), log="".join(log)))
    run.say(f"{event}: succeeded in {(end - start).total_seconds():.2f} s")


def _log_line(run: _Run, log: list[str], line: str) -> None:
    # The agent's scripts.log format: local time without zone, then the line as the script printed it.
    stamped = f"{datetime.now().strftime(_AGENT_TIME_FORMAT)} {line if line.endswith(chr(10)) else line + chr(10)}"
    if sum(map(len, log)) < _MAX_EVENT_LOG_CHARS:
        log.append(stamped)
    if run.script_log is not None:
        run.script_log.write(stamped)
        run.script_log.flush()


def _run_script(run: _Run, event: str, script: HookScript, log: list[str]) -> tuple[str | None, str]:
    """Run one script as the agent does; (None, "") on success, else (errorCode, message) in the agent's words."""
    location = script.location
    path = run.archive / location
    if not path.resolve().is_relative_to(run.archive.resolve()) or not path.is_file():
        return "ScriptMissing", f"Script does not exist at specified location: {location}"
    if not os.access(path, os.X_OK):
        # The agent tries `chmod +x` before giving up; the archive is the sandbox's own copy, so this is safe.
        try:
            path.chmod(path.stat().st_mode | 0o111)
        except OSError:
            return "ScriptNotExecutable", f"Unable to set script at specified location: {location} as executable"
    _log_line(run, log, f"Script - {location}\n")
    user = _runas(run, script)
    lock = threading.Lock()

    def pump(stream: Any, prefix: str) -> None:
        for raw in iter(stream.readline, b""):
            with lock:
                _log_line(run, log, f"[{prefix}]{raw.decode('utf-8', errors='replace')}")
        stream.close()

    try:
        # The revision's own script, run inside the sandbox on purpose.
        process = subprocess.Popen(
            [str(path)],
            cwd=run.root,
            env=_hook_env(run, event),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills the script and all it started
            user=user,
        )
    except OSError as exc:
        return "ScriptNotExecutable", f"Script at specified location: {location} could not be run: {exc.strerror}"
    run.tracker.add_group(process.pid)
    readers = [
        threading.Thread(target=pump, args=(process.stdout, "stdout"), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, "stderr"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + script.timeout_seconds
    exited = True
    try:
        process.wait(timeout=script.timeout_seconds)
    except subprocess.TimeoutExpired:
        exited = False
    # Like the agent, the event ends when the output pipes close too, not only when the script exits.
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    pipes_open = any(reader.is_alive() for reader in readers)
    if not exited or pipes_open:
        _kill_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_KILL_GRACE_SECONDS)
        _kill_group(process.pid, signal.SIGKILL)
        process.wait()
        for reader in readers:
            reader.join(_KILL_GRACE_SECONDS)
        message = f"Script at specified location: {location} failed to complete in {script.timeout_seconds} seconds"
        if exited:
            message += (
                " (the script exited, but a process it started still holds its stdout/stderr, and the agent waits for"
                " them to close: redirect a background process's output, e.g. `cmd >/dev/null 2>&1 &`)"
            )
        return "ScriptTimedOut", message
    if process.returncode != 0:
        who = f" run as user {script.runas}" if user is not None else ""
        code = process.returncode if process.returncode >= 0 else f"{process.returncode} (killed by a signal)"
        return "ScriptFailed", f"Script at specified location: {location}{who} failed with exit code {code}"
    return None, ""


def _runas(run: _Run, script: HookScript) -> str | None:
    if script.runas is None:
        return None
    if os.geteuid() != 0:
        run.notes.append(f"{script.location}: runas {script.runas} ignored (the rehearsal does not run as root)")
        return None
    try:
        pwd.getpwnam(script.runas)
    except KeyError:
        run.notes.append(f"{script.location}: runas {script.runas} ignored (no such user on this machine)")
        return None
    return script.runas


# ---------------------------------------------------------------------------------------------------------------------
# AllowTraffic: the target group's health check
# ---------------------------------------------------------------------------------------------------------------------


def _probe(settings: HealthCheckSettings, path: str | None = None) -> tuple[bool, str]:
    """One health check as the load balancer makes it: a GET with the per-probe timeout, no redirect followed."""
    connection = http.client.HTTPConnection("127.0.0.1", settings.port, timeout=settings.timeout_seconds)
    try:
        connection.request("GET", path or settings.path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
        response = connection.getresponse()
        response.read()
    except TimeoutError:
        return False, f"no answer within the {settings.timeout_seconds:g} s timeout"
    except ConnectionRefusedError:
        return False, "connection refused"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    ok = settings.matches(response.status)
    return ok, f"HTTP {response.status}" + ("" if ok else f" (matcher {settings.matcher})")


def _allow_traffic(run: _Run) -> None:
    settings = run.options.health_check
    start = _now()
    run.say(f"AllowTraffic: probing like the target group ({settings.describe()})")
    origin = time.monotonic()
    probes: list[Probe] = []
    streak = 0
    index = 0
    healthy_at: float | None = None
    while True:
        # Probes start at registration and follow the interval, whatever each probe took (as the ALB schedules them).
        due = origin + index * settings.interval_seconds
        if due - origin > run.options.healthy_within_seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        ok, detail = _probe(settings)
        probes.append(Probe(round(time.monotonic() - origin, 3), ok, detail))
        streak = streak + 1 if ok else 0
        if streak >= settings.healthy_threshold:
            healthy_at = time.monotonic() - origin
            break
        index += 1
    run.health = HealthResult(healthy_at is not None, healthy_at, tuple(probes), settings)
    if healthy_at is None:
        last = probes[-1].detail if probes else "no probe made"
        message = (
            f"the target never became healthy: {len(probes)} probes in {run.options.healthy_within_seconds:g} s "
            f"({settings.describe()}); last probe: {last}"
        )
        run.record(EventResult("AllowTraffic", LANE_GREEN, "Failed", start, _now(), message=message))
        run.say(f"AllowTraffic: FAILED: {message}")
        raise _StepFailed
    message = f"healthy after {healthy_at:.2f} s ({len(probes)} probes)"
    run.record(EventResult("AllowTraffic", LANE_GREEN, "Succeeded", start, _now(), message=message))
    run.say(f"AllowTraffic: {message}")


# ---------------------------------------------------------------------------------------------------------------------
# Shutdown: SIGTERM under in-flight load
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    sent: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    error: str | None = None


def _send(port: int, path: str, timeout: float, request: _Request) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        request.sent.set()
        response = connection.getresponse()
        response.read()
        request.status = response.status
    except (OSError, http.client.HTTPException) as exc:
        request.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        connection.close()
        request.sent.set()
        request.done.set()


def _shutdown(run: _Run) -> None:
    options = run.options
    path = options.drain_path or options.health_check.path
    start = _now()
    count = options.drain_requests
    run.say(f"Shutdown: {count} concurrent GET {path} in flight, then SIGTERM to the revision's processes")
    if not run.tracker.alive():
        message = "no process of the revision is running: nothing would serve traffic or receive SIGTERM"
        run.record(EventResult("Shutdown (SIGTERM)", LANE_BLUE, "Failed", start, _now(), message=message))
        raise _StepFailed
    # Requests time out a little after the stop timeout: by then systemd would have SIGKILLed the app.
    timeout = options.stop_timeout_seconds + 5
    requests = [_Request() for _ in range(count)]
    threads = [
        threading.Thread(target=_send, args=(options.health_check.port, path, timeout, request), daemon=True)
        for request in requests
    ]
    for thread in threads:
        thread.start()
    for request in requests:
        request.sent.wait(5)
    time.sleep(options.drain_settle_seconds)
    failed_early = sum(1 for request in requests if request.done.is_set() and request.error is not None)
    in_flight = sum(1 for request in requests if not request.done.is_set())
    signalled_at = time.monotonic()
    signalled = run.tracker.signal_all(signal.SIGTERM)
    exited = run.tracker.wait_gone(options.stop_timeout_seconds)
    seconds_to_exit = time.monotonic() - signalled_at if exited else None
    killed = [] if exited else run.tracker.terminate_all()
    for thread in threads:
        thread.join(timeout)
    errors = tuple(sorted({request.error for request in requests if request.error is not None}))
    lost = sum(1 for request in requests if request.status is None)
    run.drain = DrainResult(
        path=path,
        sent=count,
        in_flight_at_sigterm=in_flight,
        completed=count - lost,
        lost=lost,
        processes_signalled=signalled,
        seconds_to_exit=round(seconds_to_exit, 3) if seconds_to_exit is not None else None,
        killed=len(killed),
        errors=errors,
    )
    summary = f"{count} requests sent, {in_flight} in flight at SIGTERM, {count - lost} completed, {lost} lost; " + (
        f"the app exited {seconds_to_exit:.2f} s after SIGTERM" if exited else "the app had to be SIGKILLed"
    )
    problems = []
    if failed_early:
        problems.append(f"{failed_early} request(s) failed before SIGTERM was even sent ({', '.join(errors)})")
    elif lost:
        problems.append(f"{lost} of {count} requests in flight were lost after SIGTERM ({', '.join(errors)})")
    if not exited:
        problems.append(
            f"{len(killed)} process(es) were still running {options.stop_timeout_seconds:g} s after SIGTERM and were "
            "SIGKILLed (systemd does the same after TimeoutStopSec)"
        )
    if in_flight == 0 and not problems:
        run.notes.append(
            f"no request was still in flight when SIGTERM was sent (GET {path} answers quickly): the drain was not "
            "exercised; pass --drain-path with a slow endpoint (the sample app: '/slow?ms=2000')"
        )
    if problems:
        message = "; ".join(problems) + f" — {summary}"
        run.record(EventResult("Shutdown (SIGTERM)", LANE_BLUE, "Failed", start, _now(), message=message))
        run.say(f"Shutdown: FAILED: {message}")
        raise _StepFailed
    run.record(EventResult("Shutdown (SIGTERM)", LANE_BLUE, "Succeeded", start, _now(), message=summary))
    run.say(f"Shutdown: {summary}")


# ---------------------------------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------------------------------


def _mark_pending(run: _Run) -> None:
    """Add the events that never ran (after a failure) as Pending, so the report and timeline show the whole path."""
    seen = {event.event for event in run.events}
    if not run.events or all(event.status != "Failed" for event in run.events):
        return
    for event in GREEN_EVENT_ORDER:
        if event not in seen:
            run.events.append(EventResult(event, LANE_GREEN, "Pending", None, None))
    for event in (*BLUE_EVENT_ORDER, "Shutdown (SIGTERM)"):
        if event not in seen:
            run.events.append(EventResult(event, LANE_BLUE, "Pending", None, None))


def format_report(result: RehearsalResult) -> str:
    """The human summary printed at the end: one line per event, the health and drain figures, the failure."""
    verdict = "PASSED" if result.ok else "FAILED"
    lines = [f"Rehearsal of {result.app_dir}: {verdict} (exit code {result.exit_code})"]
    if result.events:
        lines.append(f"  {'Lifecycle event':<22} {'Status':<10} {'Duration':>9}  Details")
    for event in result.events:
        duration = event.duration_seconds
        shown = f"{duration:.2f} s" if duration is not None and event.status not in ("Skipped", "Pending") else "-"
        details = event.message if event.status != "Failed" else f"{event.error_code or 'Error'}: {event.message}"
        lines.append(f"  {event.event:<22} {event.status:<10} {shown:>9}  {details}".rstrip())
    if result.health is not None:
        health = result.health
        lines.append(f"Health check: {health.settings.describe()}")
        if health.healthy and health.seconds_to_healthy is not None:
            interval = health.settings.interval_seconds
            lines.append(
                f"  would be marked healthy {health.seconds_to_healthy:.2f} s after registration "
                f"({len(health.probes)} probes): AllowTraffic takes about {health.seconds_to_healthy:.1f} to "
                f"{health.seconds_to_healthy + interval:.1f} s on AWS (the first probe comes up to one interval after "
                "registration), plus registration and CodeDeploy polling delays"
            )
        else:
            lines.append(f"  never healthy; probes: {', '.join(p.detail for p in health.probes[-5:])}")
    if result.drain is not None:
        drain = result.drain
        exit_text = (
            f"exited {drain.seconds_to_exit:.2f} s after SIGTERM"
            if drain.seconds_to_exit is not None
            else f"{drain.killed} process(es) SIGKILLed"
        )
        lines.append(
            f"SIGTERM drain (GET {drain.path}): {drain.sent} sent, {drain.in_flight_at_sigterm} in flight at SIGTERM, "
            f"{drain.completed} completed, {drain.lost} lost; the app {exit_text}"
        )
    lines.extend(f"Note: {note}" for note in result.notes)
    if result.failure:
        lines.append(f"Failure: {result.failure}")
    if result.log_tail:
        lines.append("Log tail of the failed event (scripts.log):")
        lines.extend(f"  {line}" for line in result.log_tail.rstrip("\n").splitlines())
    if result.sandbox is not None:
        lines.append(f"Sandbox kept at {result.sandbox}")
    lines.extend(f"Report: {path}" for path in result.report_files)
    return "\n".join(lines) + "\n"


def _write_reports(result: RehearsalResult, run: _Run, report_dir: Path) -> tuple[Path, ...]:
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = report_dir / "rehearsal.json"
    summary.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    picture = write_timeline(
        report_dir / "rehearsal-timeline.svg",
        result.spans(),
        title=f"Rehearsal of {result.app_dir.name}: {'passed' if result.ok else 'failed'}",
    )
    files = [summary, picture]
    scripts_log = run.deployment_dir / "logs" / "scripts.log"
    if scripts_log.is_file():
        files.append(Path(shutil.copyfile(scripts_log, report_dir / "scripts.log")))
    return tuple(files)


def _remove_sandbox(sandbox: Path) -> None:
    def make_writable(function: Callable[..., Any], path: str, _excinfo: Any) -> None:
        # A revision may install read-only directories (mode 555): give the owner write access back, then retry.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
        with contextlib.suppress(OSError):
            function(path)

    # `onerror` rather than 3.12's `onexc`: the project targets Python 3.11.
    shutil.rmtree(sandbox, onerror=make_writable)


def _now() -> datetime:
    return datetime.now(UTC)


class _NullWriter:
    """Discards progress lines (when the caller does not want them)."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------

HELP = """\
Rehearse a revision on this machine the way the CodeDeploy agent runs it on a new (green) instance: validate the
appspec, copy the bundle, run BeforeInstall .. ValidateService with the agent's environment variables and timeouts,
probe the app like the target group's health check (settings from cdk.json), then send SIGTERM while requests are in
flight and check that none is lost. No AWS account or agent is needed.

Safety: the rehearsal writes only inside a new temporary sandbox directory (and the --report-dir you name). The
revision directory is only read. Every install destination is re-rooted under the sandbox and anything leaving it
('..' or a symlink pointing out) is refused. The hook scripts themselves run as your user with REHEARSAL_ROOT set and
must honour it (see sample-app/README.md); every process they start is terminated at the end, also on Ctrl-C.
"""

EPILOG = """\
Environment given to hook scripts: LIFECYCLE_EVENT, DEPLOYMENT_ID (d-REHEARSAL), APPLICATION_NAME,
DEPLOYMENT_GROUP_NAME, DEPLOYMENT_GROUP_ID, and REHEARSAL_ROOT (sandbox root standing for /), REHEARSAL_PORT (the
port probed), REHEARSAL_ID, TMPDIR, HOME (inside the sandbox), PATH, LANG.

Exit codes: 0 the revision went through the whole lifecycle; 1 a hook failed or timed out, the app never became
healthy, a request was lost or the app did not stop after SIGTERM; 2 bad input (appspec invalid, port in use, bad
option); 4 interrupted (SIGINT/SIGTERM).
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the rehearsal's options to `parser` (the `rehearse` subcommand of scripts/deploy.py)."""
    if parser.description is None:
        parser.description = HELP
    if parser.epilog is None:
        parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--app-dir", type=Path, required=True, help="the revision folder (holds appspec.yml)")
    parser.add_argument(
        "--report-dir", type=Path, help="write rehearsal.json, rehearsal-timeline.svg and scripts.log there"
    )
    parser.add_argument("--keep-sandbox", action="store_true", help="keep the sandbox directory for inspection")
    group = parser.add_argument_group("health check (defaults: the target group's settings in cdk.json)")
    group.add_argument("--health-check-path", help="path probed, e.g. /health")
    group.add_argument("--health-check-port", type=int, help="port probed; exported to hooks as REHEARSAL_PORT")
    group.add_argument("--health-check-matcher", help="HTTP codes meaning healthy, e.g. 200 or 200-299")
    group.add_argument("--health-check-interval", type=float, help="seconds between probes")
    group.add_argument("--health-check-timeout", type=float, help="seconds a probe may take")
    group.add_argument("--healthy-threshold", type=int, help="consecutive successes needed to be healthy")
    group.add_argument(
        "--healthy-within", type=float, default=120.0, help="give up on AllowTraffic after this many seconds (120)"
    )
    drain = parser.add_argument_group("shutdown drain")
    drain.add_argument(
        "--drain-path",
        help="path of the requests in flight at SIGTERM (default: the health-check path), "
        "e.g. '/slow?ms=2000' for the sample app",
    )
    drain.add_argument("--drain-requests", type=int, default=8, help="concurrent requests in flight (1..64, 8)")
    drain.add_argument(
        "--stop-timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT_SECONDS,
        help="seconds the app may take to exit after SIGTERM before SIGKILL (systemd's default: 90)",
    )
    lifecycle = parser.add_argument_group("lifecycle")
    lifecycle.add_argument("--application-name", default="rehearsal", help="APPLICATION_NAME given to hooks")
    lifecycle.add_argument("--deployment-group-name", default="rehearsal", help="DEPLOYMENT_GROUP_NAME given to hooks")
    lifecycle.add_argument(
        "--run-application-stop",
        action="store_true",
        help="also run ApplicationStop (as on an in-place redeploy; a fresh replacement instance has none to run)",
    )
    parser.set_defaults(run=run_from_args)


def options_from_args(namespace: argparse.Namespace) -> RehearsalOptions:
    """Turn parsed arguments into `RehearsalOptions`, filling health-check defaults from cdk.json.

    Raises `InputError` for cdk.json problems and out-of-range values.
    """
    from stacks.config import ConfigError, load_cdk_json_config  # noqa: PLC0415 - only when rehearsing, not for --help

    try:
        config = load_cdk_json_config()
    except (ConfigError, OSError, ValueError) as exc:
        raise InputError(f"cdk.json: {exc}", hint="Fix cdk.json (see README, Configuration).") from exc
    base = config.health_check

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    settings = HealthCheckSettings(
        path=pick(namespace.health_check_path, base.path),
        port=pick(namespace.health_check_port, base.port),
        matcher=pick(namespace.health_check_matcher, base.matcher),
        interval_seconds=float(pick(namespace.health_check_interval, base.interval_seconds)),
        timeout_seconds=float(pick(namespace.health_check_timeout, base.timeout_seconds)),
        healthy_threshold=pick(namespace.healthy_threshold, base.healthy_threshold),
    )
    _check_settings(settings)
    return RehearsalOptions(
        app_dir=namespace.app_dir,
        health_check=settings,
        report_dir=namespace.report_dir,
        keep_sandbox=namespace.keep_sandbox,
        application_name=namespace.application_name,
        deployment_group_name=namespace.deployment_group_name,
        healthy_within_seconds=namespace.healthy_within,
        drain_path=namespace.drain_path,
        drain_requests=namespace.drain_requests,
        stop_timeout_seconds=namespace.stop_timeout,
        run_application_stop=namespace.run_application_stop,
    )


def _check_settings(settings: HealthCheckSettings) -> None:
    problems = []
    if not settings.path.startswith("/"):
        problems.append(f"--health-check-path must start with /, got {settings.path!r}")
    if not 1 <= settings.port <= 65535:
        problems.append(f"--health-check-port must be 1..65535, got {settings.port}")
    try:
        settings.matches(200)
    except ValueError:
        problems.append(f"--health-check-matcher must look like 200, 200,204 or 200-299, got {settings.matcher!r}")
    if settings.interval_seconds <= 0 or settings.timeout_seconds <= 0:
        problems.append("--health-check-interval and --health-check-timeout must be positive")
    elif settings.timeout_seconds >= settings.interval_seconds:
        # ELBv2 CreateTargetGroup rejects a timeout that is not below the interval; so does the rehearsal.
        problems.append("--health-check-timeout must be less than --health-check-interval")
    if not 1 <= settings.healthy_threshold <= 10:
        problems.append(f"--healthy-threshold must be 1..10, got {settings.healthy_threshold}")
    if problems:
        raise InputError("; ".join(problems))


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (a CI runner cancelling the job) like Ctrl-C, so cleanup runs; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_from_args(namespace: argparse.Namespace) -> int:
    """Run the rehearsal the parsed arguments describe, print progress and the report; return the exit code."""
    try:
        options = options_from_args(namespace)
    except InputError as exc:
        print(exc.describe(), file=sys.stderr)
        return int(exc.exit_code)
    with _sigterm_interrupts():
        result = rehearse(options, out=sys.stdout)
    sys.stdout.write("\n" + format_report(result))
    return result.exit_code
