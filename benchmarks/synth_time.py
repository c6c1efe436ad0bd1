#!/usr/bin/env python3
"""How long `cdk synth` takes (the pinned CLI, the whole app, cdk-nag included): median of N runs.

Usage: python benchmarks/synth_time.py [--runs N]   (via `make bench`, or with node_modules/.bin on PATH)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="number of synth runs (default 5)")
    args = parser.parse_args(argv)
    env = {**os.environ, "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1")}
    env["PATH"] = f"{REPO / 'node_modules' / '.bin'}:{Path(sys.executable).parent}:{env['PATH']}"
    seconds = []
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        subprocess.run(["cdk", "synth", "--quiet", "--output", str(REPO / "cdk.out")], cwd=REPO, env=env, check=True)
        seconds.append(time.perf_counter() - started)
        print(f"run {run}: {seconds[-1]:.2f} s", flush=True)
    print(
        f"cdk synth: median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s, "
        f"max {max(seconds):.2f} s over {len(seconds)} runs (max/min {max(seconds) / min(seconds):.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
