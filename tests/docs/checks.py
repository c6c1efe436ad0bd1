"""What each kind of documented command is checked against, offline: the release tool's parser, the Makefile, the
pinned `cdk` CLI's help and botocore's service models. Each check raises AssertionError saying what is wrong."""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import re
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.session
import jmespath
from botocore import xform_name
from botocore.exceptions import DataNotFoundError
from release.cli import build_parser, invocation_from
from release.errors import InputError

from bluegreen.config import load_cdk_json_context
from tests.docs.doc_commands import ROOT

# ---------------------------------------------------------------------------------------------------------------------
# The release tool (scripts/deploy.py)
# ---------------------------------------------------------------------------------------------------------------------

# The placeholders the documents write where a reader puts their own value, and the value the check puts there.
PLACEHOLDERS = {"DIR", "ID", "DURATION", "SECONDS", "NAME", "KEY=VALUE", "STAGE", "…", "..."}
EXAMPLE_VALUES = {
    "--app-dir": "sample-app",
    "--stack": "BlueGreenApp",
    "--deployment-id": "d-EXAMPLE111",
    "--wait": "10m",
    "--timeout": "30m",
    "-c": "fleetDesiredSize=3",
    "--context": "fleetDesiredSize=3",
    "--from-stage": "staging",
    "--stage": "production",
}


def _commands_action() -> Any:
    return next(action for action in build_parser()._actions if action.dest == "command")


def subcommands() -> list[str]:
    """The release tool's commands, from its parser."""
    return sorted(_commands_action().choices)


def subparser(name: str) -> Any:
    """The parser of the release tool's command `name`."""
    return _commands_action().choices[name]


def _is_placeholder(word: str) -> bool:
    return word in PLACEHOLDERS or word.startswith("$") or (word.startswith("<") and word.endswith(">"))


def with_examples(argv: list[str]) -> list[list[str]]:
    """`argv` with brackets dropped and placeholders replaced by example values; `COMMAND` by every command."""
    words = [word.strip("[]") for word in argv]
    out: list[str] = []
    for index, word in enumerate(words):
        if not _is_placeholder(word):
            out.append(word)
        elif index and words[index - 1] in EXAMPLE_VALUES:
            out.append(EXAMPLE_VALUES[words[index - 1]])
        elif index and words[index - 1].startswith("-"):
            out.append("example")
        # a placeholder for "the rest of the arguments" (`release …`) stands for nothing checkable: dropped
    if "COMMAND" in out:
        at = out.index("COMMAND")
        return [[*out[:at], name, *out[at + 1 :]] for name in subcommands()]
    return [out]


def _stage_names(argv: list[str]) -> list[str]:
    """The stages a command names (`--stage`, `--from-stage`, `--wave A,B`): the docs show them for a project that
    declares them in cdk.json, which this repository's own cdk.json does not."""
    names = [
        value
        for flag, value in itertools.pairwise(argv)
        if flag in ("--stage", "--from-stage", "--wave")
        for value in value.split(",")
    ]
    return list(dict.fromkeys(name for name in names if name and not _is_placeholder(name)))


@contextlib.contextmanager
def _declared(names: list[str]) -> Iterator[None]:
    """cdk.json's context with `names` declared as stages (one region each), while the block runs."""
    if not names:
        yield
        return
    context = {**load_cdk_json_context(), "stages": [{"name": name, "region": "eu-west-1"} for name in names]}
    with (
        mock.patch("release.cli.load_cdk_json_context", return_value=context),
        mock.patch("release.targets.load_cdk_json_context", return_value=context),
    ):
        yield


def check_release_arguments(argv: list[str]) -> None:
    """The arguments parse with the tool's own parser and its values pass its own validation (`invocation_from`),
    without running anything. `--help` counts as parsed."""
    errors = io.StringIO()
    try:
        with redirect_stderr(errors), redirect_stdout(io.StringIO()):
            args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            return  # --help
        raise AssertionError(f"scripts/deploy.py {' '.join(argv)}: {errors.getvalue().strip()}") from None
    if args.command == "rehearse":
        return  # rehearse validates as it runs, against the revision (release.rehearse)
    try:
        with _declared(_stage_names(argv)):
            invocation_from(args, {})
    except InputError as exc:
        raise AssertionError(f"scripts/deploy.py {' '.join(argv)}: {exc.describe()}") from None


# ---------------------------------------------------------------------------------------------------------------------
# make
# ---------------------------------------------------------------------------------------------------------------------


@functools.cache
def make_targets() -> frozenset[str]:
    """The targets the Makefile defines (rule heads, variables and pattern rules aside)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    heads = re.findall(r"^([A-Za-z0-9_.\-/ ]+?)\s*:(?!=)", text, flags=re.M)
    return frozenset(name for head in heads for name in head.split() if not name.startswith("."))


# ---------------------------------------------------------------------------------------------------------------------
# The pinned cdk CLI
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CdkHelp:
    """What `cdk [SUB] --help` lists: the commands (with aliases), and each option with its allowed values."""

    commands: frozenset[str]
    options: dict[str, tuple[str, ...]]


_CDK = ROOT / "node_modules" / ".bin" / "cdk"


def _cdk_help(*sub: str) -> str:
    env = {"PATH": f"{_CDK.parent}:/usr/bin:/bin", "CDK_DISABLE_VERSION_CHECK": "1", "CI": "true"}
    env["JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION"] = "1"
    result = subprocess.run(
        [str(_CDK), *sub, "--help"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False
    )
    assert result.returncode == 0, f"cdk {' '.join(sub)} --help exited {result.returncode}: {result.stderr[-500:]}"
    return result.stdout


@functools.cache
def cdk_help(sub: str = "") -> CdkHelp:
    """The pinned CLI's help for `sub` (or the top level), parsed."""
    text = _cdk_help(sub) if sub else _cdk_help()
    commands = set(re.findall(r"^  cdk ([a-z][a-z-]*)", text, flags=re.M))
    for aliases in re.findall(r"\[aliases: ([^\]]+)\]", text):
        commands.update(alias.strip() for alias in aliases.split(","))
    options: dict[str, tuple[str, ...]] = {}
    current: list[str] = []
    for line in text.splitlines():
        head = re.match(r"^  (-{1,2}[A-Za-z][\w-]*(?:, -{1,2}[A-Za-z][\w-]*)*)", line)
        if head:
            current = [name.strip() for name in head.group(1).split(",")]
            for name in current:
                options[name] = ()
        choices = re.search(r"\[choices: ([^\]]+)\]", line)
        if choices and current:
            values = tuple(re.findall(r'"([^"]+)"', choices.group(1)))
            for name in current:
                options[name] = options[name] + values
    return CdkHelp(frozenset(commands), options)


def check_cdk_arguments(words: list[str]) -> None:
    """The subcommand is one the pinned CLI has, every option one it lists, and every value one of its choices."""
    args = words[1:]
    positional = [word for word in args if not word.startswith("-")]
    assert positional, f"{' '.join(words)}: no cdk subcommand"
    sub = positional[0]
    assert sub in cdk_help().commands, f"`cdk {sub}` is not a command of the pinned cdk CLI"
    options = cdk_help(sub).options
    for index, word in enumerate(args):
        if not word.startswith("-"):
            continue
        name, _, inline = word.partition("=")
        known = name in options or (name.startswith("--no-") and "--" + name[5:] in options)
        assert known, f"`cdk {sub}` has no option {name}"
        value = inline or (args[index + 1] if index + 1 < len(args) else "")
        assert not options.get(name) or value in options[name], (
            f"`cdk {sub} {name} {value}`: not one of {options[name]}"
        )


# ---------------------------------------------------------------------------------------------------------------------
# The AWS CLI, against botocore's models (docs/decisions.md F95, F96)
# ---------------------------------------------------------------------------------------------------------------------

# The AWS CLI's names for services whose botocore name differs (aws-cli renames them in its customizations).
CLI_SERVICE_NAMES = {"deploy": "codedeploy", "s3api": "s3", "configservice": "config"}
# The AWS CLI's own commands, which call no API operation of that name.
CLI_ONLY_COMMANDS = {("configure", "list"), ("configure", "get"), ("configure", "set"), ("configure", "sso")}
# Options every operation takes (the CLI's global and pagination options).
CLI_GLOBAL_OPTIONS = {
    "--query",
    "--output",
    "--region",
    "--profile",
    "--endpoint-url",
    "--debug",
    "--no-paginate",
    "--no-cli-pager",
    "--no-verify-ssl",
    "--color",
    "--cli-input-json",
    "--cli-input-yaml",
    "--generate-cli-skeleton",
    "--max-items",
    "--starting-token",
    "--page-size",
    "--cli-read-timeout",
    "--cli-connect-timeout",
}
# JMESPath nodes whose result depends on which items are in the list it sees: one page, with `--output text`.
PAGE_SENSITIVE_FUNCTIONS = {"length", "max", "max_by", "min", "min_by", "reverse", "sort", "sort_by", "sum", "avg"}


@dataclass(frozen=True)
class AwsCall:
    """`aws SERVICE OPERATION --option value...` split up: options map to their (possibly several) values."""

    service: str
    operation: str
    options: dict[str, list[str]]

    @classmethod
    def of(cls, words: list[str]) -> AwsCall:
        assert len(words) >= 3, f"{' '.join(words)}: `aws SERVICE OPERATION` expected"
        options: dict[str, list[str]] = {}
        current = ""
        for word in words[3:]:
            if word.startswith("--"):
                current = word
                options[current] = []
            else:
                assert current, f"{' '.join(words)}: {word!r} is not after an option"
                options[current].append(word)
        return cls(words[1], words[2], options)


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


def _members(shape: Any, found: dict[str, list[Any]] | None = None) -> dict[str, list[Any]]:
    """Every member name reachable from `shape` (structures, lists and maps followed), with the shapes it has."""
    found = {} if found is None else found
    if shape is None or shape.type_name not in ("structure", "list", "map"):
        return found
    if shape.type_name == "list":
        return _members(shape.member, found)
    if shape.type_name == "map":
        return _members(shape.value, found)
    for name, member in shape.members.items():
        known = found.setdefault(name, [])
        if all(member.name != other.name for other in known):
            known.append(member)
            _members(member, found)
    return found


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(child for part in node.get("children", []) for child in _nodes(part))]


def _check_query(call: AwsCall, operation: Any, paginated: bool) -> None:
    query = " ".join(call.options.get("--query", []))
    if not query:
        return
    nodes = _nodes(jmespath.compile(query).parsed)
    members = _members(operation.output_shape)
    fields = {node["value"] for node in nodes if node["type"] == "field"}
    unknown = fields - set(members)
    assert not unknown, f"--query names {sorted(unknown)}, which {operation.name}'s output does not have"
    for node in nodes:
        # `Field=='VALUE'` against an enum field: VALUE must be one the model allows, or nothing ever matches.
        kinds = [child["type"] for child in node.get("children", [])]
        if node["type"] == "comparator" and kinds == ["field", "literal"]:
            field, literal = node["children"]
            allowed = {value for shape in members[field["value"]] for value in _enum(shape)}
            assert not allowed or literal["value"] in allowed, (
                f"--query compares {field['value']} with {literal['value']!r}, not among its allowed values"
            )
    if paginated and call.options.get("--output") == ["text"] and "--no-paginate" not in call.options:
        sensitive = [
            node
            for node in nodes
            if node["type"] in ("index", "slice")
            or (node["type"] == "function_expression" and node["value"] in PAGE_SENSITIVE_FUNCTIONS)
        ]
        assert not sensitive, (
            f"{operation.name} is paginated and `--output text` runs --query on each page (docs/decisions.md F95): "
            f"{query!r} picks or orders items per page, not over all of them"
        )


def check_aws_arguments(words: list[str]) -> None:
    """The service and operation exist, every option is an input member (or a CLI option), every required member is
    given, enum values are allowed ones, and --query reads fields the output has (F95, F96)."""
    call = AwsCall.of(words)
    if (call.service, call.operation) in CLI_ONLY_COMMANDS:
        return
    session = _session()
    service = CLI_SERVICE_NAMES.get(call.service, call.service)
    assert service in session.get_available_services(), f"`aws {call.service}` is no service botocore knows"
    model = session.get_service_model(service)
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    assert call.operation in operations, f"`aws {call.service} {call.operation}` is no {service} operation"
    operation = model.operation_model(operations[call.operation])
    members = operation.input_shape.members if operation.input_shape else {}
    by_option = {"--" + xform_name(name, "-"): shape for name, shape in members.items()}
    for option, values in call.options.items():
        if option in CLI_GLOBAL_OPTIONS:
            continue
        name = option if option in by_option else "--" + option.removeprefix("--no-")
        assert name in by_option, f"{operation.name} has no input member for {option} (members: {sorted(members)})"
        shape = by_option[name]
        allowed = _enum(shape.member if shape.type_name == "list" else shape)
        bad = [value for value in values if allowed and value not in allowed]
        assert not bad, f"{option} {bad}: not among {operation.name}'s allowed values"
    if "--cli-input-json" not in call.options:
        given = {option.removeprefix("--no-") for option in call.options}
        missing = [name for name in operation.input_shape.required_members if "--" + xform_name(name, "-") not in given]
        assert not missing, f"{operation.name} requires {missing}"
    _check_query(call, operation, _can_paginate(service, operation.name))


def _enum(shape: Any) -> list[str]:
    return list(shape.metadata.get("enum", []))


def _can_paginate(service: str, operation: str) -> bool:
    try:
        _session().get_paginator_model(service).get_paginator(operation)
    except (ValueError, DataNotFoundError):
        return False
    return True


def existing(path: str) -> Path:
    """`path` under the repository root, which must exist."""
    found = ROOT / path
    assert found.exists(), f"{path} does not exist in the repository"
    return found
