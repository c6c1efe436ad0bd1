"""The zip writer: valid zips for any reader (zip64 included), large files off the heap, changes caught."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from release import zipwriter
from release.errors import InputError
from release.tree import TreeFile, scan_revision
from release.zipwriter import STORED, Packed, ZipReader, packed_members, write_zip

APPSPEC = "version: 0.0\nos: linux\n"


def make_revision(root: Path, files: dict[str, bytes]) -> Path:
    """A revision with an appspec and `files`."""
    root.mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def zip_of(root: Path, *, workers: int = 2) -> bytes:
    """The zip of the revision at `root`, as the writer produces it."""
    tree = scan_revision(root)
    out = io.BytesIO()
    write_zip(root, packed_members(root, tree.files, workers=workers), out.write)
    return out.getvalue()


def test_the_zip_does_not_depend_on_the_number_of_threads(tmp_path: Path) -> None:
    rng = random.Random(5)
    files = {f"d{i % 7}/f{i}.txt": rng.choice([b"abc", b"x" * 5000, rng.randbytes(3000)]) for i in range(300)}
    root = make_revision(tmp_path / "r", files)
    assert zip_of(root, workers=1) == zip_of(root, workers=3)


def test_every_member_reads_back_with_its_content(tmp_path: Path) -> None:
    files = {"a.txt": b"hello\n" * 1000, "b/c.bin": random.Random(1).randbytes(100_000), "empty": b""}
    root = make_revision(tmp_path / "r", files)
    with zipfile.ZipFile(io.BytesIO(zip_of(root))) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in files} == files


@pytest.mark.skipif(shutil.which("unzip") is None, reason="Info-ZIP unzip (what the agent's host uses) is missing")
def test_info_zip_unzip_accepts_the_bundle(tmp_path: Path) -> None:
    root = make_revision(tmp_path / "r", {"a.txt": b"hello\n" * 1000, "b.bin": random.Random(1).randbytes(70_000)})
    (tmp_path / "b.zip").write_bytes(zip_of(root))
    result = subprocess.run(["unzip", "-tq", str(tmp_path / "b.zip")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_non_ascii_name_is_written_as_utf8(tmp_path: Path) -> None:
    root = make_revision(tmp_path / "r", {"café.txt": b"au lait"})
    with zipfile.ZipFile(io.BytesIO(zip_of(root))) as archive:
        info = archive.getinfo("café.txt")
    assert info.flag_bits & 0x800 == 0x800


def test_more_than_65535_entries_get_zip64_end_records() -> None:
    # Given 70 000 empty members (the entry count alone needs zip64)
    members = [Packed(TreeFile(f"f{i:05d}", 0o644, 0, 0, ""), STORED, 0) for i in range(70_000)]
    out = io.BytesIO()
    # When
    write_zip(Path("/nonexistent"), members, out.write)
    # Then
    with zipfile.ZipFile(out) as archive:
        assert len(archive.infolist()) == 70_000


def test_a_large_compressible_file_is_deflated_through_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit below the file's size
    monkeypatch.setattr(zipwriter, "IN_MEMORY_LIMIT", 100_000)
    data = b"the same line again\n" * 20_000
    root = make_revision(tmp_path / "r", {"big.log": data})
    # When
    with zipfile.ZipFile(io.BytesIO(zip_of(root))) as archive:
        info, content = archive.getinfo("big.log"), archive.read("big.log")
    # Then
    assert (info.compress_type, content) == (zipfile.ZIP_DEFLATED, data)


def test_a_large_random_file_is_stored_from_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipwriter, "IN_MEMORY_LIMIT", 100_000)
    data = random.Random(2).randbytes(300_000)
    root = make_revision(tmp_path / "r", {"big.bin": data})
    with zipfile.ZipFile(io.BytesIO(zip_of(root))) as archive:
        assert (archive.getinfo("big.bin").compress_type, archive.read("big.bin")) == (zipfile.ZIP_STORED, data)


def test_a_file_changed_after_the_scan_fails_the_bundle(tmp_path: Path) -> None:
    # Given
    root = make_revision(tmp_path / "r", {"a.txt": b"first\n"})
    tree = scan_revision(root)
    # When the file changes between hashing and compressing
    (root / "a.txt").write_bytes(b"second\n")
    # Then
    with pytest.raises(InputError, match=r"a\.txt: changed while the bundle was being built"):
        write_zip(root, packed_members(root, tree.files), io.BytesIO().write)


def test_the_stream_reader_gives_the_same_bytes_as_the_writer(tmp_path: Path) -> None:
    # Given
    root = make_revision(tmp_path / "r", {f"f{i}.txt": b"line\n" * i for i in range(50)})
    tree = scan_revision(root)
    reader = ZipReader(root, tree.files)
    # When read in odd-sized pieces, as an upload would
    pieces = []
    while piece := reader.read(777):
        pieces.append(piece)
    reader.close()
    # Then
    assert (b"".join(pieces), reader.size) == (zip_of(root), len(zip_of(root)))


def test_members_written_in_batches_give_the_bytes_of_members_written_one_by_one_past_the_zip64_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an offset limit that the zip passes in the middle of a batch of small members
    monkeypatch.setattr(zipwriter, "_LIMIT32", 20_000)
    rng = random.Random(7)
    root = make_revision(tmp_path / "r", {f"f{i:02d}.txt": rng.randbytes(700) + b"text " * 200 for i in range(40)})
    tree = scan_revision(root)
    directory = os.open(root, os.O_RDONLY)
    try:
        one_by_one = [zipwriter.pack(directory, file) for file in tree.files]
    finally:
        os.close(directory)
    batched = list(packed_members(root, tree.files))
    assert any(isinstance(item, zipwriter.Batch) and len(item.entries) > 1 for item in batched)
    # When
    expected, actual = io.BytesIO(), io.BytesIO()
    write_zip(root, one_by_one, expected.write)
    write_zip(root, batched, actual.write)
    # Then
    assert actual.getvalue() == expected.getvalue()


@pytest.mark.parametrize(
    ("name", "method"),
    [("photo.JPG", zipfile.ZIP_STORED), ("x/..gz", zipfile.ZIP_STORED), (".gz", zipfile.ZIP_DEFLATED)],
)
def test_an_already_compressed_extension_is_stored_without_a_probe(tmp_path: Path, name: str, method: int) -> None:
    # Given compressible content under a name with (or, for a dot file, without) a compressed format's extension
    root = make_revision(tmp_path / "r", {name: b"compressible " * 500})
    # Then
    with zipfile.ZipFile(io.BytesIO(zip_of(root))) as archive:
        assert archive.getinfo(name).compress_type == method


def test_a_revision_removed_after_the_scan_fails_the_bundle_as_unreadable_input(tmp_path: Path) -> None:
    # Given
    root = make_revision(tmp_path / "r", {"a.txt": b"first\n"})
    tree = scan_revision(root)
    # When the revision goes away between hashing and compressing
    shutil.rmtree(root)
    # Then
    with pytest.raises(InputError, match=r"cannot be read \(No such file or directory\)"):
        write_zip(root, packed_members(root, tree.files), io.BytesIO().write)


@pytest.mark.parametrize("limit", [100, 0, -1], ids=["write fails", "no temporary file", "flush fails"])
def test_a_temporary_directory_without_room_is_named_instead_of_the_revisions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    # Given a large compressible file, compressed through a temporary file that cannot take it
    monkeypatch.setattr(zipwriter, "IN_MEMORY_LIMIT", 100_000)
    root = make_revision(tmp_path / "r", {"big.log": b"the same line again\n" * 20_000})
    real = zipwriter.tempfile.TemporaryFile

    def full_disk() -> io.BufferedRandom:
        if not limit:
            raise OSError(28, "No space left on device")
        spool = real()
        write = spool.write
        if limit < 0:  # every write fits the buffer; writing it out to the directory fails

            def no_room() -> None:
                raise OSError(28, "No space left on device")

            spool.flush = no_room  # type: ignore[method-assign]
            return spool  # type: ignore[return-value]

        def bounded(data: bytes) -> int:
            if spool.tell() + len(data) > limit:
                raise OSError(28, "No space left on device")
            return write(data)

        spool.write = bounded  # type: ignore[method-assign]
        return spool  # type: ignore[return-value]

    monkeypatch.setattr(zipwriter.tempfile, "TemporaryFile", full_disk)
    # When bundling, then the message blames the temporary directory and says what to do, not the readable input
    with pytest.raises(InputError) as raised:
        zip_of(root)
    assert "big.log: could not be compressed: writing its temporary file in" in raised.value.message
    assert "No space left on device" in raised.value.message and "cannot be read" not in raised.value.message
    assert "TMPDIR" in (raised.value.hint or "")
