"""The revision's zip, compressed on every core and written in order, to a file or straight into an upload.

Reproducible: the same tree, written by the same deflate library, gives the same bytes:

- entries in the tree's order (sorted POSIX paths), files only, no directory entries, no extra fields, no comment;
- every timestamp 1980-01-01 00:00:00, the earliest a zip can hold; Unix modes 0755/0644 (`release.tree`);
- what is stored rather than deflated depends only on the file's name and content: names with an already-compressed
  extension (`ALREADY_COMPRESSED`), files whose first 64 KiB a fast deflate does not shrink by 5 %, and files that
  deflate would not make smaller are stored;
- deflate is ISA-L's level `DEFLATE_LEVEL` when `isal` is installed, else zlib's level `ZLIB_FALLBACK_LEVEL`: the
  levels were chosen from `benchmarks/compression_levels.py` (docs/performance.md).

Every header is written complete (crc and sizes known before the data), so the zip never needs a seek or a data
descriptor and can be streamed. Members are compressed in a thread pool (the deflate libraries release the GIL) in
batches, at most `WINDOW_BYTES` of content ahead of the writer, and written in order; a batch of small members comes
back from its thread as one piece, local headers included (`Batch`), so the writer's own work per file is one central
directory record. A file whose crc32 differs from
the one the tree was hashed with changed while bundling: that raises `InputError` rather than ship content that does
not match the key. Zip64 records are written only when a size, an offset or the entry count needs them.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple, Protocol

from release.errors import InputError
from release.tree import READ_CHUNK, TreeFile, open_in, read_chunks, worker_count

try:
    import isal
    from isal import isal_zlib

    def _deflate(data: bytes, level: int) -> bytes:
        return isal_zlib.compress(data, level, -15)

    def _deflater(level: int) -> _Compressor:
        return isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)

    DEFLATE_LEVEL = 3
    DEFLATE_LIBRARY = f"isal {isal.__version__} level {DEFLATE_LEVEL}"
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - exercised only where isal is not installed
    from zlib import crc32

    def _deflate(data: bytes, level: int) -> bytes:
        return zlib.compress(data, level, -15)

    def _deflater(level: int) -> _Compressor:
        return zlib.compressobj(level, zlib.DEFLATED, -15)

    DEFLATE_LEVEL = 1
    DEFLATE_LIBRARY = f"zlib {zlib.ZLIB_RUNTIME_VERSION} level {DEFLATE_LEVEL}"

__all__ = [
    "ALREADY_COMPRESSED",
    "DEFLATE_LEVEL",
    "DEFLATE_LIBRARY",
    "WINDOW_BYTES",
    "ZIP_EPOCH",
    "Batch",
    "Entry",
    "Packed",
    "ZipReader",
    "pack",
    "packed_members",
    "write_zip",
    "zip_bytes",
]

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Extensions whose content is compressed already (archives, packages, images, audio, video, fonts): deflate would
# spend CPU for nothing.
ALREADY_COMPRESSED = frozenset({
    ".7z", ".aac", ".apk", ".avif", ".br", ".bz2", ".deb", ".ear", ".flac", ".gif", ".gz", ".heic", ".jar", ".jpeg",
    ".jpg", ".lz", ".lz4", ".lzma", ".m4a", ".mkv", ".mov", ".mp3", ".mp4", ".ogg", ".opus", ".png", ".rar", ".rpm",
    ".tbz2", ".tgz", ".txz", ".war", ".webm", ".webp", ".whl", ".woff", ".woff2", ".xz", ".zip", ".zst",
})  # fmt: skip
WINDOW_BYTES = 64 * 1024 * 1024  # content in flight between the readers and the writer
# Files larger than this are compressed into a temporary file, not in memory.
IN_MEMORY_LIMIT = READ_CHUNK
_PROBE = 64 * 1024
_PROBE_LEVEL = 1
_STORE_ABOVE_RATIO = 0.95  # a probe that deflate shrinks by less than 5 % is already compressed
_TASK_BYTES = 1024 * 1024  # content per compression task: small files go in batches
_TASK_FILES = 256
STORED, DEFLATED = 0, 8
_LIMIT32, _LIMIT16 = 0xFFFFFFFF, 0xFFFF
_VERSION, _ZIP64_VERSION, _UNIX = 20, 45, 3
_DOS_DATE = (ZIP_EPOCH[0] - 1980) << 9 | ZIP_EPOCH[1] << 5 | ZIP_EPOCH[2]
_DOS_TIME = ZIP_EPOCH[3] << 11 | ZIP_EPOCH[4] << 5 | ZIP_EPOCH[5] // 2
_UTF8_FLAG = 0x800
_S_IFREG = 0o100000


class _Compressor(Protocol):  # the part of zlib's and ISA-L's compress objects used here
    def compress(self, data: bytes, /) -> bytes: ...  # pragma: no cover
    def flush(self, /) -> bytes: ...  # pragma: no cover


@dataclass(frozen=True)
class Packed:
    """One member ready to write: its compression method and size, and its data (in memory, spooled, or the file)."""

    file: TreeFile
    method: int
    compressed_size: int
    data: tuple[bytes, ...] = ()
    spool: IO[bytes] | None = None
    from_source: bool = False


class Entry(NamedTuple):
    """What the central directory needs of a member written in a `Batch`."""

    file: TreeFile
    method: int
    compressed_size: int
    start: int  # where its local header starts in the batch


@dataclass(frozen=True)
class Batch:
    """Consecutive members compressed in memory by one thread, written there too: their local headers and data joined.

    The writer then handles one piece of about `_TASK_BYTES` instead of two per file, and only builds the central
    directory records (which need each member's offset in the zip).
    """

    entries: tuple[Entry, ...]
    data: bytes


def packed_members(root: Path, files: Iterable[TreeFile], *, workers: int | None = None) -> Iterator[Packed | Batch]:
    """Compress `files` of the revision at `root` on `workers` threads; yield them in their order, as batches of
    small members (`Batch`) and large members on their own (`Packed`).

    At most about `WINDOW_BYTES` of content is being read or held ahead of the consumer.
    """
    try:
        directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        # Gone or locked since the scan: the revision's fault (exit 2), not the output's.
        raise InputError(f"{root}: cannot be read ({exc.strerror})") from exc
    pool = ThreadPoolExecutor(max_workers=workers or worker_count(), thread_name_prefix="deflate")
    pending: deque[tuple[Future[list[Packed | Batch]], int]] = deque()
    tasks = iter(_tasks(files))
    in_flight = 0
    try:
        while True:
            while in_flight < WINDOW_BYTES and (task := next(tasks, None)) is not None:
                size = sum(file.size for file in task)
                pending.append((pool.submit(_pack_all, directory, task), size))
                in_flight += size
            if not pending:
                return
            future, size = pending.popleft()
            in_flight -= size
            yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        os.close(directory)
        for future, _ in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                for member in future.result():
                    _close(member)


def pack(directory: int, file: TreeFile) -> Packed:
    """Read and (where it pays) deflate one file of the revision whose root is open as `directory`; check it still
    has the crc32 it was hashed with."""
    try:
        descriptor, _ = open_in(directory, file.name)
        try:
            if file.size > IN_MEMORY_LIMIT:
                return _pack_large(descriptor, file)
            data = b"".join(read_chunks(descriptor, file.size))
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise _unreadable(file, exc) from exc
    _check_unchanged(file, len(data), crc32(data))
    if not data or _looks_compressed(file.name, data):
        return Packed(file, STORED, len(data), (data,))
    deflated = _deflate(data, DEFLATE_LEVEL)
    if len(deflated) >= len(data):
        return Packed(file, STORED, len(data), (data,))
    return Packed(file, DEFLATED, len(deflated), (deflated,))


def zip_bytes(root: Path, members: Iterable[Packed | Batch]) -> Generator[bytes, None, None]:
    """The zip of `members` (in order), chunk by chunk, as each member becomes ready."""
    offset = 0
    central: list[bytes] = []
    try:
        for member in members:
            try:
                if isinstance(member, Batch):
                    data = _placed(member, offset)
                    central.extend(
                        _central_record(entry.file, entry.method, entry.compressed_size, offset + entry.start)
                        for entry in member.entries
                    )
                    yield data
                    offset += len(data)
                    continue
                header = _local_header(member.file, member.method, member.compressed_size, offset)
                central.append(_central_record(member.file, member.method, member.compressed_size, offset))
                yield header
                offset += len(header)
                for chunk in _member_data(root, member):
                    yield chunk
                    offset += len(chunk)
            finally:
                _close(member)
    finally:
        if isinstance(members, Generator):
            members.close()  # stops the compression threads when the consumer stops early
    directory = b"".join(central)
    yield directory
    yield _end_records(len(central), len(directory), offset)


def write_zip(root: Path, members: Iterable[Packed | Batch], write: Callable[[bytes], object]) -> int:
    """Write the zip of `members` (in order) through `write`; return its size in bytes."""
    size = 0
    for chunk in zip_bytes(root, members):
        write(chunk)
        size += len(chunk)
    return size


class ZipReader:
    """A read-only, non-seekable file object over the zip of a revision: what a streaming upload reads from.

    Compression runs ahead in the thread pool while the upload reads; `close()` stops it.
    """

    def __init__(self, root: Path, files: Iterable[TreeFile], *, workers: int | None = None) -> None:
        self._chunks: Generator[bytes, None, None] = zip_bytes(root, packed_members(root, files, workers=workers))
        self._pieces: list[bytes | memoryview] = []
        self._held = 0
        self.size = 0  # bytes read so far; the zip's size once read to the end

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative); b"" at the end."""
        while size < 0 or self._held < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pieces.append(chunk)
            self._held += len(chunk)
        pieces, left = self._pieces, memoryview(b"")
        if 0 <= size < self._held:
            # Only the last piece is cut; what is left of it (a view, no copy) starts the next read.
            last = memoryview(pieces[-1])
            cut = len(last) - (self._held - size)
            pieces, left = [*pieces[:-1], last[:cut]], last[cut:]
        data = b"".join(pieces)
        self._pieces, self._held = ([left] if left else []), len(left)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        """True: this is a reader."""
        return True

    def seekable(self) -> bool:
        """False: boto3 then uploads it as a stream, reading it once, in order."""
        return False

    def close(self) -> None:
        """Stop compressing and free what is held."""
        self._chunks.close()
        self._pieces, self._held = [], 0


def _tasks(files: Iterable[TreeFile]) -> Iterator[list[TreeFile]]:
    """Consecutive files in groups of at most `_TASK_FILES` files or about `_TASK_BYTES` of content."""
    task: list[TreeFile] = []
    size = 0
    for file in files:
        if task and (size + file.size > _TASK_BYTES or len(task) >= _TASK_FILES):
            yield task
            task, size = [], 0
        task.append(file)
        size += file.size
    if task:
        yield task


def _pack_all(directory: int, files: list[TreeFile]) -> list[Packed | Batch]:
    """The members of `files`, in order: runs of in-memory ones as one `Batch` each, large ones as they are."""
    packed: list[Packed | Batch] = []
    entries: list[Entry] = []
    pieces: list[bytes] = []
    size = 0
    try:
        for file in files:
            member = pack(directory, file)
            if member.spool is not None or member.from_source:
                if entries:
                    packed.append(Batch(tuple(entries), b"".join(pieces)))
                    entries, pieces, size = [], [], 0
                packed.append(member)
                continue
            # Written as if its offset were below 4 GiB; `_placed` corrects the few headers past that.
            header = _local_header(file, member.method, member.compressed_size, 0)
            entries.append(Entry(file, member.method, member.compressed_size, size))
            pieces.append(header)
            pieces.extend(member.data)
            size += len(header) + member.compressed_size
        if entries:
            packed.append(Batch(tuple(entries), b"".join(pieces)))
    except BaseException:
        for item in packed:
            _close(item)
        raise
    return packed


def _placed(batch: Batch, offset: int) -> bytes:
    """The batch's bytes when it starts at `offset` in the zip.

    A local header's version field says zip64 (4.5) when the member starts at 4 GiB or beyond, as `_local_header`
    writes it; the batch was written as if it started at 0, so those members' fields are set here.
    """
    if offset + batch.entries[-1].start < _LIMIT32:
        return batch.data
    data = bytearray(batch.data)
    for entry in batch.entries:
        if offset + entry.start >= _LIMIT32:
            struct.pack_into("<H", data, entry.start + 4, _ZIP64_VERSION)
    return bytes(data)


def _looks_compressed(name: str, data: bytes) -> bool:
    if _suffix(name).lower() in ALREADY_COMPRESSED:
        return True
    if len(data) < _PROBE:
        return False  # small files cost little to deflate whatever they hold
    # A fast level is enough to tell random-looking bytes from compressible ones.
    return len(_deflate(data[:_PROBE], _PROBE_LEVEL)) > _STORE_ABOVE_RATIO * _PROBE


def _suffix(name: str) -> str:
    """The name's extension as `PurePosixPath(name).suffix` gives it (`..gz` has one, `.gz` has none), without
    building a path."""
    base = name.rpartition("/")[2]
    dot = base.rfind(".")
    return base[dot:] if 0 < dot < len(base) - 1 else ""


def _pack_large(descriptor: int, file: TreeFile) -> Packed:
    """A file above `IN_MEMORY_LIMIT`: deflated into a temporary file, or marked to be copied from the source."""
    first = os.read(descriptor, _PROBE)
    if _looks_compressed(file.name, first):
        # Stored: the writer copies it from the source and checks its crc32 on the way.
        return Packed(file, STORED, file.size, from_source=True)
    try:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the writer, or by _close on error
    except OSError as exc:
        raise _no_room(file, exc) from exc
    try:
        deflater, checksum, size, written = _deflater(DEFLATE_LEVEL), crc32(first), len(first), 0
        written += _spooled(spool, deflater.compress(first), file)
        for chunk in read_chunks(descriptor, file.size - len(first)):
            checksum, size = crc32(chunk, checksum), size + len(chunk)
            written += _spooled(spool, deflater.compress(chunk), file)
        written += _spooled(spool, deflater.flush(), file)
        _flush_spool(spool, file)
        _check_unchanged(file, size, checksum)
    except BaseException:
        # Closing flushes the buffer again; on a full directory that fails again and must not hide the first error.
        with contextlib.suppress(OSError):
            spool.close()
        raise
    if written >= file.size:
        spool.close()
        return Packed(file, STORED, file.size, from_source=True)
    spool.seek(0)
    return Packed(file, DEFLATED, written, spool=spool)


def _spooled(spool: IO[bytes], data: bytes, file: TreeFile) -> int:
    """Write `data` to the temporary file `file` is compressed into; a failed write (a full or size-limited temporary
    directory) names that directory, not the revision's file, which was read fine."""
    try:
        return spool.write(data)
    except OSError as exc:
        raise _no_room(file, exc) from exc


def _flush_spool(spool: IO[bytes], file: TreeFile) -> None:
    """Write out what the temporary file still buffers, so a full directory fails here, with `_no_room`'s message,
    and not later in a seek."""
    try:
        spool.flush()
    except OSError as exc:
        raise _no_room(file, exc) from exc


def _no_room(file: TreeFile, exc: OSError) -> InputError:
    return InputError(
        f"{file.name}: could not be compressed: writing its temporary file in {tempfile.gettempdir()} failed "
        f"({exc.strerror or exc})",
        hint="Free space there, or point TMPDIR at a directory with room for the largest file, and run it again.",
    )


def _member_data(root: Path, member: Packed) -> Iterator[bytes]:
    if member.spool is not None:
        while chunk := member.spool.read(READ_CHUNK):
            yield chunk
    elif member.from_source:
        file, checksum, size = member.file, 0, 0
        try:
            descriptor, _ = open_in(None, str(root / file.name))
        except OSError as exc:
            raise _unreadable(file, exc) from exc
        try:
            for chunk in read_chunks(descriptor, file.size):
                checksum, size = crc32(chunk, checksum), size + len(chunk)
                if size > file.size:
                    break
                yield chunk
        except OSError as exc:
            raise _unreadable(file, exc) from exc
        finally:
            os.close(descriptor)
        _check_unchanged(file, size, checksum)
    else:
        yield from member.data


def _close(member: Packed | Batch) -> None:
    if isinstance(member, Packed) and member.spool is not None:
        member.spool.close()


def _unreadable(file: TreeFile, error: OSError) -> InputError:
    return InputError(f"{file.name}: cannot be read ({error.strerror})")


def _check_unchanged(file: TreeFile, size: int, checksum: int) -> None:
    if (size, checksum) != (file.size, file.crc32):
        raise InputError(
            f"{file.name}: changed while the bundle was being built",
            hint="Let whatever writes into the revision finish, then run the release again.",
        )


def _encoded_name(name: str) -> tuple[bytes, int]:
    """The name's bytes and flags as zipfile writes them: ASCII as is, anything else UTF-8 with bit 11 set."""
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), _UTF8_FLAG


def _local_header(file: TreeFile, method: int, compressed_size: int, offset: int) -> bytes:
    """The local file header of a member whose header starts at `offset`."""
    name, flags = _encoded_name(file.name)
    zip64_sizes = file.size >= _LIMIT32 or compressed_size >= _LIMIT32
    version = _ZIP64_VERSION if zip64_sizes or offset >= _LIMIT32 else _VERSION
    extra = struct.pack("<HHQQ", 1, 16, file.size, compressed_size) if zip64_sizes else b""
    sizes = (_LIMIT32, _LIMIT32) if zip64_sizes else (compressed_size, file.size)
    header = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, version, flags, method, _DOS_TIME, _DOS_DATE, file.crc32, *sizes, len(name),
        len(extra),
    )  # fmt: skip
    return header + name + extra


def _central_record(file: TreeFile, method: int, compressed_size: int, offset: int) -> bytes:
    """The central directory record of a member whose local header starts at `offset`."""
    name, flags = _encoded_name(file.name)
    zip64_sizes = file.size >= _LIMIT32 or compressed_size >= _LIMIT32
    version = _ZIP64_VERSION if zip64_sizes or offset >= _LIMIT32 else _VERSION
    sizes = (_LIMIT32, _LIMIT32) if zip64_sizes else (compressed_size, file.size)
    fields = [value for value in (file.size, compressed_size) if zip64_sizes] + ([offset] if offset >= _LIMIT32 else [])
    extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
    record = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, _UNIX << 8 | version, version, flags, method, _DOS_TIME, _DOS_DATE,
        file.crc32, *sizes, len(name), len(extra), 0, 0, 0, (_S_IFREG | file.mode) << 16, min(offset, _LIMIT32),
    )  # fmt: skip
    return record + name + extra


def _end_records(entries: int, directory_size: int, directory_offset: int) -> bytes:
    """The end of central directory record, preceded by the zip64 record and locator when a value needs them."""
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, min(entries, _LIMIT16), min(entries, _LIMIT16),
        min(directory_size, _LIMIT32), min(directory_offset, _LIMIT32), 0,
    )  # fmt: skip
    if entries < _LIMIT16 and directory_size < _LIMIT32 and directory_offset < _LIMIT32:
        return end
    zip64_end_offset = directory_offset + directory_size
    zip64_end = struct.pack(
        "<IQHHIIQQQQ", 0x06064B50, 44, _UNIX << 8 | _ZIP64_VERSION, _ZIP64_VERSION, 0, 0, entries, entries,
        directory_size, directory_offset,
    )  # fmt: skip
    locator = struct.pack("<IIQI", 0x07064B50, 0, zip64_end_offset, 1)
    return zip64_end + locator + end
