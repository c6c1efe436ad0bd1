"""What the CI system says about the run: commit, branch, build, and where GitHub Actions wants its summary.

Read once from the environment by `release.cli.main` into a frozen `CiContext` and handed down; nothing below the CLI
reads the environment. Bitbucket Pipelines, GitHub Actions and any other CI (through RELEASE_*) are understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The first variable set wins: Bitbucket Pipelines, then GitHub Actions, then the tool's own for any other CI.
COMMIT_VARIABLES = ("BITBUCKET_COMMIT", "GITHUB_SHA", "RELEASE_COMMIT")
BRANCH_VARIABLES = ("BITBUCKET_BRANCH", "GITHUB_REF_NAME", "RELEASE_BRANCH")
BUILD_VARIABLES = ("BITBUCKET_BUILD_NUMBER", "GITHUB_RUN_ID", "RELEASE_BUILD")


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


@dataclass(frozen=True)
class CiContext:
    """The run's commit, branch and build (None when unknown), and GitHub Actions' step summary and annotations."""

    commit: str | None = None
    branch: str | None = None
    build: str | None = None
    # GITHUB_STEP_SUMMARY: the file GitHub Actions renders as the job's summary (Markdown, appended to).
    step_summary: Path | None = None
    # GITHUB_ACTIONS=true: workflow commands (::error::, ::notice::) written to stdout become annotations.
    github_actions: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CiContext:
        """Read the CI variables of `env` (Bitbucket, GitHub, or RELEASE_* for any other CI)."""
        step_summary = env.get("GITHUB_STEP_SUMMARY")
        return cls(
            commit=_first(env, COMMIT_VARIABLES),
            branch=_first(env, BRANCH_VARIABLES),
            build=_first(env, BUILD_VARIABLES),
            step_summary=Path(step_summary) if step_summary else None,
            github_actions=env.get("GITHUB_ACTIONS") == "true",
        )
