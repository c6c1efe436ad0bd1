"""Finding and stopping every process a rehearsal started, as the agent and systemd do."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

# The agent sends SIGTERM to a timed-out script's process group; the rehearsal follows with SIGKILL after this grace.
KILL_GRACE_SECONDS = 2.0


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
