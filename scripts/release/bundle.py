"""Build the reproducible zip bundle of a revision, validated before it is written.

Two steps, so that an unchanged revision costs no compression at all:

1. `release.tree.scan_revision` validates the appspec against the files that go in and hashes them into the
   revision's content hash, which is the bundle's name (`<content_sha256>.zip`) and its S3 key;
2. `release.zipwriter` compresses the files on every core and writes the zip in order: here into a file
   (`build_bundle`, `write_bundle`), in `release.upload.publish_revision` straight into the upload.

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
from release.tree import RevisionTree, scan_revision
from release.zipwriter import ZIP_EPOCH, packed_members, write_zip

__all__ = ["ZIP_EPOCH", "Bundle", "build_bundle", "sha256_of", "write_bundle"]

_CHUNK = 1024 * 1024


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


def build_bundle(revision_root: Path, out_dir: Path, *, workers: int | None = None) -> Bundle:
    """Validate the revision at `revision_root`, then write its zip bundle into `out_dir` as `<content_sha256>.zip`.

    The appspec is validated against exactly the files that go into the zip, before the zip is written, so an
    invalid revision never produces a bundle that could be uploaded. Raises `AppSpecError` listing every problem, and
    `InputError` when a file cannot be read or changes while the bundle is built.
    """
    return write_bundle(scan_revision(revision_root, workers=workers), out_dir, workers=workers)


def write_bundle(tree: RevisionTree, out_dir: Path, *, workers: int | None = None) -> Bundle:
    """Write the zip of an already scanned revision into `out_dir` as `<content_sha256>.zip`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # Write under a temporary name in the same directory, then rename: a crash never leaves a half zip under a
    # content-addressed name.
    handle, temporary = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=out_dir)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as stream:

            def write(chunk: bytes) -> None:
                digest.update(chunk)
                stream.write(chunk)

            size = write_zip(tree.root, packed_members(tree.root, tree.files, workers=workers), write)
        path = out_dir / f"{tree.content_sha256}.zip"
        Path(temporary).replace(path)
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


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
