"""`deploy.py bundle` interrupted or fed a file swapped since the scan: exit 4 or 2 with one message, never a half zip,
a leftover temporary file, a traceback or a hang."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from release.bundle import write_bundle
from release.errors import InputError
from release.tree import scan_revision

REPO = Path(__file__).resolve().parents[2]
APPSPEC = "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /opt/app\n"


@pytest.fixture(scope="module")
def big_revision(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A revision of about 160 MB of text: deflating it takes the writer about a second per core, long enough to
    interrupt it while its temporary file exists."""
    root = tmp_path_factory.mktemp("big")
    (root / "app").mkdir()
    (root / "appspec.yml").write_text(APPSPEC)
    rng = random.Random(7)
    words = ["".join(rng.choices("abcdefghij", k=rng.randint(2, 9))) for _ in range(5000)]
    # Repeated beyond deflate's 32 KB window, so every copy costs as much to compress as the first.
    block = " ".join(rng.choices(words, k=200_000)).encode()
    for number in range(40):
        (root / f"app/part{number:02}.txt").write_bytes(block * 3)
    return root


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_while_the_zip_is_written_cancels_with_exit_4_and_leaves_nothing(
    big_revision: Path, tmp_path: Path, sent: signal.Signals
) -> None:
    # Given `deploy.py bundle` writing the zip of a big revision (its temporary file exists)
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "scripts/deploy.py"), "bundle", "--app-dir", str(big_revision)]
    process = subprocess.Popen(
        [*command, "--bundle-dir", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not list(out.glob(".bundle-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the bundle was written before it could be interrupted"
    # When the signal arrives
    process.send_signal(sent)
    stdout, stderr = process.communicate(timeout=60)
    # Then it ends with exit 4 and one message (no traceback), and nothing is left in the bundle directory
    assert process.returncode == 4, stderr
    assert stderr.startswith(f"bundle cancelled ({sent.name}); nothing was written to the bundle directory\n")
    assert "Traceback" not in stderr
    assert stdout == ""
    assert list(out.iterdir()) == []


def test_a_file_swapped_for_a_fifo_after_the_scan_is_refused_not_waited_on(tmp_path: Path) -> None:
    # Given a scanned revision whose file is then replaced by a FIFO (no writer will ever open it)
    root = tmp_path / "revision"
    (root / "app").mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    (root / "app/a.txt").write_text("a\n")
    tree = scan_revision(root)
    (root / "app/a.txt").unlink()
    os.mkfifo(root / "app/a.txt")
    out = tmp_path / "out"
    # When the zip is written, Then the file is refused at once (exit 2), and no temporary file is left
    with pytest.raises(InputError, match=r"^app/a\.txt: cannot be read \(not a regular file\)$") as caught:
        write_bundle(tree, out)
    assert caught.value.exit_code == 2
    assert list(out.iterdir()) == []


def test_a_large_file_swapped_for_a_fifo_after_the_scan_is_refused_not_waited_on(tmp_path: Path) -> None:
    # Given a large incompressible file (copied from the source by the writer), swapped for a FIFO after the scan
    root = tmp_path / "revision"
    (root / "app").mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    (root / "app/b.gz").write_bytes(random.Random(1).randbytes(17 * 1024 * 1024))
    tree = scan_revision(root)
    (root / "app/b.gz").unlink()
    os.mkfifo(root / "app/b.gz")
    # When the zip is written, Then it is refused at once
    with pytest.raises(InputError, match=r"^app/b\.gz: cannot be read \(not a regular file\)$"):
        write_bundle(tree, tmp_path / "out")
