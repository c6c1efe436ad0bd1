"""The sandbox that stands for the instance: re-rooting paths under it, refusing escapes, DownloadBundle, Install
with its permissions, and removing the sandbox at the end."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from release.appspec import AppSpec, revision_files
from release.errors import ExitCode, ReleaseError
from release.install_plan import Archive, Copy, Instruction, MakeDirectory, PlanError, plan_install
from release.rehearse.state import RunState


class SandboxEscape(ReleaseError):
    """A path would leave the sandbox (`..`, or a symlink pointing out of it)."""

    exit_code = ExitCode.DEPLOYMENT_FAILED


class InstallFailed(ReleaseError):
    """The agent would fail the Install event: an impossible plan, or a step of it that cannot be carried out."""

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


@dataclass(frozen=True)
class _Sandbox:
    """The instance as the planner sees it: instance paths re-rooted under the sandbox root."""

    root: Path

    def exists(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).exists()

    def is_dir(self, path: str) -> bool:
        return (self.root / path.lstrip("/")).is_dir()


def install(run: RunState, appspec: AppSpec) -> str:
    """Install as the agent does: plan every copy and permission change against the sandbox, then execute the plan.

    Raises `InstallFailed` with the agent's reason when the plan is impossible (nothing is copied then) or a step fails.
    """
    archive = Archive.of(revision_files(run.options.app_dir))
    try:
        plan = plan_install(
            appspec.files,
            appspec.permissions,
            archive,
            instance=_Sandbox(run.root),
            file_exists_behavior=appspec.file_exists_behavior,
        )
    except PlanError as exc:
        raise InstallFailed(f"{exc.message} ({exc.key} of appspec.yml; nothing was copied)") from exc
    cleanup = run.deployment_instructions / f"{run.deployment_group_id}-cleanup"
    cleanup.parent.mkdir(parents=True, exist_ok=True)
    with cleanup.open("w", encoding="utf-8") as record:
        for instruction in plan.instructions:
            _execute(run, appspec, instruction, record)
    kept = f", {len(plan.retained)} kept (RETAIN)" if plan.retained else ""
    return (
        f"{len(plan.copies)} files and {len(plan.directories)} directories installed under {run.root}{kept} "
        f"({len(plan.instructions)} instructions planned before the first copy, as the agent plans them)"
    )


def _execute(run: RunState, appspec: AppSpec, instruction: Instruction, record: TextIO) -> None:
    """Run one planned instruction in the sandbox; installed paths go to the cleanup record, one per line."""
    if isinstance(instruction, MakeDirectory):
        target = _inside(run.root, instruction.path)
        _check_target(run.root, target)
        target.mkdir()
        record.write(f"{instruction.path}\n")
    elif isinstance(instruction, Copy):
        target = _inside(run.root, instruction.destination)
        _check_target(run.root, target)
        record.write(f"{instruction.destination}\n")
        shutil.copy2(run.archive / instruction.source, target)
    else:
        rule = appspec.permissions[instruction.rule_index]
        target = _inside(run.root, instruction.path)
        if rule.mode is not None:
            os.chmod(target, int(rule.mode, 8), follow_symlinks=False)
        if rule.acls or rule.context_type:
            note = f"permissions: ACLs/SELinux context on {instruction.path} not applied (not reproduced here)"
            if note not in run.notes:
                run.notes.append(note)
        if rule.owner or rule.group:
            _apply_ownership(run, instruction.path, rule.owner, rule.group, target)


def _apply_ownership(run: RunState, path: str, owner: str | None, group: str | None, target: Path) -> None:
    wanted = f"{owner or '-'}:{group or '-'}"
    try:
        uid = pwd.getpwnam(owner).pw_uid if owner else -1
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError as exc:
        # The agent's chown looks the names up (Etc.getpwnam / getgrnam) and fails Install when one is unknown.
        raise InstallFailed(
            f"cannot set owner/group {wanted} on {path}: no such user or group on this machine; the agent fails "
            "Install the same way on an instance without it"
        ) from exc
    if os.geteuid() != 0:
        note = f"permissions: owner/group {wanted} not applied (the rehearsal does not run as root)"
        if note not in run.notes:
            run.notes.append(note)
        return
    os.chown(target, uid, gid, follow_symlinks=False)


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
