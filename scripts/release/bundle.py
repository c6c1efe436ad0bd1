"""`deploy.py bundle`: the zip of a scanned revision written to a file, for inspection or another uploader.

A release never writes this file: `release.upload.publish_revision` streams the same zip into S3, and only when the
revision's key is missing. Both take the tree `release.tree.scan_revision` validated and hashed, and both write it with
`release.zipwriter`, so the file `write_bundle` leaves is byte for byte the object a release would upload, under the
same name (`<content_sha256>.zip`).

Same tree and same deflate library → byte-identical zip; same tree → same name and key whatever the library (what the
key promises: the extracted content; docs/performance.md). The rules that make the bytes reproducible are listed in
`release.zipwriter`; which files go in is decided by `release.appspec.revision_files`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from release.appspec import AppSpec
from release.errors import Cancelled, InputError
from release.runtime import StopSignal
from release.tree import RevisionTree
from release.zipwriter import ZIP_EPOCH, packed_members, write_zip

__all__ = ["ZIP_EPOCH", "Bundle", "write_bundle"]


@dataclass(frozen=True)
class Bundle:
    """A built revision bundle: the zip at `path`, its bytes' sha256 (hex) and size, the files it holds, and the
    revision's content hash (`content_sha256`, the name of the file and of the S3 object)."""

    path: Path
    sha256: str
    size: int
    file_count: int
    files: tuple[str, ...]
    appspec: AppSpec
    content_sha256: str


def write_bundle(
    tree: RevisionTree, out_dir: Path, *, workers: int | None = None, stop: StopSignal | None = None
) -> Bundle:
    """Write the zip of a scanned revision into `out_dir` as `<content_sha256>.zip`; return what was written.

    The appspec was validated by the scan, so an invalid revision never gets here. Raises `InputError` (exit 2) when a
    file cannot be read or changed since the scan, or when `out_dir` cannot be created or written (permissions, a full
    disk), and `Cancelled` (exit 4) once `stop` is requested (`release.runtime.stop_on_signals`: it is checked before
    the first and after every chunk written); nothing is left in `out_dir` then, not even the temporary file.
    """
    _check_stop(stop)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Write under a temporary name in the same directory, then rename: a crash never leaves a half zip under a
        # content-addressed name.
        handle, temporary = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=out_dir)
    except OSError as exc:
        raise _unwritable(out_dir, exc) from exc
    digest = hashlib.sha256()
    path = out_dir / f"{tree.content_sha256}.zip"
    try:
        with os.fdopen(handle, "wb") as stream:

            def write(chunk: bytes) -> None:
                digest.update(chunk)
                stream.write(chunk)
                _check_stop(stop)

            # Reading the revision raises InputError (release.zipwriter): an OSError here is the output's.
            size = write_zip(tree.root, packed_members(tree.root, tree.files, workers=workers), write)
        Path(temporary).replace(path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _unwritable(path, exc) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Bundle(
        path=path,
        sha256=digest.hexdigest(),
        size=size,
        file_count=len(tree.files),
        files=tree.names,
        appspec=tree.appspec,
        content_sha256=tree.content_sha256,
    )


def _check_stop(stop: StopSignal | None) -> None:
    if stop is not None and stop.requested:
        raise Cancelled(
            f"bundle cancelled ({stop.reason}); nothing was written to the bundle directory",
            hint="Run `python scripts/deploy.py bundle` again when ready.",
        )


def _unwritable(path: Path, error: OSError) -> InputError:
    return InputError(
        f"{path}: cannot be written ({error.strerror or error})",
        hint="Give --bundle-dir a directory this user can create and write, with room for the zip.",
    )
