"""The release tool's bundler as it was before issue 13 (commit bcdacf0), kept to compare with in the same run.

Only `benchmarks/bundle_upload.py` uses it. Its docstring follows unchanged.

Build a reproducible zip bundle of a revision directory, validated before it is written.

Same revision content → byte-identical zip → same sha256 → same S3 key, so an unchanged revision is never uploaded
twice. What makes it reproducible:

- entries in sorted order of their POSIX path, files only (no directory entries);
- every timestamp fixed at 1980-01-01 00:00:00, the earliest a zip can hold;
- Unix modes normalised the way git stores them: 0755 when the owner may execute the file, else 0644, so a checkout
  under another umask gives the same bytes while hook scripts stay executable on the instance;
- deflate at zlib's default level (6: most of level 9's ratio at a fraction of its time), except for entries whose
  first 64 KiB do not compress (archives, images, wheels): those are stored, which saves most of the bundling time on
  them and costs nothing in size; the choice depends only on the content, so it stays reproducible;
- no archive comment, no extra fields.

Which files go in is decided by `release.appspec.revision_files` (`.deployignore`, `.git` always excluded, symlink
policy) — the same list the appspec is validated against.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from release.appspec import AppSpec, load_appspec, revision_files

__all__ = ["SeedBundle", "build_seed_bundle"]

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1024 * 1024
_SAMPLE = 64 * 1024
_STORE_ABOVE_RATIO = 0.95  # a sample that deflate shrinks by less than 5 % is already compressed
_UNIX = 3  # ZipInfo.create_system: tells unzip (and the CodeDeploy agent) to apply the mode in external_attr.


@dataclass(frozen=True)
class SeedBundle:
    """A built revision bundle: the zip at `path`, its sha256 (hex) and size in bytes, and the files it holds."""

    path: Path
    sha256: str
    size: int
    file_count: int
    files: tuple[str, ...]
    appspec: AppSpec


def build_seed_bundle(revision_root: Path, out_dir: Path) -> SeedBundle:
    """Validate the revision at `revision_root`, then write its zip bundle into `out_dir` as `<sha256>.zip`.

    The appspec is validated against exactly the files that go into the zip, before the zip is written, so an
    invalid revision never produces a bundle that could be uploaded. Raises `AppSpecError` listing every problem.
    """
    files = revision_files(revision_root)
    appspec = load_appspec(revision_root, included=files)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Write under a temporary name in the same directory, then rename: a crash never leaves a half zip under a
    # content-addressed name.
    handle, temporary = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=out_dir)
    os.close(handle)
    try:
        _write_zip(revision_root, files, Path(temporary))
        digest = sha256_of(Path(temporary))
        path = out_dir / f"{digest}.zip"
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return SeedBundle(
        path=path,
        sha256=digest,
        size=path.stat().st_size,
        file_count=len(files),
        files=files,
        appspec=appspec,
    )


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_zip(revision_root: Path, files: tuple[str, ...], target: Path) -> None:
    """Write `files` (already sorted) from `revision_root` into a deterministic zip at `target`."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name in files:
            source = revision_root / name
            # stat() follows symlinks: revision_files only lets through links to regular files inside the revision,
            # and those are stored as the file they point to.
            status = source.stat()
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = _UNIX
            info.compress_type = _compress_type(source)
            mode = 0o755 if status.st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.file_size = status.st_size
            # Zip64 headers must be chosen before the data is streamed; only needed past 2 GiB.
            with (
                source.open("rb") as reader,
                archive.open(info, "w", force_zip64=status.st_size >= zipfile.ZIP64_LIMIT) as writer,
            ):
                while chunk := reader.read(_CHUNK):
                    writer.write(chunk)


def _compress_type(source: Path) -> int:
    """ZIP_STORED when a sample of the file does not compress, else ZIP_DEFLATED."""
    with source.open("rb") as reader:
        sample = reader.read(_SAMPLE)
    if len(sample) < _SAMPLE:
        return zipfile.ZIP_DEFLATED  # small files cost little to deflate whatever they hold
    # Level 1 is enough to tell random-looking bytes from compressible ones, at a fraction of level 6's cost.
    ratio = len(zlib.compress(sample, 1)) / len(sample)
    return zipfile.ZIP_STORED if ratio > _STORE_ABOVE_RATIO else zipfile.ZIP_DEFLATED
