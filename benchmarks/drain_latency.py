"""Benchmark of the drain Lambda: drain-detection latency and cold import time. Prints numbers; not a test.

1. Latency: a simulated instance holds connections until a known moment, then has none. The decision loop runs on
   real time with a small poll interval, and we measure the delay between that moment and CompleteLifecycleAction.
   Target: at most one poll interval. The fake adapter's reads take `--read-latency` seconds, standing in for the
   SSM round trip (in AWS that is ~1 s or more, which adds to the delay in the same way).
2. Cold import: median wall time of `import drain.handler` in fresh interpreters (what a cold start pays, boto3
   included, before the first event).

Usage (`make bench` runs it so):
    PYTHONPATH=lambdas .venv/bin/python benchmarks/drain_latency.py [--runs 15] [--poll 0.2] [--read-latency 0.02]
    [--imports 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# The drain Lambda's package sits in lambdas/ (its asset root), not in an installed distribution: `make bench` runs
# this file with PYTHONPATH=lambdas, as the Lambda runtime puts the asset root on the path.
from drain.decision import DrainSettings, Signal, drain
from drain.event import LifecycleAction

ROOT = Path(__file__).resolve().parent.parent

ACTION = LifecycleAction(group_name="slot-a", hook_name="hook", instance_id="i-1234567890abcdef0")


class SimulatedInstance:
    """DrainPorts for one instance whose connection count drops to zero at `zero_at` (monotonic seconds)."""

    def __init__(self, zero_at: float, read_latency: float) -> None:
        self.zero_at = zero_at
        self.read_latency = read_latency
        self.completed_at: float | None = None

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """Always active."""

    def complete(self, action: LifecycleAction) -> None:
        self.completed_at = time.monotonic()

    def target_states(self, instance_id: str) -> Mapping[int, str]:
        return {8080: "healthy"}

    def deregister(self, instance_id: str, ports: Sequence[int]) -> None:
        """Nothing to do."""

    def connection_count(self, instance_id: str, timeout: float) -> int:
        # The count is taken on the instance at the end of the round trip, like the SSM command's output.
        time.sleep(self.read_latency)
        return 3 if time.monotonic() < self.zero_at else 0


def latency(runs: int, poll: float, read_latency: float) -> list[float]:
    """Delays (s) between the connection count reaching zero and CompleteLifecycleAction, one per run."""
    settings = DrainSettings(app_port=8080, deregistration_delay=30.0, heartbeat_timeout=90.0, poll_interval=poll)
    rng = random.Random(7)  # reproducible spread of phases across runs
    delays = []
    for _ in range(runs):
        # A zero moment at a random phase of the poll cycle, a few polls after the start.
        instance = SimulatedInstance(time.monotonic() + rng.uniform(2 * poll, 4 * poll), read_latency)
        outcome = drain(ACTION, settings, instance, clock=time.monotonic, sleep=time.sleep)
        assert outcome.signal == Signal.CONNECTIONS_DRAINED and instance.completed_at is not None
        delays.append(instance.completed_at - instance.zero_at)
    return delays


def import_times(count: int) -> list[float]:
    """Seconds to import the handler module in a fresh interpreter, one per run."""
    code = "import time; t = time.perf_counter(); import drain.handler; print(time.perf_counter() - t)"
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT / "lambdas", check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(count)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--read-latency", type=float, default=0.02)
    parser.add_argument("--imports", type=int, default=10)
    args = parser.parse_args(argv)

    delays = latency(args.runs, args.poll, args.read_latency)
    ratios = [delay / args.poll for delay in delays]
    print(
        f"drain latency over {args.runs} runs (poll interval {args.poll:.3f} s, read latency {args.read_latency:.3f} s)"
    )
    print(
        f"  median {statistics.median(delays) * 1000:7.1f} ms   ratio to poll interval {statistics.median(ratios):.2f}"
    )
    print(f"  min    {min(delays) * 1000:7.1f} ms   ratio {min(ratios):.2f}")
    print(f"  max    {max(delays) * 1000:7.1f} ms   ratio {max(ratios):.2f}")
    print(f"  stdev  {statistics.stdev(delays) * 1000:7.1f} ms")
    print(f"  runs within one poll interval: {sum(r <= 1.0 for r in ratios)}/{args.runs}")

    imports = import_times(args.imports)
    print(f"cold import of drain.handler over {args.imports} fresh interpreters (boto3 included)")
    print(
        f"  median {statistics.median(imports) * 1000:7.1f} ms   min {min(imports) * 1000:.1f} ms   "
        f"max {max(imports) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
