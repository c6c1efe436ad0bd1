"""The revision as a tree of files and one content hash, computed before anything is compressed.

The content hash names the revision: `<prefix>/<content_sha256>.zip` is its key in the artifact bucket. It is the
sha256 of a manifest that starts with `BUNDLE_FORMAT` and lists, in sorted order of POSIX path, every bundled file's
normalised mode, size, sha256 and path. So:

- an unchanged revision is recognised by reading and hashing its files (sha256 with the CPU's SHA extensions; large
  files on all cores) and one HeadObject: nothing is compressed, nothing written (docs/performance.md, "What the key
  means");
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

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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
    "open_in",
    "read_chunks",
    "scan_revision",
    "worker_count",
]

# Bump when the zip's layout rules change (see the module docstring). 1 was the zip-hash-keyed bundle.
BUNDLE_FORMAT = "bluegreen-bundle/2"
# Files up to this size are read whole; larger ones in chunks of this size.
READ_CHUNK = 16 * 1024 * 1024
# Files above this size are hashed on the thread pool, smaller ones on the scanning thread (`_hash_here`).
_THREAD_ABOVE = 256 * 1024


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
    Files are read and hashed once the appspec is valid: small ones on this thread, those above `_THREAD_ABOVE` on
    `workers` threads (default `worker_count()`).
    """
    try:
        names = revision_files(revision_root)
        appspec = load_appspec(revision_root, included=names)
        results = _hash_files(revision_root, names, workers or worker_count())
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


def read_chunks(descriptor: int, size: int) -> Iterator[bytes]:
    """The content of the open file `descriptor`, `size` bytes long when it was looked at, in chunks of at most
    `READ_CHUNK` bytes.

    A file of up to `READ_CHUNK` bytes whose size is unchanged comes in one chunk, from one read: `size + 1` bytes are
    asked for, and fewer coming back means the end of the file. Otherwise it is read on to its end, so a file that
    grew is read whole (and caught by its size or checksum).
    """
    request = min(READ_CHUNK, size + 1)
    chunk = os.read(descriptor, request)
    if chunk:
        yield chunk
    if len(chunk) == size < request:
        return
    while chunk := os.read(descriptor, request):
        yield chunk


def open_in(directory: int | None, name: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file `name` of the revision whose root directory is open as `directory`
    (or of the path `name` when `directory` is None), with its status.

    It follows symlinks: `revision_files` only lets through links to regular files inside the revision, and those are
    bundled as the file they point to. Raises `OSError` when `name` is not a regular file (any more): it is opened
    with O_NONBLOCK, so a FIFO swapped in since the scan is refused instead of blocking the read forever.
    """
    descriptor = os.open(name, os.O_RDONLY | os.O_NONBLOCK, dir_fd=directory)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", name)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, status


def _hash_files(root: Path, names: tuple[str, ...], workers: int) -> list[TreeFile | Problem]:
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash")
    try:
        results = [_hash_here(directory, name, pool) for name in names]
        return [item.result() if isinstance(item, Future) else item for item in results]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        os.close(directory)


def _hash_here(directory: int, name: str, pool: ThreadPoolExecutor) -> TreeFile | Problem | Future[TreeFile | Problem]:
    """One file's TreeFile (or why it cannot be read), computed on this thread; a large file's, on `pool`.

    Small files stay on the scanning thread: each costs a handful of calls that release the GIL for a few microseconds,
    and two threads doing that hand the GIL to and fro more than they hash (measured: more CPU, no less wall time;
    docs/performance.md). Above `_THREAD_ABOVE` bytes sha256 runs long enough without the GIL to use a core of its own.
    """
    try:
        descriptor, status = open_in(directory, name)
        try:
            if status.st_size > _THREAD_ABOVE:
                return pool.submit(_hash_file, directory, name)
            return _digest(name, descriptor, status)
        finally:
            os.close(descriptor)
    except OSError as exc:
        # Reported with every other unreadable file: one run names them all.
        return unreadable_problem(name, exc)


def _hash_file(directory: int, name: str) -> TreeFile | Problem:
    try:
        descriptor, status = open_in(directory, name)
        try:
            return _digest(name, descriptor, status)
        finally:
            os.close(descriptor)
    except OSError as exc:
        return unreadable_problem(name, exc)


def _digest(name: str, descriptor: int, status: os.stat_result) -> TreeFile:
    digest, checksum, size = hashlib.sha256(), 0, 0
    for chunk in read_chunks(descriptor, status.st_size):
        digest.update(chunk)
        checksum = crc32(chunk, checksum)
        size += len(chunk)
    return TreeFile(
        name=name, mode=normalised_mode(status.st_mode), size=size, crc32=checksum, sha256=digest.hexdigest()
    )
