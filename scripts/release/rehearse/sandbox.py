"""The sandbox that stands for the instance: re-rooting paths under it, refusing escapes, DownloadBundle, Install
with its permissions, and removing the sandbox at the end."""

from __future__ import annotations

import contextlib
import fnmatch
import grp
import os
import pwd
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from release.appspec import AppSpec, revision_files
from release.errors import ExitCode, ReleaseError
from release.rehearse.state import RunState


class SandboxEscape(ReleaseError):
    """A path would leave the sandbox (`..`, or a symlink pointing out of it)."""

    exit_code = ExitCode.DEPLOYMENT_FAILED


def _inside(root: Path, instance_path: str) -> Path:
    """`instance_path` (absolute on the instance) re-rooted under `root`; refuses to leave `root`.

    The check is done on the resolved path, so a symlink created by an earlier hook (say `opt -> /etc`) is caught.
    """
    relative = instance_path.lstrip("/")
    if ".." in Path(relative).parts:
        raise SandboxEscape(f"'{instance_path}' contains '..' and would leave the sandbox")
    candidate = root / relative
    if not candidate.resolve().is_relative_to(root.resolve()):
        raise SandboxEscape(f"'{instance_path}' resolves to {candidate.resolve()}, outside the sandbox")
    return candidate


def _check_target(root: Path, target: Path) -> None:
    """Refuse to write `target` when it (or a parent) is a symlink leading out of `root`, or a symlink itself."""
    if target.is_symlink():
        raise SandboxEscape(f"{target} is a symlink; the rehearsal does not write through symlinks")
    if not target.parent.resolve().is_relative_to(root.resolve()):
        raise SandboxEscape(f"{target.parent} resolves to {target.parent.resolve()}, outside the sandbox")


def download_bundle(run: RunState) -> str:
    # Only what `bundle` would put in the zip reaches the instance; copying exactly that catches a script that
    # works locally but is excluded by .deployignore. Symlinks to files inside the revision become their content.
    files = revision_files(run.options.app_dir)
    for relative in files:
        target = run.archive / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run.options.app_dir / relative, target)
    return f"{len(files)} files copied to the deployment archive"


def install(run: RunState, appspec: AppSpec) -> str:
    installed: set[Path] = set()
    overwrite = appspec.file_exists_behavior
    copied = retained = 0
    for mapping in appspec.files:
        source = run.archive / mapping.source if mapping.source else run.archive
        destination = _inside(run.root, mapping.destination)
        # A file source lands inside the destination folder under its own name; a directory source's content does.
        pairs = (
            [(source, destination / source.name)]
            if source.is_file()
            else [
                (path, destination / path.relative_to(source)) for path in sorted(source.rglob("*")) if path.is_file()
            ]
        )
        for origin, target in pairs:
            _make_dirs(run.root, target.parent, installed)
            _check_target(run.root, target)
            if target.exists():
                if overwrite == "RETAIN":
                    retained += 1
                    installed.add(target)
                    continue
                if overwrite != "OVERWRITE":
                    # The agent's default (DISALLOW): "a specified file already exists at this location".
                    raise SandboxEscape(
                        f"{_instance_path(run.root, target)} already exists and file_exists_behavior is "
                        f"{overwrite or 'DISALLOW (default)'}: the deployment fails as on an instance",
                    )
            shutil.copy2(origin, target)
            installed.add(target)
            copied += 1
    _apply_permissions(run, appspec, installed)
    extra = f", {retained} kept (RETAIN)" if retained else ""
    return f"{copied} files installed under {run.root}{extra}"


def _make_dirs(root: Path, directory: Path, installed: set[Path]) -> None:
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    if not current.resolve().is_relative_to(root.resolve()):
        raise SandboxEscape(f"{current} resolves to {current.resolve()}, outside the sandbox")
    for path in reversed(missing):
        path.mkdir()
        installed.add(path)


def _instance_path(root: Path, path: Path) -> str:
    return "/" + path.relative_to(root).as_posix()


def _apply_permissions(run: RunState, appspec: AppSpec, installed: set[Path]) -> None:
    is_root = os.geteuid() == 0
    for rule in appspec.permissions:
        obj = _inside(run.root, rule.object)
        if not obj.exists():
            run.notes.append(f"permissions: {rule.object} was not installed; rule skipped")
            continue
        # "permissions ... applied to the files and directories in the files section after they are copied": only
        # what this deployment installed, matched by `pattern` relative to the object, minus `except`.
        if obj.is_file():
            targets = [obj] if obj in installed else []
        else:
            targets = []
            for path in sorted(installed):
                if not path.is_relative_to(obj) or path == obj:
                    continue
                relative = path.relative_to(obj).as_posix()
                if not _glob(relative, rule.pattern) or any(_glob(relative, pattern) for pattern in rule.except_):
                    continue
                kind = "directory" if path.is_dir() else "file"
                if kind in rule.type:
                    targets.append(path)
        for path in targets:
            if rule.mode is not None:
                os.chmod(path, int(rule.mode, 8))
        if (rule.owner or rule.group) and targets:
            _apply_ownership(run, rule.object, rule.owner, rule.group, targets, is_root=is_root)


def _apply_ownership(
    run: RunState, obj: str, owner: str | None, group: str | None, targets: Sequence[Path], *, is_root: bool
) -> None:
    wanted = f"{owner or '-'}:{group or '-'}"
    if not is_root:
        run.notes.append(f"permissions: owner/group {wanted} on {obj} skipped (not running as root)")
        return
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        run.notes.append(f"permissions: owner/group {wanted} on {obj} skipped (no such user or group here)")
        return
    for path in targets:
        os.chown(path, uid, gid, follow_symlinks=False)


def _glob(relative: str, pattern: str) -> bool:
    # The agent treats "**" as "everything below the object"; other patterns are shell globs on the relative path.
    return (
        pattern == "**" or fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(Path(relative).name, pattern)
    )


def remove_sandbox(sandbox: Path) -> None:
    def make_writable(function: Callable[..., Any], path: str, _excinfo: Any) -> None:
        # A revision may install read-only directories (mode 555): give the owner write access back, then retry.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
        with contextlib.suppress(OSError):
            function(path)

    # `onerror` rather than 3.12's `onexc`: the project targets Python 3.11.
    shutil.rmtree(sandbox, onerror=make_writable)
