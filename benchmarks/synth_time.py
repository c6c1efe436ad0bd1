#!/usr/bin/env python3
"""How long `cdk synth` takes (the pinned CLI, the whole app, cdk-nag included): median of N runs.

Besides wall-clock seconds it reports CPU seconds (user + system of the whole process tree: the CDK CLI, python, the
jsii Node runtime), which a busy shared machine disturbs far less than the wall clock. With `--breakdown` it also times
where the seconds go: the app alone without the CLI (`python app.py` writing the cloud assembly itself), and the app
without its cdk-nag aspect (the checks patched out in that subprocess only; `cdk synth` always runs them).
aws-cdk-lib's built-in CloudFormation validation is off in app.py itself (docs/performance.md), so every mode runs
without it.

Usage: python benchmarks/synth_time.py [--runs N] [--breakdown]   (via `make bench`, or with node_modules/.bin on PATH)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The app with cdk-nag's validation plugin left unregistered, for the breakdown only (`python -c` in the repository:
# the current directory is first on the import path).
WITHOUT_NAG = """
import runpy
import stacks.nag
stacks.nag.add_checks = lambda app: None
runpy.run_path({app!r}, run_name="__main__")
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `command`; return its wall-clock seconds and the CPU seconds of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="number of synth runs (default 5)")
    parser.add_argument("--breakdown", action="store_true", help="also time the app without the CLI and without nag")
    args = parser.parse_args(argv)
    env = {**os.environ, "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1")}
    env["PATH"] = f"{REPO / 'node_modules' / '.bin'}:{Path(sys.executable).parent}:{env['PATH']}"
    direct = {**env, "CDK_DEFAULT_REGION": env["AWS_REGION"], "CDK_OUTDIR": tempfile.mkdtemp(prefix="synth-")}
    app = str(REPO / "app.py")
    synth = ["cdk", "synth", "--quiet", "--output", str(REPO / "cdk.out")]
    modes = {"cdk synth": (synth, env)}
    if args.breakdown:
        modes["python app.py (no CLI)"] = ([sys.executable, app], direct)
        without_nag = WITHOUT_NAG.format(app=app)
        modes["python app.py without cdk-nag"] = ([sys.executable, "-c", without_nag], direct)
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    for run in range(1, args.runs + 1):
        for mode, (command, mode_env) in modes.items():
            results[mode].append(timed(command, mode_env))
        print(f"run {run}: " + ", ".join(f"{m} {r[-1][0]:.2f} s ({r[-1][1]:.2f} s CPU)" for m, r in results.items()))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for mode, values in results.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        print(
            f"{mode}: median {statistics.median(wall):.2f} s, min {min(wall):.2f} s, max {max(wall):.2f} s over "
            f"{len(wall)} runs (max/min {max(wall) / min(wall):.2f}); CPU median {statistics.median(cpu):.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
