"""Running a lifecycle event's hook scripts as the CodeDeploy agent does: its environment, users, timeouts, process
groups and `logs/scripts.log` (aws/aws-codedeploy-agent 1.8.1, `hook_executor.rb` and `platform/linux_util.rb`)."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from release.appspec import HookScript
from release.rehearse.model import DEPLOYMENT_ID, EventResult
from release.rehearse.processes import KILL_GRACE_SECONDS, kill_group
from release.rehearse.state import RunState, StepFailed, now

# A runaway script must not fill the memory of the rehearsal: keep at most this much of one event's output.
_MAX_EVENT_LOG_CHARS = 1_000_000
_AGENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# The agent is a systemd service (init.d/codedeploy-agent.service): its scripts inherit systemd's default PATH for
# services, not a login shell's, and no HOME (systemd sets HOME only for a service with User=).
AGENT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The service sources /etc/profile, whose lang.sh sets LANG from /etc/locale.conf: C.UTF-8 on Amazon Linux 2023.
AGENT_LANG = "C.UTF-8"
# The agent starts every script with this umask (a systemd service's default).
AGENT_UMASK = 0o022
# Users every Amazon Linux 2023 instance has besides the system accounts: a `runas` user of the fleet that may be
# missing from the machine running the rehearsal (a CI runner), where it cannot be reproduced.
FLEET_USERS = frozenset({"ec2-user"})
# The shell's exit status for a command it cannot find.
_COMMAND_NOT_FOUND = 127


def can_switch_users() -> bool:
    """Whether this process may run a script as another user (`su USER -c`), as the agent, running as root, can."""
    return os.geteuid() == 0


def hook_env(run: RunState, event: str) -> dict[str, str]:
    """The environment of one script: the agent's, plus the rehearsal's REHEARSAL_* conventions and TMPDIR."""
    return {
        "PATH": AGENT_PATH,
        "LANG": AGENT_LANG,
        # hook_executor.rb's child_envs, then the S3 revision's (command_executor.rb, get_s3_envs).
        "LIFECYCLE_EVENT": event,
        "DEPLOYMENT_ID": DEPLOYMENT_ID,
        "APPLICATION_NAME": run.options.application_name,
        "DEPLOYMENT_GROUP_NAME": run.options.deployment_group_name,
        "DEPLOYMENT_GROUP_ID": run.deployment_group_id,
        "BUNDLE_BUCKET": "rehearsal",
        "BUNDLE_KEY": f"{run.options.application_name}/rehearsal.zip",
        # Not the agent's: where the rehearsal stands for "/", the port it probes, the mark of its processes, and a
        # temporary directory inside the sandbox so a hook's scratch files go away with it.
        "REHEARSAL_ROOT": str(run.root),
        "REHEARSAL_PORT": str(run.options.health_check.port),
        "REHEARSAL_ID": run.token,
        "TMPDIR": str(run.sandbox / "tmp"),
    }


class ScriptError(Exception):
    """One script failed the event; `error_code` is the agent's (ScriptMissing, ScriptFailed, ...)."""

    def __init__(self, error_code: str, message: str) -> None:
        """Create the error with the agent's code and message."""
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def hook_event(run: RunState, event: str, lane: str, scripts: Sequence[HookScript]) -> None:
    """Run the scripts of `event` in order; the first failure fails the event (and the rehearsal) as on the agent."""
    start = now()
    if not scripts:
        run.record(EventResult(event, lane, "Skipped", start, start, message="no scripts"))
        return
    log: list[str] = []
    locations = tuple(s.location for s in scripts)
    _log_line(run, log, f"LifecycleEvent - {event}\n")
    for script in scripts:
        run.say(f"{event}: running {script.location} (timeout {script.timeout_seconds} s)")
        try:
            _ScriptRun(run, event, script, log).execute()
        except ScriptError as exc:
            failed = EventResult(
                event, lane, "Failed", start, now(), locations, exc.error_code, exc.message, "".join(log)
            )
            run.record(failed)
            run.say(f"{event}: FAILED ({exc.error_code}): {exc.message}")
            raise StepFailed from exc
    end = now()
    run.record(EventResult(event, lane, "Succeeded", start, end, locations, log="".join(log)))
    run.say(f"{event}: succeeded in {(end - start).total_seconds():.2f} s")


def _log_line(run: RunState, log: list[str], line: str) -> None:
    # The agent's scripts.log format: local time without zone, then the line as the script printed it.
    stamped = f"{datetime.now().strftime(_AGENT_TIME_FORMAT)} {line if line.endswith(chr(10)) else line + chr(10)}"
    if sum(map(len, log)) < _MAX_EVENT_LOG_CHARS:
        log.append(stamped)
    if run.script_log is not None:
        run.script_log.write(stamped)
        run.script_log.flush()


@dataclass
class _ScriptRun:
    """One script of one event, run the way `HookExecutor#execute_script` runs it."""

    run: RunState
    event: str
    script: HookScript
    log: list[str]

    @property
    def location(self) -> str:
        return self.script.location

    @property
    def path(self) -> Path:
        return self.run.archive / self.script.location

    def prefix(self) -> str:
        """The agent's `script_error_prefix`: the location, and the user when `runas` is set."""
        who = f" run as user {self.script.runas}" if self.script.runas is not None else ""
        return f"Script at specified location: {self.location}{who}"

    def execute(self) -> None:
        self._check_file()
        _log_line(self.run, self.log, f"Script - {self.location}\n")
        command, extra_env = self._command()
        process = self._start(command, extra_env)
        self._wait(process)

    def _check_file(self) -> None:
        path = self.path
        if not path.resolve().is_relative_to(self.run.archive.resolve()) or not path.exists():
            raise ScriptError("ScriptMissing", f"Script does not exist at specified location: {path}")
        if not os.access(path, os.X_OK):
            # The agent logs a warning and runs `chmod +x`; the archive is the sandbox's own copy, so this is safe.
            self.run.notes.append(f"{self.location} was not executable; made executable as the agent does")
            try:
                path.chmod(path.stat().st_mode | 0o111)
            except OSError as exc:
                raise ScriptError(
                    "ScriptNotExecutable", f"Unable to set script at specified location: {self.location} as executable"
                ) from exc

    def _command(self) -> tuple[list[str], dict[str, str]]:
        """What runs the script (`linux_util.rb`, prepare_script_command), and what `su` adds to the environment."""
        runas = self.script.runas
        if runas is None:
            return [str(self.path)], {}
        try:
            user = pwd.getpwnam(runas)
        except KeyError:
            if runas in FLEET_USERS:
                self.run.incomplete.append(
                    f"{self.event}: {self.location} has runas {runas}, a user of Amazon Linux instances that this "
                    "machine lacks, so the rehearsal ran the script as itself"
                )
                return [str(self.path)], {}
            # `su USER -c SCRIPT` exits 1 ("su: user USER does not exist"), which fails the event.
            raise ScriptError(
                "ScriptFailed",
                f"{self.prefix()} failed with exit code 1 (su: user {runas} does not exist on this machine; the "
                f"agent runs `su {runas} -c <script>`, which fails the same way on an instance without that user)",
            ) from None
        if can_switch_users():
            return ["su", runas, "-c", str(self.path)], {}
        if user.pw_uid == os.geteuid():
            return [str(self.path)], {"HOME": user.pw_dir, "USER": runas, "LOGNAME": runas, "SHELL": user.pw_shell}
        me = pwd.getpwuid(os.geteuid()).pw_name
        self.run.incomplete.append(
            f"{self.event}: {self.location} has runas {runas}, but the rehearsal does not run as root and cannot "
            f"switch users, so it ran the script as {me}; on the instance the agent runs `su {runas} -c <script>`"
        )
        return [str(self.path)], {}

    def _start(self, command: list[str], extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        env = {**hook_env(self.run, self.event), **extra_env}
        try:
            return self._popen(command, env)
        except OSError as exc:
            if exc.errno == errno.ENOEXEC:
                # No "#!" line: Ruby's spawn (the agent's Open3) falls back to /bin/sh, as a shell would.
                return self._popen(["/bin/sh", *command], env)
            raise ScriptError(
                "ScriptFailed",
                f"{self.prefix()} failed with error Errno::{errno.errorcode.get(exc.errno or 0, 'EIO')} with message "
                f"{exc.strerror} - {self.path}{_cause(self.path, exc)}",
            ) from exc

    def _popen(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # the revision's own script, run inside the sandbox on purpose
            command,
            cwd=self.run.root,
            env=env,
            stdin=subprocess.DEVNULL,  # the agent closes the script's stdin at once
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            process_group=0,  # Open3's `pgroup: true`: its own process group, signalled as a whole at the timeout
            umask=AGENT_UMASK,
        )
        self.run.tracker.add_group(process.pid)
        return process

    def _wait(self, process: subprocess.Popen[bytes]) -> None:
        lock = threading.Lock()

        def pump(stream: IO[bytes], prefix: str) -> None:
            for raw in iter(stream.readline, b""):
                with lock:
                    _log_line(self.run, self.log, f"[{prefix}]{raw.decode('utf-8', errors='replace')}")
            stream.close()

        readers = [
            threading.Thread(target=pump, args=(process.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(process.stderr, "stderr"), daemon=True),
        ]
        for reader in readers:
            reader.start()
        timeout = self.script.timeout_seconds
        # One deadline for the script and its output pipes, as the agent's ThreadJoiner has.
        deadline = time.monotonic() + timeout
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._timed_out(process, readers)
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        if any(reader.is_alive() for reader in readers):
            self._outputs_left_open(process, readers)
        if process.returncode != 0:
            code: Any = process.returncode
            if code < 0:
                code = f"{code} (killed by signal {signal.Signals(-code).name})"
            elif _shebang_has_cr(self.path):
                code = f"{code} (its '#!' line ends with a carriage return: CRLF line endings; convert it to LF)"
            elif code == _COMMAND_NOT_FOUND:
                code = f"{code} (command not found: hooks run with the agent's PATH={AGENT_PATH}, not yours)"
            raise ScriptError("ScriptFailed", f"{self.prefix()} failed with exit code {code}")

    def _timed_out(self, process: subprocess.Popen[bytes], readers: list[threading.Thread]) -> None:
        # The agent sends SIGTERM to the script's process group once, then waits for the script itself to exit.
        kill_group(process.pid, signal.SIGTERM)
        message = (
            f"Script at specified location: {self.location} failed to complete in {self.script.timeout_seconds} seconds"
        )
        try:
            process.wait(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            risk = (
                f"{self.event}: {self.location} ignored SIGTERM at its {self.script.timeout_seconds} s timeout; the "
                "agent sends SIGTERM once and waits for the script to exit, with no SIGKILL, so on the instance the "
                "deployment would hang past the timeout (the rehearsal SIGKILLed it after "
                f"{KILL_GRACE_SECONDS:g} s)"
            )
            self.run.risks.append(risk)
            message += f"; RISK: the script ignores SIGTERM, so on the instance the event would hang: {risk}"
        self._kill(process, readers)
        raise ScriptError("ScriptTimedOut", message)

    def _outputs_left_open(self, process: subprocess.Popen[bytes], readers: list[threading.Thread]) -> None:
        # The agent waits for stdout first, then stderr, and names the first one still open.
        stream = "STDOUT" if readers[0].is_alive() else "STDERR"
        kill_group(process.pid, signal.SIGTERM)
        self._kill(process, readers)
        raise ScriptError(
            "OutputsLeftOpen",
            f"Script at specified location: {self.location} failed to close {stream} within "
            f"{self.script.timeout_seconds} seconds (the script exited, but a process it started still holds its "
            "stdout/stderr, and the agent waits for them to close: redirect a background process's output, e.g. "
            "`cmd >/dev/null 2>&1 &`)",
        )

    @staticmethod
    def _kill(process: subprocess.Popen[bytes], readers: list[threading.Thread]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=KILL_GRACE_SECONDS)
        kill_group(process.pid, signal.SIGKILL)
        process.wait()
        for reader in readers:
            reader.join(KILL_GRACE_SECONDS)


def _shebang_has_cr(path: Path) -> bool:
    """Whether the script's `#!` line ends with a carriage return (`#!/usr/bin/env bash\r` starts env, which fails)."""
    with contextlib.suppress(OSError), path.open("rb") as stream:
        first_line = stream.readline()
        return first_line.startswith(b"#!") and first_line.endswith(b"\r\n")
    return False


def _cause(path: Path, exc: OSError) -> str:
    """Why exec failed although the script exists: its `#!` interpreter, CRLF line endings above all."""
    if exc.errno != errno.ENOENT or not path.is_file():
        return ""
    with path.open("rb") as stream:
        first_line = stream.readline()
    if not first_line.startswith(b"#!"):
        return ""
    interpreter = first_line[2:].lstrip(b" \t").rstrip(b"\n").split(b" ")[0].decode("utf-8", "replace")
    if interpreter.endswith("\r"):
        return f" (interpreter {interpreter!r} not found: CRLF line endings; convert the script to LF)"
    return f" (interpreter {interpreter!r} not found)"
