"""The revision bundle (`deploy.py bundle`, and the bytes a release streams to S3): reproducible bytes, modes kept,
.deployignore and .git honoured, validated before writing."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from release import appspec as appspec_module
from release.bundle import ZIP_EPOCH, Bundle, write_bundle
from release.errors import AppSpecError
from release.tree import scan_revision

APPSPEC = """\
version: 0.0
os: linux
files:
  - source: /
    destination: /opt/app
hooks:
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 60
"""


def bundle_of(revision: Path, out_dir: Path) -> Bundle:
    """The revision scanned and written as `deploy.py bundle` does."""
    return write_bundle(scan_revision(revision), out_dir)


def write(root: Path, relative: str, text: str = "", *, mode: int = 0o644) -> Path:
    """Write a file of the revision with the given mode, creating its directory."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def make_revision(root: Path, *, reverse: bool = False) -> Path:
    """A small valid revision; `reverse` creates its files in the opposite order (another directory listing)."""
    files = [
        ("appspec.yml", APPSPEC, 0o644),
        ("scripts/start.sh", "#!/bin/sh\nexit 0\n", 0o755),
        ("app/server.py", "print('hello')\n" * 50, 0o644),
        ("app/static/index.html", "<h1>hi</h1>\n", 0o644),
        ("README.md", "read me\n", 0o644),
    ]
    for relative, text, mode in reversed(files) if reverse else files:
        write(root, relative, text, mode=mode)
    return root


@pytest.fixture
def revision(tmp_path: Path) -> Path:
    """A valid revision directory."""
    return make_revision(tmp_path / "revision")


def entries(bundle_path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip's entries by name, in archive order."""
    with zipfile.ZipFile(bundle_path) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_building_twice_gives_byte_identical_zips(revision: Path, tmp_path: Path) -> None:
    # When
    first = bundle_of(revision, tmp_path / "out1")
    second = bundle_of(revision, tmp_path / "out2")
    # Then
    assert first.path.read_bytes() == second.path.read_bytes()


def test_different_modification_times_give_the_same_zip(revision: Path, tmp_path: Path) -> None:
    # Given
    before = bundle_of(revision, tmp_path / "out1")
    for path in revision.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    # When
    after = bundle_of(revision, tmp_path / "out2")
    # Then
    assert after.sha256 == before.sha256


def test_files_created_in_another_order_give_the_same_zip(tmp_path: Path) -> None:
    # Given the same content written in opposite orders into two directories
    forward = make_revision(tmp_path / "forward")
    backward = make_revision(tmp_path / "backward", reverse=True)
    # When
    bundles = bundle_of(forward, tmp_path / "out1"), bundle_of(backward, tmp_path / "out2")
    # Then
    assert bundles[0].sha256 == bundles[1].sha256


def test_a_directory_listing_in_reverse_order_gives_the_same_zip(
    revision: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given
    expected = bundle_of(revision, tmp_path / "out1").sha256
    real_walk = os.walk

    def reversed_walk(top: Path, onerror: object = None) -> Iterator[tuple[str, list[str], list[str]]]:
        for dirpath, dirnames, filenames in real_walk(top, onerror=onerror):  # type: ignore[arg-type]
            dirnames.reverse()  # in place, so the walker still honours pruning
            filenames.reverse()
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(appspec_module.os, "walk", reversed_walk)
    # When
    actual = bundle_of(revision, tmp_path / "out2").sha256
    # Then
    assert actual == expected


def test_different_content_gives_a_different_zip(revision: Path, tmp_path: Path) -> None:
    before = bundle_of(revision, tmp_path / "out1")
    write(revision, "README.md", "changed\n")
    assert bundle_of(revision, tmp_path / "out2").sha256 != before.sha256


def test_entries_are_sorted_and_carry_the_fixed_1980_timestamp(revision: Path, tmp_path: Path) -> None:
    # When
    infos = entries(bundle_of(revision, tmp_path / "out").path)
    # Then
    assert list(infos) == sorted(infos)
    assert {info.date_time for info in infos.values()} == {ZIP_EPOCH}


def test_hook_scripts_stay_executable_and_other_files_get_0644(revision: Path, tmp_path: Path) -> None:
    # When
    infos = entries(bundle_of(revision, tmp_path / "out").path)
    # Then
    assert stat.S_IMODE(infos["scripts/start.sh"].external_attr >> 16) == 0o755
    assert stat.S_IMODE(infos["app/server.py"].external_attr >> 16) == 0o644


def test_modes_are_normalised_so_another_umask_gives_the_same_zip(revision: Path, tmp_path: Path) -> None:
    # Given a checkout made under umask 002 (group-writable files)
    before = bundle_of(revision, tmp_path / "out1")
    (revision / "README.md").chmod(0o664)
    (revision / "scripts/start.sh").chmod(0o775)
    # When
    after = bundle_of(revision, tmp_path / "out2")
    # Then
    assert after.sha256 == before.sha256


def test_an_incompressible_file_is_stored_and_a_compressible_one_deflated(revision: Path, tmp_path: Path) -> None:
    # Given
    (revision / "app/image.bin").write_bytes(random.Random(3).randbytes(200_000))
    (revision / "app/log.txt").write_text("the same line again\n" * 10_000)
    # When
    infos = entries(bundle_of(revision, tmp_path / "out").path)
    # Then
    assert (infos["app/image.bin"].compress_type, infos["app/log.txt"].compress_type) == (
        zipfile.ZIP_STORED,
        zipfile.ZIP_DEFLATED,
    )


def test_entries_are_unix_files_only(revision: Path, tmp_path: Path) -> None:
    infos = entries(bundle_of(revision, tmp_path / "out").path)
    assert {(info.create_system, info.is_dir()) for info in infos.values()} == {(3, False)}


def test_a_file_deflate_cannot_shrink_is_stored(revision: Path, tmp_path: Path) -> None:
    # Given a file of 8 bytes (deflate's block overhead makes it larger)
    infos = entries(bundle_of(revision, tmp_path / "out").path)
    # Then
    assert (infos["README.md"].compress_type, infos["app/server.py"].compress_type) == (
        zipfile.ZIP_STORED,
        zipfile.ZIP_DEFLATED,
    )


def test_a_file_with_an_already_compressed_extension_is_stored_without_a_probe(revision: Path, tmp_path: Path) -> None:
    # Given text (very compressible) under an archive's extension
    write(revision, "app/vendor.whl", "the same line again\n" * 10_000)
    # When
    infos = entries(bundle_of(revision, tmp_path / "out").path)
    # Then
    assert infos["app/vendor.whl"].compress_type == zipfile.ZIP_STORED


def test_the_zip_holds_the_revision_content(revision: Path, tmp_path: Path) -> None:
    bundle = bundle_of(revision, tmp_path / "out")
    with zipfile.ZipFile(bundle.path) as archive:
        assert archive.read("app/server.py") == (revision / "app/server.py").read_bytes()


def test_the_bundle_reports_its_hash_size_and_files(revision: Path, tmp_path: Path) -> None:
    # When
    bundle = bundle_of(revision, tmp_path / "out")
    # Then
    data = bundle.path.read_bytes()
    assert (bundle.sha256, bundle.size, bundle.path.name) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
        f"{bundle.content_sha256}.zip",
    )
    assert bundle.files == tuple(entries(bundle.path))
    assert bundle.file_count == 5


def test_deployignore_patterns_leave_matching_files_out(revision: Path, tmp_path: Path) -> None:
    # Given
    write(revision, "tests/test_app.py")
    write(revision, "app/cache.pyc")
    write(revision, ".deployignore", "# build leftovers\ntests/\n*.pyc\n")
    # When
    files = bundle_of(revision, tmp_path / "out").files
    # Then
    assert not {"tests/test_app.py", "app/cache.pyc"} & set(files)


def test_a_deployignore_negation_keeps_a_file_back_in(revision: Path, tmp_path: Path) -> None:
    write(revision, "docs/a.md")
    write(revision, "docs/keep.md")
    write(revision, ".deployignore", "docs/*\n!docs/keep.md\n")
    files = bundle_of(revision, tmp_path / "out").files
    assert [name for name in files if name.startswith("docs/")] == ["docs/keep.md"]


def test_a_deployignore_of_comments_only_leaves_every_file_in(revision: Path, tmp_path: Path) -> None:
    # Given rules that are all comments (no pattern to match)
    write(revision, ".deployignore", "# nothing to leave out yet\n# app/\n")
    # When
    files = bundle_of(revision, tmp_path / "out").files
    # Then
    assert files == bundle_of(make_revision(tmp_path / "plain"), tmp_path / "out2").files


def test_the_deployignore_file_itself_is_not_bundled(revision: Path, tmp_path: Path) -> None:
    write(revision, ".deployignore", "*.log\n")
    assert ".deployignore" not in bundle_of(revision, tmp_path / "out").files


def test_git_directories_are_always_excluded_even_when_deployignore_asks_for_them(
    revision: Path, tmp_path: Path
) -> None:
    # Given a repository inside the revision and a vendored submodule's .git file
    write(revision, ".git/config", "[core]\n")
    write(revision, "vendor/lib/.git", "gitdir: ../../.git/modules/lib\n")
    write(revision, ".deployignore", "!.git/\n")
    # When
    files = bundle_of(revision, tmp_path / "out").files
    # Then
    assert [name for name in files if ".git" in name.split("/")] == []


def test_hidden_files_other_than_git_are_bundled(revision: Path, tmp_path: Path) -> None:
    write(revision, "app/.env.example", "PORT=8080\n")
    assert "app/.env.example" in bundle_of(revision, tmp_path / "out").files


def test_a_symlink_to_a_file_inside_the_revision_is_bundled_as_that_file(revision: Path, tmp_path: Path) -> None:
    # Given
    (revision / "app/current.py").symlink_to("server.py")
    # When
    bundle = bundle_of(revision, tmp_path / "out")
    # Then
    with zipfile.ZipFile(bundle.path) as archive:
        assert archive.read("app/current.py") == (revision / "app/server.py").read_bytes()


def test_a_symlink_leaving_the_revision_is_rejected(revision: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "secret.txt", "secret")
    (revision / "app/secret.txt").symlink_to(outside)
    with pytest.raises(AppSpecError) as caught:
        bundle_of(revision, tmp_path / "out")
    assert [p.file for p in caught.value.problems] == ["app/secret.txt"]


def test_a_dangling_symlink_is_rejected(revision: Path, tmp_path: Path) -> None:
    (revision / "app/gone.txt").symlink_to("nowhere.txt")
    with pytest.raises(AppSpecError, match="dangling"):
        bundle_of(revision, tmp_path / "out")


def test_a_symlink_to_a_directory_is_rejected(revision: Path, tmp_path: Path) -> None:
    (revision / "assets").symlink_to("app/static")
    with pytest.raises(AppSpecError, match="symlink to a directory"):
        bundle_of(revision, tmp_path / "out")


def test_a_symlink_loop_is_rejected_naming_the_link(revision: Path, tmp_path: Path) -> None:
    # Given a link to itself, beside a dangling one
    (revision / "app/loop").symlink_to("loop")
    (revision / "app/gone.txt").symlink_to("nowhere.txt")
    # When it is bundled, Then both are refused in one run (exit 2), the loop named, not a RuntimeError
    with pytest.raises(AppSpecError) as caught:
        bundle_of(revision, tmp_path / "out")
    assert {str(problem) for problem in caught.value.problems} == {
        "app/loop: is a symlink loop (to loop); it never reaches a file",
        "app/gone.txt: is a dangling symlink (to nowhere.txt)",
    }


def test_a_symlink_to_git_config_is_refused_and_its_content_never_bundled(revision: Path, tmp_path: Path) -> None:
    # Given a token in .git/config (always left out) and a link to it inside the revision
    write(revision, ".git/config", "[http]\n  extraheader = AUTHORIZATION: token secret\n")
    (revision / "app/settings.cfg").symlink_to("../.git/config")
    out = tmp_path / "out"
    # When it is bundled
    with pytest.raises(AppSpecError) as caught:
        bundle_of(revision, out)
    # Then the link is refused naming its target, and nothing is written
    [problem] = caught.value.problems
    assert problem.file == "app/settings.cfg"
    assert "symlink to .git/config, which the bundle leaves out" in problem.message
    assert "list the link in .deployignore" in problem.message
    assert not out.exists()


@pytest.mark.parametrize("rule", ["private/", "private/key.pem", "*.pem"])
def test_a_symlink_to_a_file_deployignore_excludes_is_refused(revision: Path, tmp_path: Path, rule: str) -> None:
    # Given a file excluded by .deployignore (by its directory, its path or a pattern) and a link to it
    write(revision, "private/key.pem", "-----BEGIN PRIVATE KEY-----\n")
    write(revision, ".deployignore", f"{rule}\n")
    (revision / "app/key").symlink_to("../private/key.pem")
    # When it is bundled, Then the link is refused with its target
    with pytest.raises(AppSpecError, match=r"app/key: is a symlink to private/key\.pem, which the bundle leaves out"):
        bundle_of(revision, tmp_path / "out")


def test_a_symlink_to_an_excluded_file_listed_in_deployignore_too_is_left_out(revision: Path, tmp_path: Path) -> None:
    # Given the link itself listed in .deployignore, as the hint says
    write(revision, ".git/config", "token")
    (revision / "app/settings.cfg").symlink_to("../.git/config")
    write(revision, ".deployignore", "app/settings.cfg\n")
    # Then the bundle is built without it
    assert "app/settings.cfg" not in bundle_of(revision, tmp_path / "out").files


def test_an_ignored_symlink_is_not_looked_at(revision: Path, tmp_path: Path) -> None:
    (revision / "app/gone.txt").symlink_to("nowhere.txt")
    write(revision, ".deployignore", "gone.txt\n")
    assert "app/gone.txt" not in bundle_of(revision, tmp_path / "out").files


def test_an_invalid_appspec_writes_no_bundle(revision: Path, tmp_path: Path) -> None:
    # Given
    write(revision, "appspec.yml", APPSPEC.replace("linux", "windows"))
    out = tmp_path / "out"
    # When
    with pytest.raises(AppSpecError):
        bundle_of(revision, out)
    # Then
    assert not out.exists() or list(out.iterdir()) == []


def test_a_hook_script_left_out_by_deployignore_fails_the_build(revision: Path, tmp_path: Path) -> None:
    write(revision, ".deployignore", "scripts/\n")
    with pytest.raises(AppSpecError) as caught:
        bundle_of(revision, tmp_path / "out")
    assert [p.key for p in caught.value.problems] == ["hooks.ApplicationStart[0].location"]


def test_the_bundle_carries_the_validated_appspec(revision: Path, tmp_path: Path) -> None:
    bundle = bundle_of(revision, tmp_path / "out")
    assert bundle.appspec.hooks["ApplicationStart"][0].timeout_seconds == 60


def test_a_copied_revision_gives_the_same_zip(revision: Path, tmp_path: Path) -> None:
    # Given a copy (new inodes, new times, same content)
    copy = tmp_path / "copy"
    shutil.copytree(revision, copy)
    # When / Then
    assert bundle_of(copy, tmp_path / "out1").sha256 == bundle_of(revision, tmp_path / "out2").sha256
