"""Benchmark: bundle + upload of a large revision, against `aws deploy push` on the same input and the same endpoint.

Generates a revision (default 200 MB over 10 000 files, half of the bytes incompressible), starts a local S3 stand-in
(`moto_server`, which needs `moto[server]`), then for each run measures:

- release tool, cold: `build_bundle` (validate + reproducible zip) and `upload_bundle` to a key not seen before;
- release tool, unchanged: the same again on an unchanged revision (bundle, then HeadObject finds it: no upload);
- AWS CLI v1 `aws deploy push` on the same directory, same endpoint (through AWS_ENDPOINT_URL).

`aws deploy push` zips, uploads (sequential 6 MiB parts) and then calls CodeDeploy RegisterApplicationRevision, which
moto does not implement: the push is timed up to that failing call (one request, retries disabled) and its object is
checked in S3, so its figure is zip + upload, like ours.

Usage: `.venv/bin/python benchmarks/bundle_upload.py [--size-mb 200] [--files 10000] [--runs 3]`.
Prints medians over the runs, throughput in MB/s of revision content, and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from release.bundle import build_bundle
from release.upload import check_bucket, upload_bundle

MB = 1_000_000
BUCKET = "bench-artifacts"
APPLICATION = "bench"
REGION = "eu-west-1"
APPSPEC = """\
version: 0.0
os: linux
files:
  - source: /
    destination: /opt/bench
hooks:
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 60
"""


@dataclass
class Options:
    """Command-line options."""

    size_mb: int
    files: int
    runs: int
    incompressible: float
    seed: int
    workdir: Path | None
    aws: str


def parse_args(argv: list[str] | None) -> Options:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200, help="total revision size in MB (default 200)")
    parser.add_argument("--files", type=int, default=10_000, help="number of files (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; medians are reported (default 3)")
    parser.add_argument("--incompressible", type=float, default=0.5, help="fraction of random bytes (default 0.5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated content")
    parser.add_argument("--workdir", type=Path, default=None, help="where to generate (default: a temp dir)")
    parser.add_argument("--aws", default=shutil.which("aws") or "aws", help="the AWS CLI to compare with")
    args = parser.parse_args(argv)
    return Options(
        size_mb=args.size_mb,
        files=args.files,
        runs=args.runs,
        incompressible=args.incompressible,
        seed=args.seed,
        workdir=args.workdir,
        aws=args.aws,
    )


def generate_revision(root: Path, options: Options) -> int:
    """Write a revision of `options.files` files totalling about `options.size_mb` MB; return its byte count."""
    rng = random.Random(options.seed)
    (root / "scripts").mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    start = root / "scripts" / "start.sh"
    start.write_text("#!/bin/sh\nexit 0\n")
    start.chmod(0o755)
    count = max(options.files - 2, 1)
    weights = [rng.uniform(0.2, 1.8) for _ in range(count)]
    scale = options.size_mb * MB / sum(weights)
    words = b"release bundle upload deploy slot blue green instance lifecycle hook drain traffic ".split()
    total = 0
    for index, weight in enumerate(weights):
        size = int(weight * scale)
        random_part = int(size * options.incompressible)
        text = b" ".join(rng.choice(words) for _ in range((size - random_part) // 6 + 1))
        data = rng.randbytes(random_part) + text[: size - random_part]
        path = root / f"d{index % 100:03d}" / f"f{index:05d}.dat"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def free_port() -> int:
    """A TCP port free on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto_server on a free port for the duration; yield its endpoint URL."""
    executable = Path(sys.executable).with_name("moto_server")
    if not executable.exists():
        sys.exit("moto_server is not installed: pip install 'moto[server]'")
    port = free_port()
    process = subprocess.Popen([str(executable), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    sys.exit("moto_server did not start")
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Run `action`; return its duration in seconds and its result."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def empty_bucket(s3: Any) -> None:
    """Delete every object version, so moto's memory stays bounded across runs."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"], VersionId=item["VersionId"])


def aws_push(options: Options, endpoint: str, source: Path, key: str) -> tuple[float, int, str]:
    """Time `aws deploy push`; return its duration, exit code and the last line of its error output."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        # RegisterApplicationRevision is not in moto: fail that one call at once instead of retrying it.
        "AWS_RETRY_MODE": "standard",
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [
        options.aws,
        "deploy",
        "push",
        "--application-name",
        APPLICATION,
        "--s3-location",
        f"s3://{BUCKET}/{key}",
        "--source",
        str(source),
        "--endpoint-url",
        endpoint,
    ]
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    errors = completed.stderr.decode(errors="replace").strip().splitlines()
    return seconds, completed.returncode, errors[-1] if errors else ""


def aws_startup(options: Options) -> float:
    """Time `aws --version`: the CLI's own start-up, part of every push."""
    start = time.perf_counter()
    subprocess.run([options.aws, "--version"], capture_output=True, check=False)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Generate, measure, print."""
    options = parse_args(argv)
    with contextlib.ExitStack() as stack:
        work = options.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        root = work / "revision"
        if root.exists():
            shutil.rmtree(root)
        seconds, content = timed(lambda: generate_revision(root, options))
        print(
            f"revision: {options.files} files, {content / MB:.1f} MB ({options.incompressible:.0%} random), "
            f"generated in {seconds:.1f} s"
        )
        endpoint = stack.enter_context(moto_server())
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench"
        )
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

        results: dict[str, list[float]] = {name: [] for name in ("bundle", "upload", "unchanged", "push", "startup")}
        bundle_size = push_size = 0
        # The release checks the bucket once in its pre-flight, before any upload; so does the benchmark.
        check_bucket(s3, BUCKET)
        for run in range(options.runs):
            out = work / f"out{run}"
            seconds, bundle = timed(lambda out=out: build_bundle(root, out))
            results["bundle"].append(seconds)
            bundle_size = bundle.size
            prefix = f"ours/run{run}"
            seconds, revision = timed(
                lambda bundle=bundle, prefix=prefix: upload_bundle(
                    s3, bundle, bucket=BUCKET, application=APPLICATION, prefix=prefix
                )
            )
            assert revision.uploaded
            results["upload"].append(seconds)
            seconds, again = timed(
                lambda out=out, prefix=prefix: upload_bundle(
                    s3, build_bundle(root, out), bucket=BUCKET, application=APPLICATION, prefix=prefix
                )
            )
            assert not again.uploaded
            results["unchanged"].append(seconds)
            key = f"push/run{run}.zip"
            seconds, code, error = aws_push(options, endpoint, root, key)
            push_size = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
            results["push"].append(seconds)
            results["startup"].append(aws_startup(options))
            if run == 0:
                print(f"aws deploy push exit {code}: {error}")
            print(
                f"run {run + 1}: bundle {results['bundle'][-1]:.2f} s, upload {results['upload'][-1]:.2f} s, "
                f"unchanged {results['unchanged'][-1]:.2f} s, aws deploy push {seconds:.2f} s "
                f"(exit {code}; its object in S3: {push_size / MB:.1f} MB)"
            )
            shutil.rmtree(out)
            empty_bucket(s3)

    median = {name: statistics.median(values) for name, values in results.items()}
    ours = median["bundle"] + median["upload"]
    print(f"\nmedians over {options.runs} runs ({content / MB:.1f} MB of content, {options.files} files)")
    rows = [
        ("release tool: bundle (validate + zip)", median["bundle"]),
        ("release tool: upload (multipart, 8 threads)", median["upload"]),
        ("release tool: bundle + upload", ours),
        ("release tool: unchanged revision (bundle + HeadObject)", median["unchanged"]),
        ("aws deploy push (zip + sequential upload)", median["push"]),
    ]
    for label, seconds in rows:
        print(f"  {label:<56} {seconds:7.2f} s  {content / MB / seconds:7.1f} MB/s")
    print(f"  {'  of which AWS CLI start-up (aws --version)':<56} {median['startup']:7.2f} s")
    print(f"  bundle size: release tool {bundle_size / MB:.1f} MB, aws deploy push {push_size / MB:.1f} MB")
    print(f"  ratio aws deploy push / release tool (bundle + upload): {median['push'] / ours:.2f}x")
    print(f"  ratio aws deploy push / release tool (unchanged):      {median['push'] / median['unchanged']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
