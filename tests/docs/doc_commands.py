"""The command lines the documentation tells a reader to run, and what can be checked of each offline.

`commands()` reads every ```bash block of the documents in `BLOCK_DOCS` and every inline code span of
`INLINE_DOCS` that starts with a command word, and returns them as `DocCommand`s (continuation lines joined, comments
dropped, placeholders kept). `kind_of` classifies one; the test module checks each kind against the real thing:
the Makefile, the release tool's parser, the pinned `cdk` CLI, botocore's service models.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Documents whose ```bash blocks are command lines a reader runs.
BLOCK_DOCS = (
    "README.md",
    "docs/pipelines.md",
    "docs/performance.md",
    "docs/drain.md",
    "integ/README.md",
    "sample-app/README.md",
)
# Documents whose inline `...` spans are also read when they start with a command word and an argument (prose
# elsewhere quotes commands as facts, e.g. docs/decisions.md, and is not a list of instructions).
INLINE_DOCS = ("README.md", "docs/pipelines.md", "integ/README.md", "sample-app/README.md")
SHELL_BLOCKS = {"bash", "sh", "shell"}
_COMMAND_WORD = re.compile(
    r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*"
    r"(?:make|python3?|\.venv/bin/python3?|scripts/deploy\.py|bluegreen-release|cdk|\./node_modules/\.bin/cdk"
    r"|node_modules/\.bin/cdk|aws|git|source|export"
    # words no check knows yet: a span starting with one is reported as unclassified, not overlooked
    r"|npm|npx|pip3?|pytest|ruff|mypy|node|docker|sudo|bash|\./\S+)\s+\S"
)
_FENCE = re.compile(r"^\s*```(\S*)\s*$")
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class DocCommand:
    """One command line of a document: where it is, its text, and whether a shell block shows it."""

    doc: str
    line: int
    text: str
    in_block: bool
    # A shell block that puts the project's tools first on PATH (`source .venv/bin/activate`, `export PATH=...`)
    # before this line: bare `python` and `cdk` then mean the project's.
    project_path: bool = False

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    def words(self) -> list[str]:
        """The shell words (quotes removed, comments dropped); environment assignments in front are kept."""
        return shlex.split(self.text, comments=True)

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def _joined(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Shell lines with `\\` continuations joined, each with the number of its first line."""
    start, parts = 0, []
    for number, text in lines:
        if not parts:
            start = number
        if text.rstrip().endswith("\\"):
            parts.append(text.rstrip()[:-1])
            continue
        parts.append(text)
        yield start, " ".join(part.strip() for part in parts)
        parts = []
    if parts:
        yield start, " ".join(part.strip() for part in parts)


def _block_commands(doc: str, block: list[tuple[int, str]]) -> Iterator[DocCommand]:
    project_path = False
    for number, text in _joined(block):
        if not shlex.split(text, comments=True):
            continue  # blank or a comment
        yield DocCommand(doc, number, text.strip(), in_block=True, project_path=project_path)
        if re.match(r"^(source|\.) \.venv/bin/activate\b", text) or (
            text.startswith("export PATH=") and ".venv/bin" in text
        ):
            project_path = True


def doc_commands(doc: str) -> list[DocCommand]:
    """Every command line of `doc` (a path relative to the repository root)."""
    found: list[DocCommand] = []
    block: list[tuple[int, str]] | None = None
    language = ""
    for number, text in enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(text)
        if fence and block is None:
            block, language = [], fence.group(1)
            continue
        if fence and block is not None:
            if language in SHELL_BLOCKS and doc in BLOCK_DOCS:
                found.extend(_block_commands(doc, block))
            block = None
            continue
        if block is not None:
            block.append((number, text))
        elif doc in INLINE_DOCS:
            found.extend(
                DocCommand(doc, number, span.strip(), in_block=False)
                for span in _INLINE.findall(text)
                if _COMMAND_WORD.match(span.strip())
            )
    return found


def commands() -> list[DocCommand]:
    """Every command line of every document read."""
    return [command for doc in dict.fromkeys(BLOCK_DOCS + INLINE_DOCS) for command in doc_commands(doc)]


# ---------------------------------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------------------------------

PYTHONS = {"python", "python3", ".venv/bin/python", ".venv/bin/python3"}
DEPLOY_SCRIPTS = {"scripts/deploy.py", "bluegreen-release"}
CDKS = {"cdk", "./node_modules/.bin/cdk", "node_modules/.bin/cdk"}
# Lines run for their effect on the reader's shell, not a command the project provides: what they name is checked
# (a region botocore knows, directories `make setup` creates); the rest is skipped with this reason.
SKIPPED = {
    "export": "sets a variable of the reader's shell",
    "source": "changes the reader's shell",
}


def split_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading `NAME=value` words (the command's environment) and the rest."""
    env: dict[str, str] = {}
    index = 0
    while index < len(words) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[index]):
        name, _, value = words[index].partition("=")
        env[name] = value
        index += 1
    return env, words[index:]


# How `python` is followed: `-c CODE`, `-m MODULE`, the release tool, or another script.
_PYTHON_KINDS = {"-c": "python-c", "-m": "python-module", **dict.fromkeys(DEPLOY_SCRIPTS, "deploy")}


def kind_of(command: DocCommand) -> str:
    """`make`, `deploy`, `python-c`, `python-module`, `python-script`, `cdk`, `aws`, `git`, a SKIPPED word, or
    `unclassified`."""
    _, words = split_env(command.words())
    head = words[0] if words else ""
    kind = "unclassified"
    if head in SKIPPED or head in {"make", "aws", "git"}:
        kind = head
    elif head in CDKS:
        kind = "cdk"
    elif head in DEPLOY_SCRIPTS:
        kind = "deploy"
    elif head in PYTHONS and len(words) > 1:
        default = "python-script" if words[1].endswith(".py") else "unclassified"
        kind = _PYTHON_KINDS.get(words[1], default)
    return kind


def deploy_argv(words: list[str]) -> list[str]:
    """The arguments after `scripts/deploy.py` (or `bluegreen-release`)."""
    _, words = split_env(words)
    start = next(index for index, word in enumerate(words) if word in DEPLOY_SCRIPTS)
    return words[start + 1 :]
