"""The revision as a tree of files and one content hash, computed before anything is compressed.

The content hash names the revision: `<prefix>/<content_sha256>.zip` is its key in the artifact bucket. It is the
sha256 of a manifest that starts with `BUNDLE_FORMAT` and lists, in sorted order of POSIX path, every bundled file's
normalised mode, size, sha256 and path. So:

- an unchanged revision is recognised by reading and hashing its files (sha256 with the CPU's SHA extensions, on all
  cores) and one HeadObject: nothing is compressed, nothing written (docs/performance.md, "What the key means");
- the key promises the *extracted content* (paths, modes, bytes), not the zip's bytes: two machines whose deflate
  libraries differ store different zip bytes under the same key, and either object installs the same files. The
  deployment itself is pinned by the object's ETag and version id (release.upload), so it always installs the bytes
  that were uploaded;
- `BUNDLE_FORMAT` covers every layout decision the zip writer makes (entry order, timestamps, mode rule, what is
  stored rather than deflated, the compression level): change any of them and bump it, so that an object written
  under the old rules is never taken for the new one.

Which files go in is decided by `release.appspec.revision_files` (`.deployignore`, `.git` always excluded, symlink
policy), and the appspec is validated against exactly that list (`release.appspec.load_appspec`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from release.appspec import AppSpec, load_appspec, revision_files, unreadable_problem
from release.errors import AppSpecError, Problem

try:  # ISA-L's crc32 is several times faster than zlib's (docs/performance.md); the values are the same.
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - exercised only where isal is not installed
    from zlib import crc32

__all__ = [
    "BUNDLE_FORMAT",
    "RevisionTree",
    "TreeFile",
    "check_readable",
    "content_sha256",
    "normalised_mode",
    "read_chunks",
    "scan_revision",
    "worker_count",
]

# Bump when the zip's layout rules change (see the module docstring). 1 was the zip-hash-keyed bundle.
BUNDLE_FORMAT = "bluegreen-bundle/2"
# Files up to this size are read whole; larger ones in chunks of this size.
READ_CHUNK = 16 * 1024 * 1024
# Files per hashing task: one task per file would spend more time in the thread pool than in sha256 for small files.
_FILES_PER_TASK = 32


@dataclass(frozen=True)
class TreeFile:
    """One bundled file: its POSIX path in the revision, normalised mode (0o755 or 0o644), size, crc32 and sha256."""

    name: str
    mode: int
    size: int
    crc32: int
    sha256: str


@dataclass(frozen=True)
class RevisionTree:
    """A validated revision: its files (sorted), its appspec and its content hash (the bundle's key)."""

    root: Path
    files: tuple[TreeFile, ...]
    appspec: AppSpec
    content_sha256: str

    @property
    def names(self) -> tuple[str, ...]:
        """The bundled paths, in bundle order."""
        return tuple(file.name for file in self.files)

    @property
    def content_bytes(self) -> int:
        """The total size of the bundled files, uncompressed."""
        return sum(file.size for file in self.files)


def worker_count() -> int:
    """The threads to hash and compress with: one per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def scan_revision(revision_root: Path, *, workers: int | None = None) -> RevisionTree:
    """Validate the revision at `revision_root` and hash every file that goes into its bundle.

    Raises `AppSpecError` (exit 2) listing every problem of the appspec, or else every file that cannot be read.
    Reading and hashing run on `workers` threads (default `worker_count()`), alongside the validation: hashlib and
    crc32 release the GIL while they work.
    """
    try:
        names = revision_files(revision_root)
        tasks = [names[start : start + _FILES_PER_TASK] for start in range(0, len(names), _FILES_PER_TASK)]
        pool = ThreadPoolExecutor(max_workers=workers or worker_count(), thread_name_prefix="hash")
        try:
            # The files are hashed while the appspec is validated (hashing releases the GIL, validation holds it); an
            # invalid appspec cancels what has not started, and nothing is written either way.
            hashed = [pool.submit(_hash_files, revision_root, task) for task in tasks]
            appspec = load_appspec(revision_root, included=names)
            results = [item for future in hashed for item in future.result()]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    except OSError as exc:
        # Whatever the walk and the validator look at (a directory that loses its permissions mid-scan, say): exit 2
        # naming the path, never a traceback.
        raise AppSpecError([unreadable_problem(str(exc.filename or revision_root), exc)]) from exc
    _refuse_unreadable([item for item in results if isinstance(item, Problem)])
    files = tuple(item for item in results if isinstance(item, TreeFile))
    return RevisionTree(
        root=revision_root, files=files, appspec=appspec, content_sha256=content_sha256(files, BUNDLE_FORMAT)
    )


def check_readable(revision_root: Path, names: tuple[str, ...]) -> None:
    """Raise `AppSpecError` naming every file of `names` (from `revision_files`) that cannot be opened for reading,
    as `scan_revision` would: `rehearse` runs it before copying, so both refuse the same revision the same way."""
    problems = []
    for name in names:
        try:
            # O_NONBLOCK: revision_files lets only regular files (and links to them) through, but a FIFO swapped in
            # since must not hang the check.
            os.close(os.open(revision_root / name, os.O_RDONLY | os.O_NONBLOCK))
        except OSError as exc:
            problems.append(unreadable_problem(name, exc))
    _refuse_unreadable(problems)


def _refuse_unreadable(problems: list[Problem]) -> None:
    if problems:
        raise AppSpecError(
            problems, hint="Make the files listed above readable by this user, or list them in .deployignore."
        )


def content_sha256(files: tuple[TreeFile, ...], bundle_format: str) -> str:
    """The sha256 of the manifest: the format, then `<mode> <size> <sha256> <path>\\0` per file, in order."""
    digest = hashlib.sha256(bundle_format.encode() + b"\n")
    for file in files:
        digest.update(f"{file.mode:o} {file.size} {file.sha256} ".encode() + file.name.encode() + b"\0")
    return digest.hexdigest()


def normalised_mode(st_mode: int) -> int:
    """0o755 when the owner may execute the file, else 0o644: git's rule, so another umask gives the same bundle."""
    return 0o755 if st_mode & stat.S_IXUSR else 0o644


def read_chunks(reader: IO[bytes], size_hint: int) -> Iterator[bytes]:
    """The content of an unbuffered `reader` in chunks of at most `READ_CHUNK` bytes; one chunk for a small file.

    Asking for `size_hint + 1` bytes lets a small file come back in one read without allocating `READ_CHUNK` bytes.
    """
    request = min(READ_CHUNK, size_hint + 1)
    while chunk := reader.read(request):
        yield chunk


def _hash_files(root: Path, names: tuple[str, ...]) -> list[TreeFile | Problem]:
    return [_hash_file(root, name) for name in names]


def _hash_file(root: Path, name: str) -> TreeFile | Problem:
    # open() follows symlinks: revision_files only lets through links to regular files inside the revision, and those
    # are bundled as the file they point to.
    try:
        with (root / name).open("rb", buffering=0) as reader:
            status = os.fstat(reader.fileno())
            digest, checksum, size = hashlib.sha256(), 0, 0
            for chunk in read_chunks(reader, status.st_size):
                digest.update(chunk)
                checksum = crc32(chunk, checksum)
                size += len(chunk)
    except OSError as exc:
        # Reported with every other unreadable file: one run names them all.
        return unreadable_problem(name, exc)
    return TreeFile(
        name=name, mode=normalised_mode(status.st_mode), size=size, crc32=checksum, sha256=digest.hexdigest()
    )
