"""The revision's content hash: what it covers (paths, modes, bytes, the bundle format) and what it ignores."""

from __future__ import annotations

import hashlib
import os
import shutil
import zlib
from pathlib import Path

import pytest
from release import tree as tree_module
from release.bundle import write_bundle
from release.errors import AppSpecError
from release.tree import scan_revision

from tests.release.support import refuse_opening

APPSPEC = "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: start.sh\n"


@pytest.fixture
def revision(tmp_path: Path) -> Path:
    """A minimal valid revision."""
    root = tmp_path / "revision"
    (root / "app").mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    (root / "start.sh").write_text("#!/bin/sh\n")
    (root / "start.sh").chmod(0o755)
    (root / "app" / "data.txt").write_text("payload\n" * 100)
    return root


def test_the_content_hash_names_the_zip_file(revision: Path, tmp_path: Path) -> None:
    tree = scan_revision(revision)
    assert write_bundle(tree, tmp_path / "out").path.name == f"{tree.content_sha256}.zip"


def test_a_copy_with_other_times_has_the_same_content_hash(revision: Path, tmp_path: Path) -> None:
    # Given
    copy = tmp_path / "copy"
    shutil.copytree(revision, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    # Then
    assert scan_revision(copy).content_sha256 == scan_revision(revision).content_sha256


def test_changed_bytes_change_the_content_hash(revision: Path) -> None:
    before = scan_revision(revision).content_sha256
    (revision / "app" / "data.txt").write_text("other\n")
    assert scan_revision(revision).content_sha256 != before


def test_an_executable_bit_changes_the_content_hash(revision: Path) -> None:
    before = scan_revision(revision).content_sha256
    (revision / "app" / "data.txt").chmod(0o755)
    assert scan_revision(revision).content_sha256 != before


def test_a_renamed_file_changes_the_content_hash(revision: Path) -> None:
    before = scan_revision(revision).content_sha256
    (revision / "app" / "data.txt").rename(revision / "app" / "data2.txt")
    assert scan_revision(revision).content_sha256 != before


def test_another_bundle_format_gives_another_key(revision: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given
    before = scan_revision(revision).content_sha256
    # When the zip's layout rules change and the format is bumped
    monkeypatch.setattr(tree_module, "BUNDLE_FORMAT", "bluegreen-bundle/test")
    # Then
    assert scan_revision(revision).content_sha256 != before


def test_the_content_hash_does_not_depend_on_the_number_of_threads(revision: Path) -> None:
    # Given files small enough for the scanning thread and large enough for the pool's
    for index in range(3):
        (revision / "app" / f"large{index}.bin").write_bytes(os.urandom(300_000 + index))
    # Then
    assert scan_revision(revision, workers=1).content_sha256 == scan_revision(revision, workers=4).content_sha256


def test_large_and_small_files_are_hashed_alike(revision: Path) -> None:
    # Given the same bytes in a small file and in a large one
    data = os.urandom(400_000)
    (revision / "app" / "large.bin").write_bytes(data)
    (revision / "app" / "small.bin").write_bytes(data[:1000])
    # When
    files = {file.name: file for file in scan_revision(revision).files}
    # Then each file's size, crc32 and sha256 are those of its bytes
    for name, content in (("app/large.bin", data), ("app/small.bin", data[:1000])):
        assert (files[name].size, files[name].crc32, files[name].sha256) == (
            len(content),
            zlib.crc32(content),
            hashlib.sha256(content).hexdigest(),
        )


def test_the_tree_lists_sizes_and_normalised_modes(revision: Path) -> None:
    files = {file.name: (file.size, oct(file.mode)) for file in scan_revision(revision).files}
    assert files == {"app/data.txt": (800, "0o644"), "appspec.yml": (len(APPSPEC), "0o644"), "start.sh": (10, "0o755")}


def test_an_invalid_appspec_is_refused(revision: Path) -> None:
    (revision / "appspec.yml").write_text(APPSPEC.replace("linux", "windows"))
    with pytest.raises(AppSpecError):
        scan_revision(revision)


def test_every_unreadable_file_is_named_in_one_refusal(revision: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two files that cannot be opened (simulated: tests may run as root, where chmod does not lock a file)
    (revision / "app" / "other.txt").write_text("x\n")
    refuse_opening(monkeypatch, "app/data.txt", "app/other.txt")
    # When
    with pytest.raises(AppSpecError) as caught:
        scan_revision(revision, workers=2)
    # Then one exit-2 error lists both, each with its path and reason
    assert [str(problem) for problem in caught.value.problems] == [
        "app/data.txt: cannot be read (Permission denied)",
        "app/other.txt: cannot be read (Permission denied)",
    ]
    assert caught.value.exit_code == 2
