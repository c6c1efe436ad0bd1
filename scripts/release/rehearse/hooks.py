"""Running a lifecycle event's hook scripts as the CodeDeploy agent does: its environment, timeouts, process groups
and `logs/scripts.log`."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from release.appspec import HookScript
from release.rehearse.model import DEPLOYMENT_ID, EventResult
from release.rehearse.processes import KILL_GRACE_SECONDS, kill_group
from release.rehearse.state import RunState, StepFailed, now

# A runaway script must not fill the memory of the rehearsal: keep at most this much of one event's output.
_MAX_EVENT_LOG_CHARS = 1_000_000
_AGENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _hook_env(run: RunState, event: str) -> dict[str, str]:
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


def hook_event(run: RunState, event: str, lane: str, scripts: Sequence[HookScript]) -> None:
    start = now()
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
                    now(),
                    tuple(s.location for s in scripts),
                    error_code,
                    message,
                    text,
                )
            )
            run.say(f"{event}: FAILED ({error_code}): {message}")
            raise StepFailed
    end = now()
    run.record(EventResult(event, lane, "Succeeded", start, end, tuple(s.location for s in scripts), log="".join(log)))
    run.say(f"{event}: succeeded in {(end - start).total_seconds():.2f} s")


def _log_line(run: RunState, log: list[str], line: str) -> None:
    # The agent's scripts.log format: local time without zone, then the line as the script printed it.
    stamped = f"{datetime.now().strftime(_AGENT_TIME_FORMAT)} {line if line.endswith(chr(10)) else line + chr(10)}"
    if sum(map(len, log)) < _MAX_EVENT_LOG_CHARS:
        log.append(stamped)
    if run.script_log is not None:
        run.script_log.write(stamped)
        run.script_log.flush()


def _run_script(run: RunState, event: str, script: HookScript, log: list[str]) -> tuple[str | None, str]:
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
        kill_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=KILL_GRACE_SECONDS)
        kill_group(process.pid, signal.SIGKILL)
        process.wait()
        for reader in readers:
            reader.join(KILL_GRACE_SECONDS)
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


def _runas(run: RunState, script: HookScript) -> str | None:
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
