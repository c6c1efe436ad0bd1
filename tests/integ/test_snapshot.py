"""The integration stack synthesizes offline, without credentials or a network, and its committed snapshot is current.

This is the check integ-runner runs by default (synthesize, compare with `<test>.snapshot/`), done by
`integ/snapshot.py` with the project's pinned CLI (integ/README.md says why). When it fails because the stack
changed on purpose, regenerate with `make integ-snapshot` and commit `integ/integ_blue_green.py.snapshot/`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from integ import snapshot


def network_isolation() -> list[str]:
    """`unshare -n` when this machine allows it (CI runs as root): proof that nothing reaches the network."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    return []


@pytest.mark.slow
def test_the_integration_stack_synthesizes_offline_and_matches_its_committed_snapshot():
    run = subprocess.run(
        [*network_isolation(), sys.executable, str(snapshot.INTEG_DIR / "snapshot.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=280,
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


def test_the_snapshot_keeps_the_templates_and_the_test_manifest_only():
    names = sorted(path.name for path in snapshot.SNAPSHOT_DIR.iterdir())

    assert names == ["BlueGreenInteg.template.json", "BlueGreenIntegAssertions.template.json", "integ.json"]


def test_the_offline_environment_carries_no_credentials_and_no_cli_network_features():
    env = snapshot.offline_env(
        {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_PROFILE": "prod", "CDK_DEFAULT_ACCOUNT": "1", "PATH": "/bin"}
    )

    assert not {"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "CDK_DEFAULT_ACCOUNT"} & set(env)
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["CDK_DISABLE_CLI_TELEMETRY"] == "true"
    assert env["CDK_INTEG_REGION"] == "test-region"


def test_asset_hashes_do_not_count_as_a_change():
    before = '{"S3Key": "' + "a" * 64 + '.zip"}'
    after = '{"S3Key": "' + "b" * 64 + '.zip"}'

    assert snapshot.differences({"t.json": snapshot.normalize(before)}, {"t.json": snapshot.normalize(after)}) == []


def test_a_template_change_is_reported_as_a_diff():
    diff = snapshot.differences({"t.json": snapshot.normalize('{"A": 1}')}, {"t.json": snapshot.normalize('{"A": 2}')})

    assert any(line.startswith("+") and "2" in line for line in diff)


def test_the_assertions_synthesis_time_salt_does_not_count_as_a_change():
    before, after = '{"salt": "1796017137471"}', '{"salt": "1796017211081"}'

    assert snapshot.differences({"t.json": snapshot.normalize(before)}, {"t.json": snapshot.normalize(after)}) == []
