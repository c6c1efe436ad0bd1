"""The Install event planned the way the CodeDeploy agent plans it: every copy and permission change first, then run.

The agent (aws/aws-codedeploy-agent 1.8.1, `installer.rb` and `install_instruction.rb`) never copies as it goes. It
walks the appspec's `files` in order and builds the complete list of instructions, then walks `permissions` and adds
theirs, and only then executes the list, writing each installed path to a cleanup file. Planning fails the Install
event, before anything is copied, on any of these (`PLAN_RULES` names each):

* two sources for one destination — whatever `file_exists_behavior` says (`two-sources`);
* a file copied where the plan makes a directory, or a directory made where the plan copies a file
  (`file-vs-directory`);
* a file that already exists at a destination on the instance and was not installed by the previous deployment, when
  `file_exists_behavior` is DISALLOW, the default (`file-exists`); OVERWRITE copies, RETAIN plans nothing for it;
* a permission whose object is a file being copied, with type `file` and a `pattern` other than `**` or an `except`
  (`file-pattern`), or a default ACL (`d:`) on a file (`file-default-acl`);
* two permission rules reaching the same path (`permission-twice`).

Matching follows the agent too: a permission whose object is a directory applies to what the plan copies or creates
below it (never the object itself); `pattern: "**"` reaches every depth, any other pattern (even `*`) only the direct
children, and its only wildcard is `*`; `except` is matched the same way. A rule whose object the plan neither copies
nor creates, and that is not an existing directory on the instance, is silently ignored. Missing parent directories
of a destination are created (and so may receive `directory` permissions); existing ones are left alone.

The planner only reads: the revision (`Archive`) and what already exists on the instance (`Instance`). The validator
plans against a fresh instance (`FRESH_INSTANCE`) before upload; the rehearsal plans against its sandbox at Install
time, exactly when the agent does, and executes the plan.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "FRESH_INSTANCE",
    "PLAN_RULES",
    "SYSTEM_DIRECTORIES",
    "Archive",
    "Copy",
    "FreshInstance",
    "InstallPlan",
    "Instance",
    "MakeDirectory",
    "PlanError",
    "SetPermissions",
    "expand_path",
    "is_default_ace",
    "plan_install",
]

# Each rule the planner enforces, by the id its `PlanError` carries (docs/agent-conformance.md lists them).
PLAN_RULES: dict[str, str] = {
    "two-sources": "two sources may not be installed to one destination, whatever file_exists_behavior says",
    "file-vs-directory": "one path may not be both a file the plan copies and a directory it creates",
    "file-exists": "with file_exists_behavior DISALLOW (the default) no destination file may already exist",
    "file-pattern": "a permission whose object is a file may not set pattern or except",
    "file-default-acl": "a default ACL (d:...) applies to directories only",
    "permission-twice": "no path may receive permissions from two rules",
}


class PlanError(Exception):
    """The agent would fail the Install event while planning; `rule` is a key of `PLAN_RULES`, `key` the appspec key."""

    def __init__(self, rule: str, key: str, message: str) -> None:
        """Create the error with the agent's own `message`."""
        super().__init__(message)
        self.rule = rule
        self.key = key
        self.message = message


class PermissionLike(Protocol):
    """What the planner needs of a permission rule (`release.appspec.PermissionRule` is one)."""

    @property
    def object(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def except_(self) -> tuple[str, ...]: ...
    @property
    def type(self) -> tuple[str, ...]: ...
    @property
    def acls(self) -> tuple[str, ...]: ...


class MappingLike(Protocol):
    """What the planner needs of a `files` entry (`release.appspec.FileMapping` is one)."""

    @property
    def source(self) -> str: ...
    @property
    def destination(self) -> str: ...


class Instance(Protocol):
    """What already exists on the instance, by absolute instance path."""

    def exists(self, path: str) -> bool: ...
    def is_dir(self, path: str) -> bool: ...


# The directories every Amazon Linux instance has (the Filesystem Hierarchy Standard's, and the common ones below).
SYSTEM_DIRECTORIES = frozenset(
    """
    / /bin /boot /dev /etc /home /lib /lib64 /media /mnt /opt /proc /root /run /sbin /srv /sys /tmp /usr /var
    /usr/bin /usr/lib /usr/lib64 /usr/local /usr/local/bin /usr/local/lib /usr/sbin /usr/share
    /var/lib /var/log /var/tmp /etc/systemd /etc/systemd/system
    """.split()  # noqa: SIM905  # one path list that reads as a list of paths
)


@dataclass(frozen=True)
class FreshInstance:
    """A new instance as the validator imagines it: the system directories (`/opt`, `/var`, `/usr/local`, ...)
    exist, nothing the revision installs does. Only the file-exists rule and directory permissions depend on this."""

    def exists(self, path: str) -> bool:
        """Whether `path` exists on a fresh instance: it is one of the system directories."""
        return expand_path(path) in SYSTEM_DIRECTORIES

    def is_dir(self, path: str) -> bool:
        """Same as `exists`: everything that exists on a fresh instance here is a directory."""
        return self.exists(path)


FRESH_INSTANCE = FreshInstance()


@dataclass(frozen=True)
class Archive:
    """The unpacked revision as the agent sees it: its files, as revision-relative POSIX paths."""

    files: frozenset[str]
    directories: frozenset[str] = field(init=False)
    _children: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children: dict[str, set[str]] = {}
        for name in self.files:
            parent, _, base = name.rpartition("/")
            siblings = children.get(parent)
            if siblings is not None:
                siblings.add(base)  # a directory seen before: its ancestors are registered already
                continue
            children[parent] = {base}
            while parent:
                above, _, directory = parent.rpartition("/")
                known = above in children
                children.setdefault(above, set()).add(directory)
                if known:
                    break
                parent = above
        object.__setattr__(self, "directories", frozenset(children))
        object.__setattr__(self, "_children", {key: tuple(sorted(names)) for key, names in children.items()})

    @classmethod
    def of(cls, files: Collection[str]) -> Archive:
        """The archive holding `files`."""
        return cls(frozenset(files))

    def is_dir(self, relative: str) -> bool:
        """Whether `relative` ("" is the root) is a directory of the revision."""
        return relative in self.directories

    def entries(self, relative: str) -> tuple[str, ...]:
        """The names directly inside directory `relative`, sorted (the agent's order is the file system's)."""
        return self._children.get(relative, ())


@dataclass(frozen=True)
class Copy:
    """Copy revision file `source` (relative to the archive) to instance path `destination`."""

    source: str
    destination: str


@dataclass(frozen=True)
class MakeDirectory:
    """Create directory `path` on the instance."""

    path: str


@dataclass(frozen=True)
class SetPermissions:
    """Apply permission rule number `rule_index` (its mode, ACLs, context, owner and group) to `path`."""

    path: str
    rule_index: int


Instruction = Copy | MakeDirectory | SetPermissions


@dataclass(frozen=True)
class InstallPlan:
    """The instructions in the order the agent executes them, and the destinations kept as they are (RETAIN)."""

    instructions: tuple[Instruction, ...]
    retained: tuple[str, ...] = ()

    @property
    def copies(self) -> tuple[Copy, ...]:
        """The copy instructions."""
        return tuple(item for item in self.instructions if isinstance(item, Copy))

    @property
    def directories(self) -> tuple[MakeDirectory, ...]:
        """The directories created."""
        return tuple(item for item in self.instructions if isinstance(item, MakeDirectory))


def expand_path(path: str) -> str:
    """`path` normalised like Ruby's File.expand_path for an absolute path: no `.`, `..`, doubled or trailing `/`."""
    if path[:1] == "/" and "//" not in path and "/." not in path and (path[-1] != "/" or path == "/"):
        return path  # normal already (the planner asks about each of a revision's files several times)
    normal = posixpath.normpath("/" + path.lstrip("/")) if path.startswith("/") else posixpath.normpath(path)
    return "/" + normal.lstrip("/") if normal.startswith("/") else normal


def is_default_ace(ace: str) -> bool:
    """Whether an ACL entry (`[d[efault]:][u|g|m|o]:[name]:perms`) is a default entry."""
    parts = ace.split(":")
    return len(parts) >= 3 and parts[0] in ("d", "default")


def simple_glob(name: str, pattern: str) -> bool:
    """The agent's glob for `pattern`/`except`: one path level (no `/` in `name`), `*` is the only wildcard."""
    if "/" in name:
        return False
    regex = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


class _Builder:
    """The agent's CommandBuilder: instructions in order, and the checks that make a plan impossible."""

    def __init__(self) -> None:
        self.instructions: list[Instruction] = []
        self.copy_targets: dict[str, str] = {}
        self.mkdir_targets: dict[str, None] = {}  # insertion-ordered set
        self.permission_targets: set[str] = set()
        self.retained: list[str] = []

    def copy(self, source: str, destination: str, key: str) -> None:
        destination = expand_path(destination)
        if destination in self.copy_targets:
            raise PlanError(
                "two-sources",
                key,
                f"two sources, '{self.copy_targets[destination]}' and '{source}', are installed to the same "
                f"destination {destination}; the agent fails Install whatever file_exists_behavior says "
                "(rule: one source per destination)",
            )
        if destination in self.mkdir_targets:
            raise PlanError(
                "file-vs-directory",
                key,
                f"'{source}' is installed as the file {destination}, where the plan also creates a directory "
                "(rule: a path is either a file or a directory)",
            )
        self.instructions.append(Copy(source, destination))
        self.copy_targets[destination] = source

    def mkdir(self, path: str, key: str) -> None:
        path = expand_path(path)
        if path in self.copy_targets:
            raise PlanError(
                "file-vs-directory",
                key,
                f"the directory {path} is to be created where '{self.copy_targets[path]}' is installed as a file "
                "(rule: a path is either a file or a directory)",
            )
        if path not in self.mkdir_targets:
            self.instructions.append(MakeDirectory(path))
            self.mkdir_targets[path] = None

    def set_permissions(self, path: str, rule_index: int, key: str) -> None:
        path = expand_path(path)
        if path in self.permission_targets:
            raise PlanError(
                "permission-twice",
                key,
                f"{path} receives permissions from more than one rule; the agent fails Install "
                "(rule: each installed path may match at most one permissions entry)",
            )
        self.permission_targets.add(path)
        self.instructions.append(SetPermissions(path, rule_index))


def plan_install(
    files: Sequence[MappingLike],
    permissions: Sequence[PermissionLike],
    archive: Archive,
    *,
    instance: Instance = FRESH_INSTANCE,
    file_exists_behavior: str | None = None,
) -> InstallPlan:
    """Plan the Install event of a revision as the agent does; raises `PlanError` where the agent fails Install.

    `file_exists_behavior` None means the deployment's default, DISALLOW.
    """
    builder = _Builder()
    behavior = file_exists_behavior or "DISALLOW"
    for index, mapping in enumerate(files):
        planner = _CopyPlanner(builder, archive, instance, behavior, f"files[{index}]")
        planner.plan(mapping.source, mapping.destination)
    for index, rule in enumerate(permissions):
        _plan_permission(builder, instance, rule, index)
    return InstallPlan(tuple(builder.instructions), tuple(builder.retained))


@dataclass
class _CopyPlanner:
    builder: _Builder
    archive: Archive
    instance: Instance
    behavior: str
    key: str

    def plan(self, source: str, destination: str) -> None:
        if self.archive.is_dir(source):
            self._missing_ancestors(destination)
            self._directory(source, destination)
        else:
            # A file source lands inside the destination directory, under its own name.
            target = posixpath.join(destination, posixpath.basename(source))
            self._missing_ancestors(target)
            self._file(source, target)

    def _missing_ancestors(self, destination: str) -> None:
        missing: list[str] = []
        parent = posixpath.dirname(expand_path(destination))
        while parent not in (".", "/", "") and not self.instance.exists(parent):
            missing.insert(0, parent)
            parent = posixpath.dirname(parent)
        for directory in missing:
            self.builder.mkdir(directory, self.key)

    def _directory(self, source: str, destination: str) -> None:
        if not self.instance.is_dir(destination):
            self.builder.mkdir(destination, self.key)
        for name in self.archive.entries(source):
            entry = f"{source}/{name}" if source else name
            target = posixpath.join(destination, name)
            if self.archive.is_dir(entry):
                self._directory(entry, target)
            else:
                self._file(entry, target)

    def _file(self, source: str, destination: str) -> None:
        if not self.instance.exists(destination) or self.behavior == "OVERWRITE":
            self.builder.copy(source, destination, self.key)
        elif self.behavior == "RETAIN":
            self.builder.retained.append(expand_path(destination))
        else:
            raise PlanError(
                "file-exists",
                self.key,
                f"a file already exists at {expand_path(destination)} and was not installed by the previous "
                "deployment; with file_exists_behavior DISALLOW (the default) the agent fails Install "
                "(set OVERWRITE or RETAIN, or remove the file in BeforeInstall)",
            )


def _plan_permission(builder: _Builder, instance: Instance, rule: PermissionLike, index: int) -> None:
    key = f"permissions[{index}]"
    target = expand_path(rule.object)
    if target in builder.copy_targets:
        if "file" in rule.type:
            _check_file_rule(rule, key)
            builder.set_permissions(target, index, key)
        return
    if target in builder.mkdir_targets or instance.is_dir(target):
        matches: list[str] = []
        if "file" in rule.type:
            for path in builder.copy_targets:
                if _matches(rule, path):
                    if any(is_default_ace(ace) for ace in rule.acls):
                        raise _default_acl_error(key, path)
                    matches.append(path)
        if "directory" in rule.type:
            matches.extend(path for path in builder.mkdir_targets if _matches(rule, path))
        for path in matches:
            builder.set_permissions(path, index, key)


def _check_file_rule(rule: PermissionLike, key: str) -> None:
    if rule.pattern != "**":
        raise PlanError(
            "file-pattern",
            key,
            f"object {rule.object} is a file the revision installs, so pattern '{rule.pattern}' is invalid; the agent "
            "fails Install (rule: pattern and except apply to directory objects only)",
        )
    if rule.except_:
        raise PlanError(
            "file-pattern",
            key,
            f"object {rule.object} is a file the revision installs, so except {list(rule.except_)} is invalid; the "
            "agent fails Install (rule: pattern and except apply to directory objects only)",
        )
    if any(is_default_ace(ace) for ace in rule.acls):
        raise _default_acl_error(key, expand_path(rule.object))


def _default_acl_error(key: str, path: str) -> PlanError:
    return PlanError(
        "file-default-acl",
        key,
        f"a default ACL (d:...) would be applied to the file {path}; the agent fails Install "
        "(rule: default ACLs apply to directories only)",
    )


def _matches(rule: PermissionLike, path: str) -> bool:
    base = expand_path(rule.object)
    base = base if base.endswith("/") else base + "/"
    if not path.startswith(base):
        return False
    relative = path[len(base) :]
    if rule.pattern != "**" and not simple_glob(relative, rule.pattern):
        return False
    return not any(simple_glob(relative, pattern) for pattern in rule.except_)
