"""`gate.run_shell`, the pre-promotion check's process: judged by the shell's own exit, its whole group killed after.

Real processes (/bin/sh): what is asserted is the verdict, the output kept and that no process of the check's group
survives; the shell prints its pid, which is also its process group (it runs in a session of its own).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from release import gate

ENV = dict(os.environ)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies, killed and waiting for init to reap them, do not)."""
    for _ in range(50):
        if not any(_running_in(pgid, stat) for stat in Path("/proc").glob("[0-9]*/stat")):
            return False
        time.sleep(0.02)  # SIGKILL is delivered asynchronously
    return True


def _running_in(pgid: int, stat: Path) -> bool:
    try:
        # /proc/<pid>/stat: "pid (comm) state ppid pgrp ...", comm may hold spaces (proc(5)).
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and int(fields[2]) == pgid


def _pgid(output: str) -> int:
    return int(output.splitlines()[0])


def test_a_check_that_exits_0_passes_although_a_background_child_still_holds_its_output() -> None:
    # Given a check that exits 0 and leaves `sleep 8` running with its stdout
    # When it runs with a 5 s timeout
    code, output = gate.run_shell("echo $$; sleep 8 & echo ok; exit 0", ENV, 5)
    # Then it is judged by the shell's exit (0), not timed out, and the background child is gone
    assert code == 0
    assert output.splitlines()[1:] == ["ok"]
    assert not _group_alive(_pgid(output))


def test_a_check_that_times_out_leaves_no_process_of_its_pipeline() -> None:
    # Given a check whose pipeline runs far longer than its timeout
    # When it times out
    code, output = gate.run_shell("echo $$; sleep 111 | cat", ENV, 0.5)
    # Then it counts as timed out and neither the sleep nor the cat survives
    assert code is None
    assert not _group_alive(_pgid(output))


def test_a_stop_request_kills_the_check_before_it_ends() -> None:
    # Given a check that would print "finished" after 15 s, and a stop requested at the fifth look (about 0.5 s in)
    looks: list[None] = []

    def stopped() -> bool:
        looks.append(None)
        return len(looks) >= 5

    # When it runs
    code, output = gate.run_shell("echo $$; sleep 15; echo finished", ENV, 300, stopped)
    # Then it was killed (no exit status, never finished) with its whole group
    assert code is None
    assert "finished" not in output
    assert not _group_alive(_pgid(output))


@pytest.mark.parametrize(("command", "expected"), [("exit 3", 3), ("true", 0)])
def test_the_verdict_is_the_shells_exit_status(command: str, expected: int) -> None:
    assert gate.run_shell(command, ENV, 5) == (expected, "")


def test_only_the_end_of_a_huge_output_is_kept() -> None:
    code, output = gate.run_shell("yes x | head -c 1000000; echo; echo last", ENV, 30)

    assert code == 0
    assert len(output.encode()) == gate.OUTPUT_TAIL_BYTES
    assert output.endswith("\nlast\n")
