"""Finding, stopping and reaping every process a rehearsal started, as the agent and systemd do.

A hook that daemonizes (`nohup cmd &`, a double fork, `setsid`) leaves a process whose parent exits; the kernel gives
it to the nearest *child subreaper* among its ancestors, else to PID 1. In a container whose PID 1 does not reap
(common on CI runners) such processes stay as zombies once they exit. So on Linux the rehearsal makes itself the
child subreaper (prctl PR_SET_CHILD_SUBREAPER) for as long as it runs: it adopts everything its hooks leave behind,
finds it by parentage even when it changed session and environment, and reaps it. Elsewhere it finds them by process
group and REHEARSAL_ID only, and says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# The agent sends SIGTERM to a timed-out script's process group; the rehearsal follows with SIGKILL after this grace.
KILL_GRACE_SECONDS = 2.0


# prctl(2) option: "make the calling process a child subreaper" (linux/prctl.h).
PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper(enabled: bool) -> str | None:
    """Make this process the child subreaper of its descendants (or stop being it); None on success, else why not."""
    if not sys.platform.startswith("linux"):
        return f"not supported on {sys.platform} (Linux only)"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) != 0:
            return f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}"
    except (OSError, AttributeError) as exc:
        return f"prctl is not available: {exc}"
    return None


def _process_table() -> Iterator[tuple[int, int, int, str, bytes]]:
    """(pid, parent pid, process group, state, environ) of every process this user may read, from /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            environ = b""  # another user's process, or a zombie
        # The command name (field 2) may contain spaces and parentheses: split after its last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        yield pid, int(fields[1]), int(fields[2]), fields[0], environ


class ProcessTracker:
    """Finds every process a rehearsal started: by the process groups of its scripts and by the REHEARSAL_ID token
    in the environment, which a process keeps even after `setsid` or a double fork."""

    def __init__(self, token: str) -> None:
        """Track processes whose environment holds REHEARSAL_ID=`token`, and the groups given to `add_group`."""
        self.token = token
        self._marker = f"REHEARSAL_ID={token}".encode()
        self.groups: set[int] = set()
        # Set while this process is the child subreaper: a new child it did not start itself was left by a hook.
        self.subreaper = False
        # Children this process had before the rehearsal (a test runner's helpers, such as the jsii kernel of an
        # in-process CDK app): never taken for a hook's orphan, so never signalled.
        self.preexisting: frozenset[int] = frozenset()
        self.adopted: set[int] = set()
        self.reaped = 0

    def start_adopting(self) -> None:
        """Treat new direct children as a hook's orphans from now on (call once this process is the subreaper)."""
        me = os.getpid()
        self.preexisting = frozenset(pid for pid, ppid, _pgid, _state, _environ in _process_table() if ppid == me)
        self.subreaper = True

    def add_group(self, pgid: int) -> None:
        """Remember a process group created for a script."""
        self.groups.add(pgid)

    def alive(self) -> list[int]:
        """Pids of the tracked processes still running (zombies excluded: they run nothing), sorted."""
        me = os.getpid()
        found = []
        for pid, ppid, pgid, state, environ in _process_table():
            if pid == me or state in ("Z", "X"):
                continue
            adopted = self.subreaper and ppid == me and pid not in self.groups and pid not in self.preexisting
            if adopted:
                self.adopted.add(pid)
            if adopted or pgid in self.groups or self._marker in environ.split(b"\0"):
                found.append(pid)
        self.reap()
        return sorted(found)

    def reap(self) -> int:
        """Reap the exited processes a hook left to this process (as child subreaper); return how many."""
        if not self.subreaper:
            return 0
        me = os.getpid()
        count = 0
        for pid, ppid, pgid, state, _environ in _process_table():
            # A script's own process is waited for by its Popen; only orphans of a hook are reaped here.
            ours = pid in self.adopted or (pgid in self.groups and pid not in self.groups)
            if ppid == me and state == "Z" and ours:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                    count += 1
        self.reaped += count
        return count

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

    def terminate_all(self, grace: float = KILL_GRACE_SECONDS) -> list[int]:
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


def kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
