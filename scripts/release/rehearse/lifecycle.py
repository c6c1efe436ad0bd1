"""`rehearse()`: the lifecycle in CodeDeploy's order, from the preflight checks to the cleanup that always runs."""

from __future__ import annotations

import io
import socket
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from release.appspec import (
    BLUE_EVENT_ORDER,
    GREEN_EVENT_ORDER,
    RESERVED_EVENTS,
    AppSpec,
    load_appspec,
    revision_files,
)
from release.errors import ExitCode, InputError, ReleaseError
from release.install_plan import SYSTEM_DIRECTORIES
from release.rehearse.hooks import hook_event
from release.rehearse.model import (
    LANE_BLUE,
    LANE_GREEN,
    EventResult,
    RehearsalInterrupted,
    RehearsalOptions,
    RehearsalResult,
)
from release.rehearse.processes import ProcessTracker, set_child_subreaper
from release.rehearse.report import write_reports
from release.rehearse.sandbox import download_bundle, install, remove_sandbox
from release.rehearse.state import RunState, StepFailed, now
from release.rehearse.traffic import MAX_SHUTDOWN_REQUESTS, allow_traffic, shutdown
from release.report import prepare_report_dir
from release.tree import check_readable

# CodeDeploy returns "up to the last 4 KB of the diagnostic log" as logTail (API Diagnostics); the report shows as much.
LOG_TAIL_CHARS = 4096


def rehearse(options: RehearsalOptions, *, out: TextIO | None = None) -> RehearsalResult:
    """Rehearse the revision in `options.app_dir` and return what happened; progress lines go to `out`.

    Never raises for a failing revision or bad input (they are in the result's `exit_code` and `failure`);
    KeyboardInterrupt is turned into exit code 4 after cleanup. Every process started is gone when this returns,
    and, on Linux, reaped: the rehearsal is the child subreaper of everything its hooks start while it runs.
    """
    started = now()
    token = uuid.uuid4().hex
    sandbox = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    run = RunState(options, out or io.StringIO(), token, sandbox, ProcessTracker(token))
    exit_code, failure, log_tail = 0, None, ""
    warnings: tuple[str, ...] = ()
    _adopt_orphans(run)
    try:
        _preflight(run)
        # A script that cannot start is left to fail its event, as on the instance, with the agent's error.
        appspec = load_appspec(options.app_dir, strict=options.strict, refuse_unstartable_scripts=False)
        warnings = tuple(str(warning) for warning in appspec.warnings)
        for warning in warnings:
            run.say(f"appspec warning: {warning}")
        _lifecycle(run, appspec)
    except StepFailed:
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
        _release_orphans(run)
    if exit_code == 0 and run.incomplete:
        exit_code = ExitCode.REHEARSAL_INCOMPLETE
    _mark_pending(run)
    result = RehearsalResult(
        app_dir=options.app_dir,
        exit_code=int(exit_code),
        failure=failure,
        log_tail=log_tail[-LOG_TAIL_CHARS:],
        events=tuple(run.events),
        health=run.health,
        shutdown=run.shutdown,
        notes=tuple(run.notes),
        started_at=started,
        finished_at=now(),
        sandbox=sandbox if options.keep_sandbox else None,
        rehearsal_id=token,
        incomplete=tuple(run.incomplete),
        risks=tuple(run.risks),
        warnings=warnings,
    )
    if options.report_dir is not None:
        try:
            result = replace(result, report_files=write_reports(result, options.report_dir, run.scripts_log_path))
        except OSError as exc:
            # Checked writable before the run (prepare_report_dir); failing now (a full disk, the refused directory
            # itself) loses the files, not the verdict, which the report on stdout still gives.
            note = f"report files not written to {options.report_dir}: {exc.strerror or exc}"
            result = replace(result, notes=(*result.notes, note))
    if not options.keep_sandbox:
        remove_sandbox(sandbox)
    return result


def _adopt_orphans(run: RunState) -> None:
    """Become the child subreaper, so what a hook daemonizes is adopted and reaped here rather than by PID 1."""
    why_not = set_child_subreaper(True)
    if why_not is None:
        run.tracker.start_adopting()
    else:
        run.notes.append(
            f"the rehearsal could not become the child subreaper ({why_not}): processes a hook daemonizes are "
            "found by process group and REHEARSAL_ID only, and their zombies are left to PID 1"
        )


def _release_orphans(run: RunState) -> None:
    """Reap what is left and stop being the child subreaper."""
    if not run.tracker.subreaper:
        return
    run.tracker.reap()
    set_child_subreaper(False)
    run.tracker.subreaper = False
    if run.tracker.adopted:
        run.notes.append(
            f"adopted {len(run.tracker.adopted)} process(es) the hooks daemonized (as child subreaper) and reaped "
            f"{run.tracker.reaped} after they exited"
        )


def _preflight(run: RunState) -> None:
    options = run.options
    app_dir = options.app_dir
    if not app_dir.is_dir():
        raise InputError(f"--app-dir {app_dir} is not a directory", hint="Point --app-dir at the revision's folder.")
    if options.report_dir is not None and options.report_dir.resolve().is_relative_to(app_dir.resolve()):
        raise InputError(
            f"--report-dir {options.report_dir} is inside the revision; the rehearsal never writes into it",
            hint="Choose a report directory outside --app-dir.",
        )
    if options.report_dir is not None:
        prepare_report_dir(options.report_dir)
    # The check `bundle` makes, up front: a file the copy could not read is the revision's fault (exit 2), not a
    # DownloadBundle failure.
    check_readable(app_dir, revision_files(app_dir))
    if not 1 <= options.shutdown_requests <= MAX_SHUTDOWN_REQUESTS:
        raise InputError(f"--shutdown-requests must be 1..{MAX_SHUTDOWN_REQUESTS}, got {options.shutdown_requests}")
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


def _lifecycle(run: RunState, appspec: AppSpec) -> None:
    for directory in (run.root, run.sandbox / "tmp", run.scripts_log_path.parent):
        directory.mkdir(parents=True, exist_ok=True)
    # The sandbox root starts as a fresh instance: its system directories exist (/opt, /var, /usr/local, ...), so
    # Install plans (and a `directory` permission matches) the same directories as on the instance.
    for system_directory in SYSTEM_DIRECTORIES:
        (run.root / system_directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    run.script_log = run.scripts_log_path.open("w", encoding="utf-8")
    run.say(f"rehearsing {run.options.app_dir} in sandbox {run.sandbox}")
    for event in GREEN_EVENT_ORDER:
        if event == "ApplicationStop" and not run.options.run_application_stop:
            when = now()
            note = "fresh replacement instance: no previous revision, so no ApplicationStop script runs"
            run.record(EventResult(event, LANE_GREEN, "Skipped", when, when, message=note))
            run.say(f"{event}: skipped ({note})")
        elif event == "DownloadBundle":
            _step(run, event, LANE_GREEN, lambda: download_bundle(run))
        elif event == "Install":
            _step(run, event, LANE_GREEN, lambda: install(run, appspec))
        elif event == "AllowTraffic":
            allow_traffic(run)
        elif event not in RESERVED_EVENTS:
            hook_event(run, event, LANE_GREEN, appspec.hooks.get(event, ()))
    for event in BLUE_EVENT_ORDER:
        if event == "BlockTraffic":
            when = now()
            note = "no load balancer here: the rehearsal stops sending new requests"
            run.record(EventResult(event, LANE_BLUE, "Skipped", when, when, message=note))
        else:
            hook_event(run, event, LANE_BLUE, appspec.hooks.get(event, ()))
    shutdown(run)


def _step(run: RunState, event: str, lane: str, action: Callable[[], str]) -> None:
    """Run one of the agent's own events; a `ReleaseError` or `OSError` from `action` fails it."""
    start = now()
    try:
        message = action()
    except (ReleaseError, OSError) as exc:
        text = exc.describe() if isinstance(exc, ReleaseError) else f"{type(exc).__name__}: {exc}"
        run.record(EventResult(event, lane, "Failed", start, now(), error_code="UnknownError", message=text))
        run.say(f"{event}: FAILED: {text}")
        raise StepFailed from exc
    run.record(EventResult(event, lane, "Succeeded", start, now(), message=message))
    run.say(f"{event}: {message}")


def _mark_pending(run: RunState) -> None:
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
