#!/usr/bin/env python3
"""The integration test's snapshot: synthesize `integ/integ_blue_green.py` offline and compare it, or update it.

This is integ-runner's default snapshot check (synthesize, compare with `<test>.snapshot/`, ignore asset hashes when
the test says `diffAssets: false`), done with the project's pinned `cdk` CLI: the newest integ-runner release
bundles a toolkit that reads cloud assembly schema 53 at most, while aws-cdk-lib 2.275.0 writes schema 55
(integ/README.md, "Why not integ-runner itself"). The snapshot directory keeps integ-runner's name and layout.

    python integ/snapshot.py check    # exit 0: current; 1: differs (a diff is printed); 2: synthesis failed
    python integ/snapshot.py update   # rewrite the snapshot (then review `git diff` and commit it)

Offline by construction: no credentials are passed (profiles, config files and instance metadata are cleared), the
CLI's notices, version check and telemetry are off, and the app's account stays unresolved so no lookup happens.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

INTEG_DIR = Path(__file__).resolve().parent
ROOT = INTEG_DIR.parent
TEST_APP = INTEG_DIR / "integ_blue_green.py"
SNAPSHOT_DIR = INTEG_DIR / f"{TEST_APP.name}.snapshot"
# What the snapshot keeps: the test manifest and the templates. Asset directories (the Lambda code and
# integ-tests-alpha's 6 MB bundled assertion handler) are left out; their hashes are masked below instead.
KEPT = ("integ.json", "*.template.json")
# Asset hashes (S3 keys, asset paths): compared as "<asset-hash>", like integ-runner with diffAssets: false.
ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# integ-tests-alpha salts every assertion with the synthesis time, so it runs again on each deployment.
ASSERTION_SALT = re.compile(r'"salt":\s*"\d+"')
# Environment variables that could lead the CLI or the SDK to real credentials or a real endpoint.
CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "CDK_DEFAULT_ACCOUNT",
    "CDK_DEFAULT_REGION",
)


def offline_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for an offline synthesis: no credentials, no CLI network features, the snapshot region."""
    env = {key: value for key, value in base.items() if key not in CREDENTIAL_VARS}
    env.update(
        {
            "PATH": os.pathsep.join([str(ROOT / "node_modules" / ".bin"), env.get("PATH", "")]),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1",
            # What integ-runner sets for a snapshot synthesis (runner-base.js, DEFAULT_SYNTH_OPTIONS).
            "CDK_INTEG_ACCOUNT": "12345678",
            "CDK_INTEG_REGION": "test-region",
        }
    )
    return env


def synthesize(outdir: Path) -> None:
    """Run the pinned `cdk synth` on the test app into `outdir`; raise CalledProcessError on failure."""
    command = [
        "cdk",
        "synth",
        "--app",
        f"{sys.executable} -m integ.integ_blue_green",  # -m: the checkout (cwd) is importable
        "--output",
        str(outdir),
        "--quiet",
        "--no-notices",
        "--no-version-reporting",
    ]
    subprocess.run(command, cwd=ROOT, env=offline_env(os.environ), check=True)


def kept_files(directory: Path) -> dict[str, str]:
    """The snapshot's files (name -> text with asset hashes masked), as `KEPT` selects them."""
    files: dict[str, str] = {}
    for pattern in KEPT:
        for path in sorted(directory.glob(pattern)):
            files[path.name] = normalize(path.read_text(encoding="utf-8"))
    return files


def normalize(text: str) -> str:
    """Mask asset hashes and assertion salts, re-indent JSON: a snapshot changes only when the templates do."""
    masked = ASSERTION_SALT.sub('"salt": "<salt>"', ASSET_HASH.sub("<asset-hash>", text))
    return json.dumps(json.loads(masked), indent=1, sort_keys=True) + "\n"


def differences(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """Unified diff lines between two snapshots (empty when they are the same)."""
    lines: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        before, after = expected.get(name, ""), actual.get(name, "")
        if before != after:
            lines.extend(
                difflib.unified_diff(
                    before.splitlines(), after.splitlines(), f"snapshot/{name}", f"synthesized/{name}", lineterm=""
                )
            )
    return lines


def write_snapshot(files: Mapping[str, str], directory: Path = SNAPSHOT_DIR) -> None:
    """Replace the snapshot directory with `files`."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """`check` (0 current, 1 differs, 2 synthesis failed) or `update` (0 written, 2 synthesis failed)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("check", "update"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="integ-snapshot-") as tmp:
        try:
            synthesize(Path(tmp))
        except subprocess.CalledProcessError as exc:
            print(f"integ snapshot: synthesis failed (exit {exc.returncode})", file=sys.stderr)
            return 2
        actual = kept_files(Path(tmp))
    if args.command == "update":
        write_snapshot(actual)
        print(f"integ snapshot: wrote {len(actual)} files to {SNAPSHOT_DIR.relative_to(ROOT)}")
        return 0
    diff = differences(kept_files(SNAPSHOT_DIR), actual)
    if diff:
        print("\n".join(diff))
        print(
            "integ snapshot: the integration stack changed; review the diff, then run `make integ-snapshot` "
            "and commit integ/integ_blue_green.py.snapshot/",
            file=sys.stderr,
        )
        return 1
    print(f"integ snapshot: current ({len(actual)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
