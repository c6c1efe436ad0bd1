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
batches, at most `WINDOW_BYTES` of content ahead of the writer, and written in order. A file whose crc32 differs from
the one the tree was hashed with changed while bundling: that raises `InputError` rather than ship content that does
not match the key. Zip64 records are written only when a size, an offset or the entry count needs them.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from release.errors import InputError
from release.tree import READ_CHUNK, TreeFile, read_chunks, worker_count

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
_TASK_FILES = 64
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


def packed_members(root: Path, files: Iterable[TreeFile], *, workers: int | None = None) -> Iterator[Packed]:
    """Compress `files` of the revision at `root` on `workers` threads; yield them in their order.

    At most about `WINDOW_BYTES` of content is being read or held ahead of the consumer.
    """
    pool = ThreadPoolExecutor(max_workers=workers or worker_count(), thread_name_prefix="deflate")
    pending: deque[tuple[Future[list[Packed]], int]] = deque()
    tasks = iter(_tasks(files))
    in_flight = 0
    try:
        while True:
            while in_flight < WINDOW_BYTES and (task := next(tasks, None)) is not None:
                size = sum(file.size for file in task)
                pending.append((pool.submit(_pack_all, root, task), size))
                in_flight += size
            if not pending:
                return
            future, size = pending.popleft()
            in_flight -= size
            yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for future, _ in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                for member in future.result():
                    _close(member)


def pack(root: Path, file: TreeFile) -> Packed:
    """Read and (where it pays) deflate one file; check it still has the crc32 it was hashed with."""
    try:
        with (root / file.name).open("rb", buffering=0) as reader:
            if file.size > IN_MEMORY_LIMIT:
                return _pack_large(reader, file)
            data = b"".join(read_chunks(reader, file.size))
    except OSError as exc:
        raise InputError(f"{file.name}: cannot be read ({exc.strerror})") from exc
    _check_unchanged(file, len(data), crc32(data))
    if not data or _looks_compressed(file.name, data):
        return Packed(file, STORED, len(data), (data,))
    deflated = _deflate(data, DEFLATE_LEVEL)
    if len(deflated) >= len(data):
        return Packed(file, STORED, len(data), (data,))
    return Packed(file, DEFLATED, len(deflated), (deflated,))


def zip_bytes(root: Path, members: Iterable[Packed]) -> Generator[bytes, None, None]:
    """The zip of `members` (in order), chunk by chunk, as each member becomes ready."""
    offset = 0
    central: list[bytes] = []
    try:
        for member in members:
            try:
                header, record = _headers(member, offset)
                yield header
                offset += len(header)
                for chunk in _member_data(root, member):
                    yield chunk
                    offset += len(chunk)
            finally:
                _close(member)
            central.append(record)
    finally:
        if isinstance(members, Generator):
            members.close()  # stops the compression threads when the consumer stops early
    directory = b"".join(central)
    yield directory
    yield _end_records(len(central), len(directory), offset)


def write_zip(root: Path, members: Iterable[Packed], write: Callable[[bytes], object]) -> int:
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
        self._pieces: list[bytes] = []
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
        data = b"".join(self._pieces)
        self._pieces = [data[size:]] if 0 <= size < len(data) else []
        data = data[:size] if 0 <= size < len(data) else data
        self._held = len(self._pieces[0]) if self._pieces else 0
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


def _pack_all(root: Path, files: list[TreeFile]) -> list[Packed]:
    packed: list[Packed] = []
    try:
        for file in files:
            packed.append(pack(root, file))
    except BaseException:
        for member in packed:
            _close(member)
        raise
    return packed


def _looks_compressed(name: str, data: bytes) -> bool:
    if PurePosixPath(name).suffix.lower() in ALREADY_COMPRESSED:
        return True
    if len(data) < _PROBE:
        return False  # small files cost little to deflate whatever they hold
    # A fast level is enough to tell random-looking bytes from compressible ones.
    return len(_deflate(data[:_PROBE], _PROBE_LEVEL)) > _STORE_ABOVE_RATIO * _PROBE


def _pack_large(reader: IO[bytes], file: TreeFile) -> Packed:
    """A file above `IN_MEMORY_LIMIT`: deflated into a temporary file, or marked to be copied from the source."""
    first = reader.read(_PROBE)
    if _looks_compressed(file.name, first):
        # Stored: the writer copies it from the source and checks its crc32 on the way.
        return Packed(file, STORED, file.size, from_source=True)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the writer, or by _close on error
    try:
        deflater, checksum, size, written = _deflater(DEFLATE_LEVEL), crc32(first), len(first), 0
        written += spool.write(deflater.compress(first))
        for chunk in read_chunks(reader, file.size):
            checksum, size = crc32(chunk, checksum), size + len(chunk)
            written += spool.write(deflater.compress(chunk))
        written += spool.write(deflater.flush())
        _check_unchanged(file, size, checksum)
    except BaseException:
        spool.close()
        raise
    if written >= file.size:
        spool.close()
        return Packed(file, STORED, file.size, from_source=True)
    spool.seek(0)
    return Packed(file, DEFLATED, written, spool=spool)


def _member_data(root: Path, member: Packed) -> Iterator[bytes]:
    if member.spool is not None:
        while chunk := member.spool.read(READ_CHUNK):
            yield chunk
    elif member.from_source:
        file, checksum, size = member.file, 0, 0
        try:
            with (root / file.name).open("rb", buffering=0) as reader:
                for chunk in read_chunks(reader, file.size):
                    checksum, size = crc32(chunk, checksum), size + len(chunk)
                    if size > file.size:
                        break
                    yield chunk
        except OSError as exc:
            raise InputError(f"{file.name}: cannot be read ({exc.strerror})") from exc
        _check_unchanged(file, size, checksum)
    else:
        yield from member.data


def _close(member: Packed) -> None:
    if member.spool is not None:
        member.spool.close()


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


def _headers(member: Packed, offset: int) -> tuple[bytes, bytes]:
    """The local file header and the central directory record of `member`, whose local header starts at `offset`."""
    file = member.file
    name, flags = _encoded_name(file.name)
    zip64_sizes = file.size >= _LIMIT32 or member.compressed_size >= _LIMIT32
    zip64 = zip64_sizes or offset >= _LIMIT32
    version = _ZIP64_VERSION if zip64 else _VERSION
    local_extra = struct.pack("<HHQQ", 1, 16, file.size, member.compressed_size) if zip64_sizes else b""
    sizes = (_LIMIT32, _LIMIT32) if zip64_sizes else (member.compressed_size, file.size)
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, version, flags, member.method, _DOS_TIME, _DOS_DATE, file.crc32, *sizes,
        len(name), len(local_extra),
    )  # fmt: skip
    fields = [value for value in (file.size, member.compressed_size) if zip64_sizes] + (
        [offset] if offset >= _LIMIT32 else []
    )
    central_extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
    record = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, _UNIX << 8 | version, version, flags, member.method, _DOS_TIME, _DOS_DATE,
        file.crc32, *sizes, len(name), len(central_extra), 0, 0, 0, (_S_IFREG | file.mode) << 16,
        min(offset, _LIMIT32),
    )  # fmt: skip
    return local + name + local_extra, record + name + central_extra


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
