"""Bad input from the file system (issue 12 §6): nothing is dropped silently, every refusal is exit 2 naming the path.

The tests run as root in CI containers, where chmod cannot make a file unreadable, so an unreadable entry is
simulated by making the one OS call that reads it fail with PermissionError, as it does for an ordinary user.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from release import bundle as bundle_module
from release import cli
from release.errors import ExitCode

from tests.release.support import refuse_opening, write_revision


def _bundle(revision: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["bundle", "--app-dir", str(revision), "--bundle-dir", str(tmp_path / "out")], env={})
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _uncreatable(tmp_path: Path) -> Path:
    """A directory path below a regular file: mkdir fails with ENOTDIR for every user, root included."""
    (tmp_path / "plain-file").write_text("x\n")
    return tmp_path / "plain-file" / "out"


def test_an_unreadable_directory_stops_the_bundle_with_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a revision whose directory app/ cannot be listed
    revision = write_revision(tmp_path / "revision")
    locked = str(revision / "app")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then nothing is left out silently: exit 2 naming the directory, and no bundle
    assert code == ExitCode.BAD_INPUT
    assert "app: cannot be read (Permission denied)" in text
    assert not list((tmp_path / "out").glob("*.zip"))


def test_an_unreadable_file_stops_the_bundle_with_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a revision whose app/index.html cannot be opened
    revision = write_revision(tmp_path / "revision")
    refuse_opening(monkeypatch, "app/index.html")
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then exit 2 naming the file
    assert code == ExitCode.BAD_INPUT
    assert "app/index.html: cannot be read (Permission denied)" in text


def test_an_unreadable_appspec_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a revision whose appspec.yml cannot be read
    revision = write_revision(tmp_path / "revision")
    real_read_text = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.name == "appspec.yml":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then exit 2 naming appspec.yml, no traceback
    assert code == ExitCode.BAD_INPUT
    assert "appspec.yml: cannot be read (Permission denied)" in text


def test_a_file_name_that_is_not_utf8_is_refused_with_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file whose name is Latin-1 bytes, not UTF-8
    revision = write_revision(tmp_path / "revision")
    os.close(os.open(os.fsencode(revision / "app") + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then exit 2, the name shown with its byte escaped
    assert code == ExitCode.BAD_INPUT
    assert "app/caf\\xe9.txt: has a name that is not valid UTF-8" in text


@pytest.mark.parametrize("name", ["two\nlines.txt", "carriage\rreturn.txt"])
def test_a_file_name_with_a_line_break_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # Given a file whose name holds a line break
    revision = write_revision(tmp_path / "revision")
    (revision / "app" / name).write_text("x\n")
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then exit 2: the agent's one-path-per-line cleanup list would be corrupted
    assert code == ExitCode.BAD_INPUT
    assert "has a line break in its name" in text
    assert name.replace("\n", "\\n").replace("\r", "\\r") in text


def test_an_app_dir_that_cannot_be_entered_is_exit_2_naming_the_deployignore_looked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given `chmod 000` on the revision directory itself: looking at anything in it fails (simulated, tests run as root)
    revision = write_revision(tmp_path / "revision").resolve()
    real_stat = Path.stat

    def stat(self: Path, *args: Any, **kwargs: Any) -> os.stat_result:
        if self.parent == revision:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then exit 2 naming the path, no traceback
    assert code == ExitCode.BAD_INPUT
    assert f"{revision}/.deployignore: cannot be read (Permission denied)" in text
    assert "Traceback" not in text


def test_a_deployignore_that_is_not_utf8_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    revision = write_revision(tmp_path / "revision")
    (revision / ".deployignore").write_bytes(b"caf\xe9\n")
    code, text = _bundle(revision, tmp_path, capsys)
    assert code == ExitCode.BAD_INPUT
    assert ".deployignore: is not UTF-8 text" in text


def test_a_bundle_dir_that_cannot_be_created_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a --bundle-dir no user, root included, can create
    revision = write_revision(tmp_path / "revision")
    out = _uncreatable(tmp_path)
    # When bundling
    code = cli.main(["bundle", "--app-dir", str(revision), "--bundle-dir", str(out)], env={})
    captured = capsys.readouterr()
    # Then exit 2 naming the directory and what to do
    assert code == ExitCode.BAD_INPUT
    assert f"{out}: cannot be written (Not a directory)" in captured.err
    assert "--bundle-dir" in captured.err


def test_a_full_disk_while_writing_the_bundle_is_exit_2_and_leaves_no_partial_zip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an output directory whose disk fills up while the zip is written (simulated at the writer)
    revision = write_revision(tmp_path / "revision")

    def full_disk(*_: Any, **__: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bundle_module, "write_zip", full_disk)
    # When bundling
    code, text = _bundle(revision, tmp_path, capsys)
    # Then exit 2 naming the bundle's path, and neither the zip nor its temporary file is left
    assert code == ExitCode.BAD_INPUT
    assert "cannot be written (No space left on device)" in text
    assert list((tmp_path / "out").iterdir()) == []


def test_rehearse_refuses_an_unreadable_file_up_front_as_bundle_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a revision with secret/f that cannot be opened, for bundle's reader and rehearse's check alike
    revision = write_revision(tmp_path / "revision")
    (revision / "secret").mkdir()
    (revision / "secret" / "f").write_text("x\n")
    refuse_opening(monkeypatch, "secret/f")
    # When it is bundled, and when it is rehearsed
    bundled, bundle_text = _bundle(revision, tmp_path, capsys)
    rehearsed = cli.main(["rehearse", "--app-dir", str(revision), "--health-check-port", "1"], env={})
    rehearse_text = capsys.readouterr()
    # Then both refuse it with exit 2 and the same line, and the rehearsal ran no event
    assert bundled == rehearsed == ExitCode.BAD_INPUT
    line = "secret/f: cannot be read (Permission denied)"
    assert line in bundle_text
    assert line in rehearse_text.out + rehearse_text.err
    assert "DownloadBundle" not in rehearse_text.out


def test_rehearse_refuses_a_report_dir_it_cannot_write_before_running_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a --report-dir nobody can create
    revision = write_revision(tmp_path / "revision")
    report_dir = _uncreatable(tmp_path)
    # When rehearsing
    code = cli.main(["rehearse", "--app-dir", str(revision), "--report-dir", str(report_dir)], env={})
    captured = capsys.readouterr()
    # Then exit 2 naming the directory, no event ran and no traceback
    assert code == ExitCode.BAD_INPUT
    assert f"--report-dir {report_dir} cannot be written: Not a directory" in captured.out + captured.err
    assert "BeforeInstall" not in captured.out
