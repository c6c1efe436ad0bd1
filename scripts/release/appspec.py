"""Parse and validate a revision's appspec.yml for an EC2 blue/green deployment, before anything leaves the machine.

The rules are those of the AppSpec reference for EC2/On-Premises deployments and of the CodeDeploy agent that reads
the file on the instance (aws/aws-codedeploy-agent, `application_specification/*.rb`). Validation runs against the set
of files that will actually be bundled (see `revision_files`), so a script excluded by `.deployignore` is reported
here rather than on the instance. Every problem is collected and raised at once as an `AppSpecError`.

Errors are only what makes the deployment fail on the instance (the agent refuses the appspec, a script cannot be
found or cannot start, Install cannot be planned); what the agent accepts but is probably not what the author meant
(an unknown key it ignores, an event without scripts, a script without the execute bit, which it makes executable) is
a warning on the returned `AppSpec`, or an error with `strict=True`. The Install plan is computed by
`release.install_plan`, the planner the rehearsal's Install executes, against a fresh instance.

`load_appspec` is the one validator: `release`, `bundle` and `rehearse` all go through it.
"""

from __future__ import annotations

import difflib
import errno
import math
import os
import re
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, TypeVar

import pathspec
import yaml

from release.errors import AppSpecError, Problem
from release.install_plan import Archive, PlanError, plan_install

__all__ = [
    "APPSPEC_FILE",
    "BLUE_EVENT_ORDER",
    "DEPLOYIGNORE_FILE",
    "GREEN_EVENT_ORDER",
    "MAX_HOOK_TIMEOUT_SECONDS",
    "RESERVED_EVENTS",
    "SCRIPTABLE_EVENTS",
    "AppSpec",
    "AppSpecError",
    "FileMapping",
    "HookScript",
    "PermissionRule",
    "Problem",
    "load_appspec",
    "revision_files",
]

APPSPEC_FILE = "appspec.yml"
DEPLOYIGNORE_FILE = ".deployignore"

# Lifecycle events on a replacement (green) instance, in the order CodeDeploy runs them (AppSpec reference, "Lifecycle
# event hook availability" and "Run order of hooks in a deployment", blue/green). ApplicationStop runs the scripts of
# the revision deployed last on that instance, so it does not run on an instance's first deployment.
GREEN_EVENT_ORDER: tuple[str, ...] = (
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)
# Lifecycle events on an original (blue) instance, in order.
BLUE_EVENT_ORDER: tuple[str, ...] = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
# Reserved for the CodeDeploy agent: "cannot be used to run scripts".
RESERVED_EVENTS: frozenset[str] = frozenset({"DownloadBundle", "Install", "AllowTraffic", "BlockTraffic"})
SCRIPTABLE_EVENTS: frozenset[str] = frozenset(GREEN_EVENT_ORDER + BLUE_EVENT_ORDER) - RESERVED_EVENTS
_EVENT_RANK = {event: rank for rank, event in enumerate(GREEN_EVENT_ORDER + BLUE_EVENT_ORDER)}

# "3600 seconds (1 hour) is the maximum amount of time allowed for script execution for each deployment lifecycle
# event"; a script without `timeout` gets that default (agent: `@timeout = opts[:timeout] || 3600`).
MAX_HOOK_TIMEOUT_SECONDS = 3600

_TOP_LEVEL_KEYS = frozenset({"version", "os", "files", "permissions", "hooks", "file_exists_behavior"})
_FILE_KEYS = frozenset({"source", "destination"})
_PERMISSION_KEYS = frozenset({"object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type"})
# The agent reads the SELinux user of a context from `name` (context_info.rb), not `user`.
_CONTEXT_KEYS = frozenset({"name", "type", "range"})
_SCRIPT_KEYS = frozenset({"location", "timeout", "runas", "sudo"})
_PERMISSION_TYPES = ("file", "directory")
_FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")
# mode_info.rb: the value as text, padded with zeros to three digits, at most four octal digits.
_MODE = re.compile(r"[0-7]{1,4}")
_EVENTS = frozenset(GREEN_EVENT_ORDER + BLUE_EVENT_ORDER)

T = TypeVar("T")


@dataclass(frozen=True)
class FileMapping:
    """One `files` entry: `source` relative to the revision root ("" is the whole revision), absolute `destination`."""

    source: str
    destination: str


@dataclass(frozen=True)
class PermissionRule:
    """One `permissions` entry; `pattern` defaults to "**" and `type` to both kinds, as the CodeDeploy agent does."""

    object: str
    pattern: str
    except_: tuple[str, ...]
    owner: str | None
    group: str | None
    mode: str | None
    type: tuple[str, ...]
    acls: tuple[str, ...] = ()
    context_type: str | None = None


@dataclass(frozen=True)
class HookScript:
    """One script of a lifecycle event: `location` relative to the revision root, effective timeout, optional user.

    `sudo` is the agent's `sudo` key (it then runs the script through `sudo`, which changes nothing for an agent that
    runs as root).
    """

    location: str
    timeout_seconds: int
    runas: str | None
    sudo: bool = False


@dataclass(frozen=True)
class AppSpec:
    """A validated appspec.yml. `hooks` maps event name to its scripts (file order), events in lifecycle order;
    `warnings` lists what the agent accepts but the author probably did not mean."""

    files: tuple[FileMapping, ...]
    permissions: tuple[PermissionRule, ...]
    hooks: Mapping[str, tuple[HookScript, ...]]
    file_exists_behavior: str | None = None
    warnings: tuple[Problem, ...] = ()


# ---------------------------------------------------------------------------------------------------------------------
# Which files a revision consists of
# ---------------------------------------------------------------------------------------------------------------------


def revision_files(revision_root: Path) -> tuple[str, ...]:
    """The files that make up the revision, as sorted POSIX paths relative to `revision_root`.

    Honours `.deployignore` at the root (gitignore syntax). Always left out: every `.git` directory or file (it is
    never deployable and can be huge) and `.deployignore` itself (a build instruction, not content: editing its
    comments must not change the bundle). Empty directories are not part of a zip revision.

    Symlinks are handled deliberately: a symlink to a regular file inside the revision is included as that file's
    content (the agent's unzip would otherwise create a link that may point nowhere on the instance); a symlink to a
    directory, outside the revision, to a file the bundle leaves out (under `.git`, `.deployignore` itself or a path
    `.deployignore` excludes), dangling or in a loop, and special files (sockets, FIFOs, devices), are reported.
    Ignored entries are never looked at.

    Nothing is ever left out silently: a directory that cannot be listed and an entry that cannot be looked at are
    reported with their path (exit 2), and so is a name that is not valid UTF-8 or holds a line break (the agent
    records installed paths one per line for its cleanup, docs/decisions.md F11, so such a name corrupts that list).

    Raises `AppSpecError` listing every unsupported entry.
    """
    # os.path.realpath, not Path.resolve: Python 3.11's raises RuntimeError (a traceback) on a symlink loop.
    root = Path(os.path.realpath(revision_root))
    if not root.is_dir():
        raise AppSpecError([Problem(str(revision_root), "", "is not a directory")])
    spec = _deployignore_spec(root)
    # Matching costs a few microseconds per entry even when no rule could match: skip it when no rule is given.
    ignored = spec.match_file if any(pattern.include is not None for pattern in spec.patterns) else None
    selected: list[str] = []
    problems: list[Problem] = []

    def unreadable(error: OSError) -> None:
        # os.walk skips a directory it cannot list unless told: never drop content silently.
        where = Path(error.filename or root)
        shown = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
        problems.append(unreadable_problem(shown, error))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        directory = Path(dirpath)
        relative_dir = directory.relative_to(root).as_posix()
        prefix = "" if relative_dir == "." else f"{relative_dir}/"
        # Pruning in place keeps os.walk out of ignored trees (git does the same: a negation cannot re-include a file
        # inside an ignored directory).
        kept_dirs = []
        for name in sorted(dirnames):
            relative = prefix + name
            if name == ".git" or (ignored is not None and ignored(f"{relative}/")):
                continue
            problem = _bad_name(relative) or _directory_link(directory / name, relative)
            if problem is not None:
                problems.append(problem)
                continue
            kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in filenames:
            relative = prefix + name
            if name == ".git" or relative == DEPLOYIGNORE_FILE or (ignored is not None and ignored(relative)):
                continue
            problem = _bad_name(relative) or _unsupported_entry(root, f"{dirpath}/{name}", relative, ignored)
            if problem is None:
                selected.append(relative)
            else:
                problems.append(problem)
    if problems:
        raise AppSpecError(problems, hint="Replace or remove the entries listed above, or list them in .deployignore.")
    return tuple(sorted(selected))


def _deployignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    """The `.deployignore` rules of the revision at `root` (empty when there is none).

    Raises `AppSpecError` naming the file when it cannot be looked at or read (the revision directory itself unreadable
    included) or is not UTF-8: the rules decide what ships, so they are never skipped."""
    path = root / DEPLOYIGNORE_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    except UnicodeDecodeError as exc:
        raise AppSpecError([Problem(DEPLOYIGNORE_FILE, "", f"is not UTF-8 text ({exc.reason})")]) from exc
    except OSError as exc:
        raise AppSpecError([unreadable_problem(str(path), exc)]) from exc
    return pathspec.GitIgnoreSpec.from_lines(lines)


def unreadable_problem(name: str, error: OSError) -> Problem:
    """The one wording every unreadable revision entry is reported with (`bundle`, `release`, `rehearse`)."""
    return Problem(_shown(name), "", f"cannot be read ({error.strerror or error})")


def _shown(name: str) -> str:
    """A path as it can be printed: bytes that are not UTF-8 as \\x escapes, line breaks as \\n / \\r."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _bad_name(relative: str) -> Problem | None:
    """A problem when a name cannot be carried safely to the instance: not UTF-8, or holding a line break."""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        # os.walk hands undecodable bytes over as surrogates; a zip name, the S3 metadata and the agent need UTF-8.
        return Problem(_shown(relative), "", "has a name that is not valid UTF-8; rename it")
    if "\n" in relative or "\r" in relative:
        return Problem(
            _shown(relative),
            "",
            "has a line break in its name; the CodeDeploy agent records installed paths one per line for its "
            "cleanup (docs/decisions.md F11), so such a name corrupts that list on the instance; rename it",
        )
    return None


def _directory_link(path: Path, relative: str) -> Problem | None:
    """A problem when a directory entry is a symlink (or cannot be looked at), else None."""
    try:
        if path.is_symlink():
            return Problem(relative, "", "is a symlink to a directory; copy the directory in instead")
    except OSError as exc:
        return unreadable_problem(relative, exc)
    return None


def _unsupported_entry(root: Path, path: str, relative: str, ignored: Callable[[str], bool] | None) -> Problem | None:
    """A problem when the entry at `path` cannot go into a zip revision (or cannot be looked at), else None."""
    try:
        return _unsupported_kind(root, path, relative, ignored)
    except OSError as exc:
        return unreadable_problem(relative, exc)


def _unsupported_kind(root: Path, path: str, relative: str, ignored: Callable[[str], bool] | None) -> Problem | None:
    # One lstat for the common case, a regular file; os.walk's listing gave names only.
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return _link_problem(root, path, relative, ignored)
    if not stat.S_ISREG(mode):
        return Problem(relative, "", "is not a regular file (socket, FIFO or device)")
    return None


def _link_problem(root: Path, path: str, relative: str, ignored: Callable[[str], bool] | None) -> Problem | None:
    """A problem when the symlink at `path` is not a link to a regular file the bundle would hold anyway, else None."""
    target = _link_target(root, path, relative)
    if isinstance(target, Problem):
        return target
    mode = target.stat().st_mode
    if stat.S_ISDIR(mode):
        return Problem(relative, "", "is a symlink to a directory; copy the directory in instead")
    pointed = target.relative_to(root).as_posix()
    # Refused rather than left out: a link is bundled as the file it points to, so one to `.git/config` (tokens) or to
    # an ignored file would ship what the rules keep out, and dropping the link silently would drop content the
    # author meant to ship. Either way the author decides (README, "What goes into the bundle").
    if _left_out(pointed, ignored):
        return Problem(
            relative,
            "",
            f"is a symlink to {pointed}, which the bundle leaves out (.git, .deployignore or a path it lists); list "
            "the link in .deployignore too, or copy the file in if it is meant to ship",
        )
    if not stat.S_ISREG(mode):
        return Problem(relative, "", "is not a regular file (socket, FIFO or device)")
    return None


def _link_target(root: Path, path: str, relative: str) -> Path | Problem:
    """Where the symlink at `path` leads, or why it leads nowhere in the revision (dangling, a loop, outside)."""
    try:
        # strict: a loop is an OSError (ELOOP) naming the link, where Path.resolve raises RuntimeError on 3.11.
        target = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return Problem(relative, "", f"is a dangling symlink (to {os.readlink(path)})")
        if exc.errno == errno.ELOOP:
            return Problem(relative, "", f"is a symlink loop (to {os.readlink(path)}); it never reaches a file")
        raise
    if not target.is_relative_to(root):
        return Problem(relative, "", "is a symlink to a file outside the revision; copy the file in instead")
    return target


def _left_out(relative: str, ignored: Callable[[str], bool] | None) -> bool:
    """Whether `revision_files` leaves the path `relative` out: under `.git`, `.deployignore` itself, or excluded by
    `.deployignore` (itself or a directory above it: the walk never enters an ignored directory)."""
    parts = relative.split("/")
    if ".git" in parts or relative == DEPLOYIGNORE_FILE:
        return True
    if ignored is None:
        return False
    return ignored(relative) or any(ignored("/".join(parts[:depth]) + "/") for depth in range(1, len(parts)))


# ---------------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------------


class _LeadingZeroInt(int):
    """An integer YAML read from a literal with a leading zero (`0644`), which YAML 1.1 reads as octal (420)."""

    literal: str


class _AppSpecLoader(yaml.SafeLoader):
    """A SafeLoader that records what YAML silently accepts but CodeDeploy would misread."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[str, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, remembering keys given twice: YAML keeps the last one and loses the other silently."""
        seen: set[str] = set()
        for key_node, _value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    self.duplicate_keys.append((key_node.value, key_node.start_mark.line + 1))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Read an int, marking octal-looking literals so `mode: 0644` can be reported instead of applied as 0420."""
    value = loader.construct_yaml_int(node)
    if re.fullmatch(r"0[0-7_]+", str(node.value)):
        marked = _LeadingZeroInt(value)
        marked.literal = str(node.value)
        return marked
    return value


_AppSpecLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _parse_yaml(text: str) -> tuple[Any, list[Problem]]:
    """The YAML document in `text`, and the problems found while reading it."""
    loader = _AppSpecLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(APPSPEC_FILE, where, f"is not valid YAML: {reason}")]
    finally:
        loader.dispose()
    problems = [
        Problem(APPSPEC_FILE, f"line {line}", f"key '{key}' is given twice; YAML keeps only the last one")
        for key, line in loader.duplicate_keys
    ]
    return document, problems


# ---------------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------------


class _Checker:
    """Collects the problems (and warnings) of one appspec while its sections are read."""

    def __init__(self, revision_root: Path, archive: Archive, refuse_unstartable: bool = True) -> None:
        self.root = revision_root
        self.refuse_unstartable = refuse_unstartable
        self.included = archive.files
        # Every directory that holds an included file: a `files` source may name one. The root ("") is named by an
        # empty source, which means the whole revision, and is no hook script.
        self.directories = archive.directories - {""}
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, key: str, message: str, file: str = APPSPEC_FILE) -> None:
        self.problems.append(Problem(file, key, message))

    def warn(self, key: str, message: str, file: str = APPSPEC_FILE) -> None:
        self.warnings.append(Problem(file, key, message))

    def unknown_keys(self, key: str, entry: Mapping[Any, Any], allowed: frozenset[str]) -> None:
        # The agent reads the keys it knows and ignores the others: a misspelt key deploys, without its effect.
        for name in entry:
            if name not in allowed:
                self.warn(
                    f"{key}.{name}" if key else str(name),
                    f"is not an AppSpec key; the agent ignores it{_suggest(str(name), allowed)}",
                )

    def optional_str(self, key: str, value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        self.add(key, f"must be a string, got {_describe(value)} (quote it)")
        return None

    def str_list(self, key: str, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.add(key, f"must be a list of strings, got {_describe(value)}")
            return ()
        return tuple(value)

    def relative_path(self, key: str, value: object, *, what: str) -> str | None:
        """A revision-relative path, normalised; None (and a problem) when it is not one.

        The agent joins `value` under its copy of the revision (Ruby File.join), so a leading "/" does not make it an
        instance path; messages quote `value` as written.
        """
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"must be a non-empty path relative to the revision root, got {_describe(value)}")
            return None
        parts = PurePosixPath(value.strip()).parts
        parts = parts[1:] if parts and parts[0] == "/" else parts
        if ".." in parts:
            self.add(key, f"'{value}' leaves the revision ('..'); {what} are relative to the revision root")
            return None
        return "/".join(part for part in parts if part != ".")

    def not_bundled(self, written: object, relative: str, *, what: str) -> str:
        """Why `relative` (written as `written`) is absent from the bundle, for a message that states the rule."""
        if (self.root / relative).exists():
            return f"'{written}' exists but is not in the bundle (excluded by {DEPLOYIGNORE_FILE} or unsupported)"
        rule = f"{what} are relative to the revision root"
        if isinstance(written, str) and written.strip().startswith("/"):
            return (
                f"'{written}' is not in the revision: {rule}, so the agent looks for '{relative}' inside its copy of "
                "the revision, not at that path on the instance; put the file in the revision and name it relative "
                "to the root"
            )
        near = difflib.get_close_matches(relative, sorted(self.included), n=1, cutoff=0.85)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        return f"'{written}' does not exist in the revision ({rule}){hint}"


def load_appspec(
    revision_root: Path,
    *,
    included: Collection[str] | None = None,
    strict: bool = False,
    refuse_unstartable_scripts: bool = True,
) -> AppSpec:
    """Read and validate `revision_root/appspec.yml` for an EC2 blue/green deployment on Linux.

    `included` is the set of revision-relative POSIX paths that will be bundled; by default it is
    `revision_files(revision_root)`, so `.deployignore` is honoured. Sources and hook scripts must be in that set, hook
    scripts must be able to start on Linux, and the Install event must be plannable (`release.install_plan`).

    Raises `AppSpecError` listing every problem found (file, key, message), not only the first. Warnings are returned
    on the `AppSpec`; with `strict=True` they are problems too. With `refuse_unstartable_scripts=False` a hook script
    that cannot start (CRLF after `#!`) is a warning: the rehearsal runs it, to fail its event as the agent does.
    """
    archive = Archive.of(revision_files(revision_root) if included is None else included)
    checker = _Checker(revision_root, archive, refuse_unstartable_scripts)
    document = _read_document(revision_root, archive.files, checker)
    checker.unknown_keys("", document, _TOP_LEVEL_KEYS)
    _check_version(checker, document.get("version"))
    _check_os(checker, document.get("os"))
    behavior = _check_file_exists_behavior(checker, document.get("file_exists_behavior"))
    mappings = _each_entry(checker, "files", document.get("files"), _file_mapping)
    rules = _each_entry(checker, "permissions", document.get("permissions"), _permission_rule)
    hooks = _hooks(checker, document.get("hooks"))
    if not checker.problems:
        try:
            plan_install(mappings, rules, archive, file_exists_behavior=behavior)
        except PlanError as exc:
            checker.add(exc.key, f"Install cannot be planned: {exc.message}")
    if strict:
        checker.problems.extend(
            Problem(w.file, w.key, f"{w.message} (strict mode: warnings are errors)") for w in checker.warnings
        )
    if checker.problems:
        raise AppSpecError(checker.problems)
    return AppSpec(
        files=mappings,
        permissions=rules,
        hooks=hooks,
        file_exists_behavior=behavior,
        warnings=tuple(checker.warnings),
    )


def _read_document(revision_root: Path, files: frozenset[str], checker: _Checker) -> dict[Any, Any]:
    """The appspec's top-level mapping; raises `AppSpecError` when there is none to validate."""
    if APPSPEC_FILE not in files:
        message = "is missing at the revision root"
        if (revision_root / APPSPEC_FILE).exists():
            message = f"exists but is excluded from the bundle (check {DEPLOYIGNORE_FILE})"
        elif (revision_root / "appspec.yaml").exists():
            message = "is missing; rename appspec.yaml to appspec.yml (the name CodeDeploy looks for)"
        raise AppSpecError([Problem(APPSPEC_FILE, "", message)])
    try:
        text = (revision_root / APPSPEC_FILE).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AppSpecError([Problem(APPSPEC_FILE, "", f"is not UTF-8 text ({exc.reason})")]) from exc
    except OSError as exc:
        raise AppSpecError([unreadable_problem(APPSPEC_FILE, exc)]) from exc
    document, checker.problems = _parse_yaml(text)
    if checker.problems and document is None:
        raise AppSpecError(checker.problems)
    if not isinstance(document, dict):
        raise AppSpecError([*checker.problems, Problem(APPSPEC_FILE, "", "must be a YAML mapping of AppSpec keys")])
    return document


def _check_version(checker: _Checker, version: object) -> None:
    # The agent compares with the number 0.0 (`[0.0].include?(version)`), so the quoted string "0.0" fails there.
    if isinstance(version, bool) or not isinstance(version, int | float) or version != 0:
        hint = " (unquoted: the agent compares numbers)" if isinstance(version, str) else ""
        checker.add("version", f"must be 0.0{hint}, got {_describe(version)}")


def _check_os(checker: _Checker, os_name: object) -> None:
    if os_name != "linux":
        checker.add("os", f"must be 'linux' (the fleet runs Amazon Linux 2023), got {_describe(os_name)}")


def _check_file_exists_behavior(checker: _Checker, value: object) -> str | None:
    if value is None or value in _FILE_EXISTS_BEHAVIORS:
        return value  # narrowed by the membership test
    checker.add("file_exists_behavior", f"must be one of {', '.join(_FILE_EXISTS_BEHAVIORS)}, got {_describe(value)}")
    return None


def _each_entry(
    checker: _Checker, section: str, value: object, parse: Callable[[_Checker, str, dict[Any, Any]], T | None]
) -> tuple[T, ...]:
    """Parse every mapping of a list section (`files`, `permissions`); a missing or empty section is empty."""
    if value is None:
        return ()
    if not isinstance(value, list):
        checker.add(section, f"must be a list of mappings, got {_describe(value)}")
        return ()
    parsed: list[T] = []
    for index, entry in enumerate(value):
        key = f"{section}[{index}]"
        if not isinstance(entry, dict):
            checker.add(key, f"must be a mapping, got {_describe(entry)}")
            continue
        result = parse(checker, key, entry)
        if result is not None:
            parsed.append(result)
    return tuple(parsed)


def _file_mapping(checker: _Checker, key: str, entry: dict[Any, Any]) -> FileMapping | None:
    checker.unknown_keys(key, entry, _FILE_KEYS)
    written = entry.get("source")
    source = checker.relative_path(f"{key}.source", written, what="files sources")
    destination = entry.get("destination")
    destination_ok = isinstance(destination, str) and destination.startswith("/")
    if not destination_ok:
        checker.add(f"{key}.destination", f"must be an absolute path on the instance, got {_describe(destination)}")
    if source is None:
        return None
    if source and source not in checker.included and source not in checker.directories:
        checker.add(f"{key}.source", checker.not_bundled(written, source, what="files sources"))
        return None
    return FileMapping(source=source, destination=destination) if destination_ok else None  # type: ignore[arg-type]


def _permission_rule(checker: _Checker, key: str, entry: dict[Any, Any]) -> PermissionRule | None:
    checker.unknown_keys(key, entry, _PERMISSION_KEYS)
    start = len(checker.problems)
    target = entry.get("object")
    if not isinstance(target, str) or not target.strip().startswith("/"):
        checker.add(f"{key}.object", f"is required: an absolute path on the instance, got {_describe(target)}")
    pattern = checker.optional_str(f"{key}.pattern", entry.get("pattern"))
    except_ = checker.str_list(f"{key}.except", entry.get("except"))
    owner = checker.optional_str(f"{key}.owner", entry.get("owner"))
    group = checker.optional_str(f"{key}.group", entry.get("group"))
    mode = _mode(checker, f"{key}.mode", entry.get("mode"))
    acls = _acls(checker, f"{key}.acls", entry.get("acls"))
    context_type = _context(checker, f"{key}.context", entry.get("context"))
    types = _permission_types(checker, f"{key}.type", entry.get("type"))
    if len(checker.problems) > start:
        return None
    return PermissionRule(
        object=target.strip(),  # type: ignore[union-attr]  # checked above
        pattern=pattern or "**",
        except_=except_,
        owner=owner,
        group=group,
        mode=mode,
        type=types,
        acls=acls,
        context_type=context_type,
    )


def _mode(checker: _Checker, key: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, _LeadingZeroInt):
        # YAML 1.1 (PyYAML and the agent's Ruby YAML alike) reads 0644 as octal 420, so the agent applies 0420.
        checker.warn(
            key,
            f"{value.literal} is read by YAML as the number {int(value)}, applied as mode {int(value)}; write "
            f'"{value.literal}"',
        )
        return str(int(value))
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _MODE.fullmatch(text):
        checker.add(key, f'must be 1 to 4 octal digits like 644 or "0755" (no symbols), got {_describe(value)}')
        return None
    return text.rjust(3, "0")


_ACE_TYPES = {"u": "user", "user": "user", "g": "group", "group": "group", "m": "mask", "mask": "mask"}
_ACE_TYPES |= {"o": "other", "other": "other"}


def _acls(checker: _Checker, key: str, value: object) -> tuple[str, ...]:
    entries = checker.str_list(key, value)
    for ace in entries:
        problem = _ace_problem(ace)
        if problem:
            checker.add(key, f"'{ace}' {problem} (rule: [d:](u|g|m|o):[name]:rwx, as setfacl takes it)")
    return entries


def _ace_problem(ace: str) -> str | None:
    """Why the agent (ace_info.rb) rejects ACL entry `ace`, or None."""
    parts = ace.split(":")[::-1]
    parsed = _ace_head(parts) if 2 <= len(parts) <= 4 else "is not an ACL entry"
    if isinstance(parsed, str):
        return parsed
    default, kind, name = parsed
    problem = None
    if kind in ("mask", "other") and name:
        problem = "names a user or group on a mask or other entry"
    elif not default and kind != "mask" and not name:
        problem = "sets a base entry; use mode for the owner, group and other bits"
    elif not (len(parts[0]) == 1 and parts[0] in "01234567") and any(char not in "rwx-" for char in parts[0]):
        problem = "has permissions other than r, w, x and -"
    return problem


def _ace_head(parts: list[str]) -> tuple[bool, str, str] | str:
    """(default, type, name) of an ACL entry split on ':' and reversed, or why it is invalid."""
    default = len(parts) == 4
    if default and parts[3] not in ("d", "default"):
        return "is not an ACL entry"
    kind = None
    if len(parts) >= 3:
        if parts[2] in ("d", "default") and not default:
            default = True
        elif parts[2] in _ACE_TYPES:
            kind = _ACE_TYPES[parts[2]]
        else:
            return "has an unknown entry type"
    if parts[1] in ("m", "mask", "o", "other"):
        return (default, kind, parts[1]) if kind is not None else (default, _ACE_TYPES[parts[1]], "")
    return default, kind or "user", parts[1]


_RANGE = re.compile(r"s\d+(-s\d+)?(:c\d+(\.c\d+)?(,c\d+(\.c\d+)?)*)?")


def _context(checker: _Checker, key: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        checker.add(key, f"must be a mapping of name/type/range, got {_describe(value)}")
        return None
    checker.unknown_keys(key, {name: v for name, v in value.items() if name != "user"}, _CONTEXT_KEYS)
    if "user" in value:
        checker.warn(f"{key}.user", "is ignored: the agent reads the SELinux user from 'name'; did you mean 'name'?")
    context_type = value.get("type")
    if not isinstance(context_type, str) or not context_type:
        checker.add(f"{key}.type", "is required: the SELinux type the agent passes to semanage fcontext -t")
    selinux_range = value.get("range")
    if selinux_range is not None and not (isinstance(selinux_range, str) and _RANGE.fullmatch(selinux_range)):
        checker.add(f"{key}.range", f"must be an SELinux range like s0 or s0-s1:c0.c5, got {_describe(selinux_range)}")
    return context_type if isinstance(context_type, str) else None


def _permission_types(checker: _Checker, key: str, value: object) -> tuple[str, ...]:
    if value is None:
        return _PERMISSION_TYPES
    if not isinstance(value, list) or any(item not in _PERMISSION_TYPES for item in value):
        checker.add(key, f"must be a list of 'file' and/or 'directory', got {_describe(value)}")
        return ()
    if not value:
        checker.warn(key, "is an empty list: the rule applies to nothing (omit type for files and directories)")
    return tuple(value)


def _hooks(checker: _Checker, value: object) -> Mapping[str, tuple[HookScript, ...]]:
    """The scripts per event, events in lifecycle order, scripts in file order."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        checker.add("hooks", f"must be a mapping of lifecycle event to scripts, got {_describe(value)}")
        return MappingProxyType({})
    hooks: dict[str, tuple[HookScript, ...]] = {}
    for event, scripts in value.items():
        key = f"hooks.{event}"
        if scripts is None or scripts == []:
            # application_specification.rb: "Ignore empty hooks."
            checker.warn(key, "has no scripts; the agent skips the event (remove the key or add a script)")
        elif not isinstance(scripts, list):
            checker.add(key, f"must be a list of scripts (location/timeout/runas), got {_describe(scripts)}")
        elif event in RESERVED_EVENTS:
            checker.warn(key, "is run by CodeDeploy itself: the agent never runs scripts for it, so they are ignored")
        elif event not in SCRIPTABLE_EVENTS:
            checker.warn(
                key,
                "is not a lifecycle event of an EC2 blue/green deployment: its scripts never run"
                f"{_suggest(str(event), _EVENTS)}",
            )
        else:
            hooks[event] = _event_scripts(checker, key, scripts)
    ordered = dict(sorted(hooks.items(), key=lambda item: _EVENT_RANK[item[0]]))
    return MappingProxyType(ordered)


def _event_scripts(checker: _Checker, key: str, scripts: list[Any]) -> tuple[HookScript, ...]:
    parsed: list[HookScript] = []
    explicit_total = 0
    for index, script in enumerate(scripts):
        script_key = f"{key}[{index}]"
        if not isinstance(script, dict):
            checker.add(script_key, f"must be a mapping with location/timeout/runas, got {_describe(script)}")
            continue
        checker.unknown_keys(script_key, script, _SCRIPT_KEYS)
        location = _script_location(checker, f"{script_key}.location", script.get("location"))
        timeout = _timeout(checker, f"{script_key}.timeout", script.get("timeout"))
        runas = checker.optional_str(f"{script_key}.runas", script.get("runas"))
        _check_runas(checker, f"{script_key}.runas", runas)
        # The agent tests `!!script.sudo`: anything but nil and false counts.
        sudo = script.get("sudo") not in (None, False)
        if script.get("timeout") is not None and timeout is not None:
            explicit_total += timeout
        if location is not None and timeout is not None:
            runas = runas.strip() if runas is not None else None
            parsed.append(HookScript(location=location, timeout_seconds=timeout, runas=runas or None, sudo=sudo))
    # The hour is a budget for the whole event, not per script ("Make sure the total number of seconds specified in
    # timeout for all scripts in each deployment lifecycle event does not exceed this limit").
    if explicit_total > MAX_HOOK_TIMEOUT_SECONDS:
        checker.add(
            key, f"timeouts add up to {explicit_total} s; an event may take at most {MAX_HOOK_TIMEOUT_SECONDS} s"
        )
    return tuple(parsed)


# Default login users of other distributions' images, which Amazon Linux 2023 instances (the fleet) do not have.
_OTHER_DISTRIBUTION_USERS = {"ubuntu": "Ubuntu", "admin": "Debian", "centos": "CentOS", "fedora": "Fedora"}


def _check_runas(checker: _Checker, key: str, runas: str | None) -> None:
    distribution = _OTHER_DISTRIBUTION_USERS.get((runas or "").strip())
    if distribution is not None:
        checker.warn(
            key,
            f"'{runas}' is the default user of {distribution} images; Amazon Linux 2023 instances have ec2-user "
            f"instead, so `su {runas}` fails the event unless a hook creates the user first",
        )


def _script_location(checker: _Checker, key: str, value: object) -> str | None:
    location = checker.relative_path(key, value, what="hook locations")
    if location is None:
        return None
    if location not in checker.included:
        if location in checker.directories:
            checker.add(key, f"'{value}' is a directory, not a script")
        else:
            checker.add(
                key, f"ScriptMissing on the instance: {checker.not_bundled(value, location, what='hook locations')}"
            )
        return None
    if isinstance(value, str) and value.strip().startswith("/"):
        checker.warn(
            key, f"'{value}' is read relative to the revision root ('{location}'); write it without the leading '/'"
        )
    path = checker.root / location
    if not path.is_file():
        checker.add(key, f"'{value}' is listed for the bundle but is not a file in {checker.root}")
        return None
    _check_script_start(checker, location, path)
    return location


def _check_script_start(checker: _Checker, location: str, path: Path) -> None:
    """Whether the script can start on Linux: CRLF line endings, the execute bit."""
    with path.open("rb") as stream:
        head = stream.read(64 * 1024)
    first_line = head.split(b"\n", 1)[0]
    if first_line.startswith(b"#!") and first_line.endswith(b"\r"):
        words = [word for word in first_line[2:].split(b" ") if word]  # split() would drop the "\r"
        # `#!/bin/bash\r` names a missing interpreter; `#!/usr/bin/env bash\r` makes env look for `bash\r`.
        missing = words[-1] if len(words) > 1 and words[0].endswith(b"/env") else words[0] if words else b"\r"
        report = checker.add if checker.refuse_unstartable else checker.warn
        report(
            "",
            f"has CRLF (Windows) line endings: Linux looks for {missing.decode('utf-8', 'replace')!r} (from "
            f"{first_line.decode('utf-8', 'replace')!r}), which does not exist, so the script cannot start "
            "(ScriptFailed on the instance); convert it to LF line endings (dos2unix, or git's core.autocrlf=input)",
            file=location,
        )
    elif b"\r\n" in head:
        checker.warn(
            "",
            "has CRLF (Windows) line endings: the shell reads every command with a trailing carriage return; "
            "convert it to LF",
            file=location,
        )
    if not path.stat().st_mode & stat.S_IXUSR:
        checker.warn(
            "",
            "is not executable: the agent makes it executable (`chmod +x`) with a warning, then runs it; "
            "`chmod +x` it and commit the mode",
            file=location,
        )


_RUBY_INTEGER = re.compile(r"\s*[-+]?\d[\d_]*")


def _timeout(checker: _Checker, key: str, value: object) -> int | None:
    """The script's timeout as the agent computes it (`(timeout || 3600).to_i`, which must be positive)."""
    if value is None:
        return MAX_HOOK_TIMEOUT_SECONDS
    seconds = _ruby_to_i(value)
    if seconds is None or seconds <= 0 or seconds > MAX_HOOK_TIMEOUT_SECONDS:
        checker.add(
            key, f"must be a whole number of seconds from 1 to {MAX_HOOK_TIMEOUT_SECONDS}, got {_describe(value)}"
        )
        return None
    if isinstance(value, _LeadingZeroInt):
        checker.warn(key, f"{value.literal} is read by YAML as the octal number {seconds}; drop the leading zero")
    elif isinstance(value, str):
        checker.warn(key, f"{value!r} is a string; the agent converts it to {seconds} s (write the number unquoted)")
    elif isinstance(value, float):
        checker.warn(key, f"{value!r} is cut to {seconds} s by the agent (write whole seconds)")
    return seconds


def _ruby_to_i(value: object) -> int | None:
    """Ruby's `to_i` on a YAML scalar (leading digits of a string, a float truncated); None where it has none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        match = _RUBY_INTEGER.match(value)
        return int(match.group().replace("_", "")) if match else 0
    return None


def _suggest(name: str, choices: Collection[str]) -> str:
    """'; did you mean X?' when `name` looks like a typo of one of `choices`."""
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _describe(value: object) -> str:
    """A short rendering of a YAML value for a message."""
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
