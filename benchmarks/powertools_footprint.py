#!/usr/bin/env python3
"""What Powertools for AWS Lambda (Python) would cost the three functions: asset size and handler import time.

For each function package under `lambdas/` (drain, join, deployment_group) it prints
- the asset as deployed today: the package alone, zipped the way `cdk synth` stages it (bytes, deflate);
- the asset with Powertools bundled into it (the package plus `aws-lambda-powertools` and its two dependencies,
  installed by pip into a temporary directory), and the ratio;
- the import time of the handler module in a fresh interpreter (`python -X importtime`, the top-level import's
  cumulative microseconds, median of N processes), today and with Powertools' Logger and Metrics imported beside it
  (what a handler using them would import), and the ratio.

A layer instead of bundling leaves the asset as it is but adds the same import time (the layer is on `sys.path`), and
its ARN is region-specific (docs/decisions.md F79). Speed figures only; nothing here asserts.

Usage: python benchmarks/powertools_footprint.py [--runs N] [--powertools-version X.Y.Z]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAMBDAS = REPO / "lambdas"
PACKAGES = ("drain", "join", "deployment_group")
# What a handler would import to log and publish metrics with Powertools.
POWERTOOLS_IMPORT = "import aws_lambda_powertools.logging, aws_lambda_powertools.metrics"
SKIPPED = ("__pycache__", ".pyc", ".dist-info/RECORD")


def zipped_size(roots: list[tuple[Path, str]]) -> int:
    """Bytes of a deflate zip holding every file under each (directory, prefix in the zip), caches left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, prefix in roots:
            for path in sorted(root.rglob("*")):
                if path.is_file() and not any(part in str(path) for part in SKIPPED):
                    archive.write(path, f"{prefix}{path.relative_to(root)}")
    return len(buffer.getvalue())


def import_microseconds(statement: str, pythonpath: str) -> dict[str, int]:
    """Cumulative microseconds `python -X importtime` reports per top-level package imported by `statement`.

    Top-level entries only (no leading spaces): each one's cumulative time includes everything it pulled in that
    was not imported before, so a later import is charged only for what it adds.
    """
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        env={**os.environ, "PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, int] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( ?)(\S.*)$", line)
        if match and len(match.group(2)) <= 1:
            root = match.group(3).split(".")[0]
            totals[root] = totals.get(root, 0) + int(match.group(1))
    return totals


def install_powertools(version: str, target: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            f"aws-lambda-powertools=={version}",
        ],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per import figure (default 10)")
    parser.add_argument("--powertools-version", default="3.37.0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        powertools = Path(scratch) / "powertools"
        install_powertools(args.powertools_version, powertools)
        bundled = zipped_size([(powertools, "")])
        print(f"aws-lambda-powertools {args.powertools_version} + jmespath + typing_extensions, zipped: {bundled} B")
        print(f"python {sys.version.split()[0]}, {args.runs} fresh interpreters per import figure (median)")
        print("package | asset B | +powertools B | size x | handler import ms | +powertools ms | import x")
        for package in PACKAGES:
            today = zipped_size([(LAMBDAS / package, f"{package}/")])
            with_powertools = zipped_size([(LAMBDAS / package, f"{package}/"), (powertools, "")])
            # Both figures from the same fresh interpreters, the handler first (as Lambda's init imports it), so the
            # machine's load shifts them together; Powertools is charged only for what the handler did not import.
            runs = [
                import_microseconds(
                    f"import {package}.handler; {POWERTOOLS_IMPORT}", os.pathsep.join([str(LAMBDAS), str(powertools)])
                )
                for _ in range(args.runs)
            ]
            handler = statistics.median(run[package] for run in runs)
            added = statistics.median(run["aws_lambda_powertools"] for run in runs)
            ratio = statistics.median((run[package] + run["aws_lambda_powertools"]) / run[package] for run in runs)
            print(
                f"{package} | {today} | {with_powertools} | {with_powertools / today:.1f} | {handler / 1000:.1f} | "
                f"{added / 1000:.1f} | {ratio:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
