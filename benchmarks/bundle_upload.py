"""Benchmark: bundle + upload of a large revision, against `aws deploy push` on the same input and the same endpoint.

Generates a revision (default 200 MB over 10 000 files, half of the bytes incompressible), starts a local S3 stand-in
(`moto_server`, which needs `moto[server]`), then for each run measures:

- release tool, cold: `scan_revision` (validate + content hash) and `publish_revision` (HeadObject misses, then
  compression on every core streamed into the multipart upload) to a key not seen before;
- release tool, by part (to see where the cold path's time goes): `scan_revision` alone (listing, validation,
  reading and hashing) and the zip writer alone into a sink that discards it (reading again, deflate, zip records);
- release tool, unchanged: `scan_revision` + `publish_revision` on an unchanged revision (hash, HeadObject: nothing
  compressed, nothing uploaded);
- the seed's bundler (`seed_bundle.py`, the tool before issue 13: zipfile at level 6, keyed by the zip's sha256),
  cold and unchanged, so that "today" and "after" are measured in the same run;
- AWS CLI v1 `aws deploy push` on the same directory, same endpoint (through AWS_ENDPOINT_URL).

`aws deploy push` zips, uploads (sequential 6 MiB parts) and then calls CodeDeploy RegisterApplicationRevision, which
moto does not implement: the push is timed up to that failing call (one request, retries disabled) and its object is
checked in S3, so its figure is zip + upload, like ours.

Usage: `.venv/bin/python benchmarks/bundle_upload.py [--size-mb 200] [--files 10000] [--runs 3] [--aws .venv/bin/aws]`.
Prints medians over the runs, throughput in MB/s of revision content, and ratios (of the medians, and the median of
each run's own ratio), then the CPU seconds of each measurement on the client (this process and the finished `aws`
process) and in moto_server (what receiving the upload cost): on a shared machine the wall clock mostly measures the
neighbours, the CPU seconds say where the work went. The last line adds moto_server's CPU to each side: with no core
to spare, the wall-clock ratio tends to that one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
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
from release.tree import scan_revision
from release.upload import DEFAULT_TRANSFER_CONFIG, check_bucket, publish_revision
from release.zipwriter import DEFLATE_LIBRARY, packed_members, write_zip
from seed_bundle import SeedBundle, build_seed_bundle

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
    SERVER.append(process.pid)
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


CPU: dict[str, list[float]] = {}
SERVER_CPU: dict[str, list[float]] = {}
SERVER: list[int] = []  # moto_server's process id


def server_cpu_seconds() -> float:
    """CPU seconds moto_server has used so far (Linux /proc; 0 elsewhere): what receiving the upload costs."""
    try:
        fields = Path(f"/proc/{SERVER[-1]}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # utime and stime are the 14th and 15th fields of the whole line, in clock ticks (proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (`aws deploy push`; not moto_server)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action: Callable[[], Any], name: str = "") -> tuple[float, Any]:
    """Run `action`; return its duration in seconds and its result; record its CPU seconds under `name`."""
    cpu, server = cpu_seconds(), server_cpu_seconds()
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    if name:
        CPU.setdefault(name, []).append(cpu_seconds() - cpu)
        SERVER_CPU.setdefault(name, []).append(server_cpu_seconds() - server)
    return seconds, result


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

        results: dict[str, list[float]] = {name: [] for name in MEASURES}
        sizes: dict[str, int] = {}
        # The release checks the bucket once in its pre-flight, before any upload; so does the benchmark.
        check_bucket(s3, BUCKET)
        for run in range(options.runs):
            out = work / f"out{run}"
            for name, action in measures(s3, root, out, f"run{run}").items():
                seconds, size = timed(action, name)
                results[name].append(seconds)
                if size:
                    sizes[name] = size
            key = f"push/run{run}.zip"
            cpu, server = cpu_seconds(), server_cpu_seconds()
            seconds, code, error = aws_push(options, endpoint, root, key)
            CPU.setdefault("push", []).append(cpu_seconds() - cpu)
            SERVER_CPU.setdefault("push", []).append(server_cpu_seconds() - server)
            sizes["push"] = s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
            results["push"].append(seconds)
            results["startup"].append(aws_startup(options))
            if run == 0:
                print(f"aws deploy push exit {code}: {error}")
            print(f"run {run + 1}: " + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in results.items()))
            shutil.rmtree(out, ignore_errors=True)
            empty_bucket(s3)
    report(options, content, results, sizes)
    return 0


MEASURES = ("stream", "unchanged", "scan", "zip", "seed", "seed-unchanged", "push", "startup")


def measures(s3: Any, root: Path, out: Path, run: str) -> dict[str, Callable[[], int]]:
    """The release tool's measurements of one run, in order; each returns the size of what it uploaded (0: none)."""

    def stream() -> int:
        revision = publish_revision(s3, scan_revision(root), bucket=BUCKET, application=APPLICATION, prefix=run)
        assert revision.uploaded and revision.size
        return revision.size

    def unchanged() -> int:
        revision = publish_revision(s3, scan_revision(root), bucket=BUCKET, application=APPLICATION, prefix=run)
        assert not revision.uploaded
        return 0

    scanned: list[Any] = []

    def scan() -> int:
        scanned.append(scan_revision(root))
        return 0

    def zip_only() -> int:
        tree = scanned[0]
        return write_zip(tree.root, packed_members(tree.root, tree.files), lambda chunk: None)

    def seed() -> int:
        bundle = build_seed_bundle(root, out / "seed")
        assert seed_upload(s3, bundle, f"{run}-seed")
        return bundle.size

    def seed_unchanged() -> int:
        assert not seed_upload(s3, build_seed_bundle(root, out / "seed"), f"{run}-seed")
        return 0

    return {
        "stream": stream,
        "unchanged": unchanged,
        "scan": scan,
        "zip": zip_only,
        "seed": seed,
        "seed-unchanged": seed_unchanged,
    }


def seed_upload(s3: Any, bundle: SeedBundle, prefix: str) -> bool:
    """The seed's upload: HeadObject on `<prefix>/<zip sha256>.zip`, upload_file when missing; True if uploaded."""
    key = f"{prefix}/{bundle.sha256}.zip"
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
        return False
    except s3.exceptions.ClientError:
        s3.upload_file(str(bundle.path), BUCKET, key, Config=DEFAULT_TRANSFER_CONFIG)
        s3.head_object(Bucket=BUCKET, Key=key)
        return True


def report(options: Options, content: int, results: dict[str, list[float]], sizes: dict[str, int]) -> None:
    """Print the medians, throughputs and ratios."""
    median = {name: statistics.median(values) for name, values in results.items()}
    print(f"\nmedians over {options.runs} runs ({content / MB:.1f} MB of content, {options.files} files)")
    print(f"deflate: {DEFLATE_LIBRARY}; {len(os.sched_getaffinity(0))} cores; load average {os.getloadavg()[0]:.1f}")
    rows = [
        ("release tool: scan + streamed compress/upload (cold)", median["stream"]),
        ("release tool: unchanged (scan + HeadObject)", median["unchanged"]),
        ("  part: scan_revision (list, validate, read, hash)", median["scan"]),
        ("  part: zip writer into a sink (read, deflate, records)", median["zip"]),
        ("seed bundler: bundle + upload (cold)", median["seed"]),
        ("seed bundler: unchanged (re-zip + HeadObject)", median["seed-unchanged"]),
        ("aws deploy push (zip + sequential upload)", median["push"]),
    ]
    for label, seconds in rows:
        print(f"  {label:<56} {seconds:7.2f} s  {content / MB / seconds:7.1f} MB/s")
    print(f"  {'  of which AWS CLI start-up (aws --version)':<56} {median['startup']:7.2f} s")
    print(
        "  object size: streamed {stream:.1f} MB, seed {seed:.1f} MB, aws deploy push {push:.1f} MB".format(
            **{name: sizes.get(name, 0) / MB for name in ("stream", "seed", "push")}
        )
    )
    push = median["push"]
    print(f"  ratio aws deploy push / release tool, cold (streamed):      {push / median['stream']:.2f}x")
    print(f"  ratio aws deploy push / release tool, unchanged:            {push / median['unchanged']:.2f}x")
    # Each run measures both sides within about a minute; the median of those paired ratios is less exposed to a
    # neighbour's load changing between runs than the ratio of two medians taken from different runs.
    paired = {
        name: statistics.median(p / m for p, m in zip(results["push"], results[name], strict=True))
        for name in ("stream", "unchanged")
    }
    print(f"  median of per-run ratios: cold (streamed) {paired['stream']:.2f}x, unchanged {paired['unchanged']:.2f}x")
    print(f"  ratio aws deploy push / seed bundler, cold:                 {push / median['seed']:.2f}x")
    print(f"  ratio aws deploy push / seed bundler, unchanged:            {push / median['seed-unchanged']:.2f}x")
    # CPU seconds of the client side (this process, and the finished `aws` process), which a busy machine disturbs
    # less than the wall clock; moto_server's own CPU is in neither.
    cpu = {name: statistics.median(values) for name, values in CPU.items()}
    print("  client CPU seconds (medians): " + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items()))
    server = {name: statistics.median(values) for name, values in SERVER_CPU.items()}
    print("  moto_server CPU seconds (medians): " + ", ".join(f"{name} {value:.2f}" for name, value in server.items()))
    print(
        f"  CPU ratio aws deploy push / release tool: cold (streamed) {cpu['push'] / cpu['stream']:.2f}x, "
        f"unchanged {cpu['push'] / cpu['unchanged']:.2f}x, seed cold {cpu['push'] / cpu['seed']:.2f}x"
    )
    # On a machine with no core to spare nothing overlaps: the wall-clock ratio then tends to the ratio of all the CPU
    # each side costs, moto_server's receiving included.
    total = {name: cpu[name] + server[name] for name in ("push", "stream", "unchanged")}
    print(
        f"  CPU ratio with moto_server's share (what a saturated machine allows): cold (streamed) "
        f"{total['push'] / total['stream']:.2f}x, unchanged {total['push'] / total['unchanged']:.2f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
