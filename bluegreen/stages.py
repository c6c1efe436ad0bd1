"""Stages (staging, production, ...) declared in `cdk.json`: one stack per stage, each with its own account and region.

A project without the setting `stages` has exactly one stack, named by `stackName`, as before. With it, the app
synthesizes one stack per stage, named `<stackName>-<stage>` (stage names are unique, so stack names cannot collide),
with the top-level settings overridden by the stage's own. Two shapes are accepted, whichever reads better:

    "stages": [{"name": "staging", "account": "111111111111", "region": "eu-west-1", "fleetMaxSize": 2}, ...]
    "stages": {"staging": {"account": "111111111111", "region": "eu-west-1", "fleetMaxSize": 2}, ...}

`region` is required (the stack is region-specific: docs/decisions.md F91, the artifact bucket must sit in the
fleet's region); `account` is optional (left to the CLI's credentials when absent). Every other key of a stage must
be a setting; a typo is refused with the nearest setting named, and every error names the stage.

The setting `waves` gives `promote-waves` its default waves: a list of waves, each a list of declared stage names,

    "waves": [["production-eu"], ["production-us", "production-ap"]]

validated against the stages (every error names the wave, counted from 1, and the stage).

Plain Python like `bluegreen.config`: the CDK app and the release tool (`--stage NAME`) read the same stages.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bluegreen.config import (
    CDK_JSON,
    DEFAULTS,
    REGION_NAME,
    AppConfig,
    ConfigError,
    check_context_keys,
    check_region,
    load_cdk_json_context,
    load_config,
    nearest_setting_hint,
)

STAGES_KEY = "stages"
WAVES_KEY = "waves"
# The keys of a stage that are not settings.
STAGE_FIELDS = ("name", "account", "region")
# Settings of the project as a whole: a stage's stack name derives from stackName, and stages do not nest.
PROJECT_SETTINGS = ("stackName", STAGES_KEY, WAVES_KEY)
# A stage name becomes the end of a stack name (letters, digits, hyphens) and of the deployment group names.
STAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")
ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Stage:
    """One stage: its name, where its stack lives (region; account, None when left to the credentials) and its
    settings (the top-level settings with the stage's overrides; `config.stack_name` is `<stackName>-<name>`)."""

    name: str
    region: str
    account: str | None
    config: AppConfig

    @property
    def stack_name(self) -> str:
        """The stage's CloudFormation stack name."""
        return self.config.stack_name


def stage_stack_name(base_stack_name: str, stage_name: str) -> str:
    """The stack name of a stage: `<stackName>-<stage>`."""
    return f"{base_stack_name}-{stage_name}"


def load_stages(context: Mapping[str, Any], *, project_dir: Path = CDK_JSON.parent) -> tuple[Stage, ...] | None:
    """The stages the context declares, in declaration order, or None when it declares none (the one-stack project).

    Raises `ConfigError` naming the stage and the key: an unknown or project-wide key in a stage, a missing or bad
    region or account, a duplicate name, or any setting the stage's values make invalid.
    """
    raw = context.get(STAGES_KEY)
    if raw is None or raw == "":
        if _declared(context.get(WAVES_KEY)):
            raise ConfigError(f"setting {WAVES_KEY!r} names stages, but cdk.json declares none ({STAGES_KEY!r})")
        return None
    check_context_keys(context)
    base = {key: value for key, value in context.items() if key != STAGES_KEY}
    base_stack_name = load_config(base, project_dir=project_dir).stack_name
    stages: list[Stage] = []
    for name, entry in _entries(raw):
        twin = next((stage.name for stage in stages if stage.name.lower() == name.lower()), None)
        if twin == name:
            raise ConfigError(f"stage {name!r} is declared twice; stage names must be unique (they name the stacks)")
        if twin is not None:
            # Names apart only in case are one directory on a case-insensitive file system (promote-waves writes
            # --report-dir/STAGE) and one stage to a reader typing --stage: refused rather than guessed.
            raise ConfigError(
                f"stages {twin!r} and {name!r} differ only in case; give stages names that differ in more than case"
            )
        stages.append(_stage(name, entry, base, base_stack_name, project_dir))
    load_waves(context, tuple(stages))
    return tuple(stages)


def load_waves(context: Mapping[str, Any], stages: tuple[Stage, ...]) -> tuple[tuple[str, ...], ...] | None:
    """The waves the setting `waves` declares (stage names, wave by wave, in order), or None when it is unset.

    Accepts the list of lists, or the same as JSON text (what `-c waves=...` gives). Raises `ConfigError` naming the
    wave (counted from 1) and the stage: a wave that is not a list or is empty, a name that is not a declared stage
    (the nearest suggested), a stage in two waves.
    """
    raw = context.get(WAVES_KEY)
    if not _declared(raw):
        return None
    raw = _from_json_text(f"setting {WAVES_KEY!r}", raw)
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"setting {WAVES_KEY!r}: {raw!r} must be a non-empty list of waves, each a list of stage names, "
            'like [["production-eu"], ["production-us", "production-ap"]]'
        )
    names = tuple(stage.name for stage in stages)
    placed: dict[str, int] = {}
    for number, wave in enumerate(raw, start=1):
        if not isinstance(wave, list) or not wave:
            raise ConfigError(f"setting {WAVES_KEY!r}, wave {number}: {wave!r} must be a non-empty list of stage names")
        for name in wave:
            if name not in names:
                raise ConfigError(
                    f"setting {WAVES_KEY!r}, wave {number}: stage {name!r} is not declared; "
                    f"declared: {', '.join(names)}{_nearest(str(name), names)}"
                )
            if name in placed:
                raise ConfigError(
                    f"setting {WAVES_KEY!r}, wave {number}: stage {name!r} is already in wave {placed[name]}; "
                    "each stage goes in one wave"
                )
            placed[name] = number
    return tuple(tuple(wave) for wave in raw)


def _from_json_text(what: str, raw: Any) -> Any:
    """`raw` itself, or parsed when it is text (`-c key=...` gives JSON as a string); `ConfigError` naming `what`."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what}: {raw!r} is not JSON") from exc


def _declared(value: Any) -> bool:
    """A setting given a value (cdk.json's null and `-c key=` both mean unset)."""
    return value is not None and value != ""


def find_stage(stages: tuple[Stage, ...] | None, name: str) -> Stage:
    """The stage called `name`; `ConfigError` listing the declared stages (and the nearest) when there is none."""
    if not stages:
        raise ConfigError(f"stage {name!r}: cdk.json declares no stages (setting {STAGES_KEY!r})")
    for stage in stages:
        if stage.name == name:
            return stage
    names = tuple(stage.name for stage in stages)
    raise ConfigError(f"stage {name!r} is not declared; declared: {', '.join(names)}{_nearest(name, names)}")


def _nearest(name: str, names: tuple[str, ...]) -> str:
    lowered = {candidate.lower(): candidate for candidate in names}
    nearest = difflib.get_close_matches(name.lower(), lowered, n=1)
    return f"; did you mean {lowered[nearest[0]]}?" if nearest else ""


def _entries(raw: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, entry) pairs from the list or the mapping shape (or either as JSON text, as `-c stages=...` gives)."""
    raw = _from_json_text(f"context key {STAGES_KEY!r}", raw)
    if isinstance(raw, Mapping):
        pairs = [(name, entry) for name, entry in raw.items()]
        for name, entry in pairs:
            if isinstance(entry, Mapping) and "name" in entry and entry["name"] != name:
                raise ConfigError(f"stage {name!r}: its key 'name' says {entry['name']!r}; drop it or make them equal")
    elif isinstance(raw, list):
        pairs = [(entry.get("name") if isinstance(entry, Mapping) else None, entry) for entry in raw]
    else:
        raise ConfigError(
            f"context key {STAGES_KEY!r}: {raw!r} must be a list of stage objects or an object of stage name -> stage"
        )
    if not pairs:
        raise ConfigError(f"context key {STAGES_KEY!r} is empty; declare at least one stage or remove the key")
    checked: list[tuple[str, Mapping[str, Any]]] = []
    for position, (name, entry) in enumerate(pairs, start=1):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"stage {name or position!r}: {entry!r} must be an object with region and settings")
        if not isinstance(name, str) or not STAGE_NAME.match(name):
            raise ConfigError(
                f"stage {name or position!r}: 'name' must be letters, digits and single hyphens, starting with a "
                "letter (it ends the stack name)"
            )
        checked.append((name, entry))
    return checked


def _stage(
    name: str, entry: Mapping[str, Any], base: Mapping[str, Any], base_stack_name: str, project_dir: Path
) -> Stage:
    overrides = {key: value for key, value in entry.items() if key not in STAGE_FIELDS}
    _check_stage_keys(name, overrides)
    region = entry.get("region")
    if not isinstance(region, str) or not REGION_NAME.match(region):
        raise ConfigError(f"stage {name!r}: 'region' is {region!r}; give the stage's AWS region, like eu-west-1")
    account = entry.get("account")
    if account is not None and (not isinstance(account, str) or not ACCOUNT_ID.match(account)):
        raise ConfigError(
            f"stage {name!r}: 'account' is {account!r}; give the 12-digit account id as a string (quoted, so "
            "leading zeros survive), or leave it out to use the credentials' account"
        )
    context = {**base, **overrides, "stackName": stage_stack_name(base_stack_name, name)}
    try:
        config = load_config(context, project_dir=project_dir)
        check_region(config, region)
    except ConfigError as exc:
        raise ConfigError(f"stage {name!r}: {exc}") from exc
    return Stage(name=name, region=region, account=account, config=config)


def _check_stage_keys(name: str, overrides: Mapping[str, Any]) -> None:
    """Refuse, naming the stage, every key of a stage that is no setting (with the nearest suggested; namespaced keys
    too: a stage holds settings only) and every project-wide setting."""
    problems = []
    for key in overrides:
        if key in PROJECT_SETTINGS:
            problems.append(f"key '{key}' belongs to the project, not a stage (the stack is <stackName>-{name})")
        elif key not in DEFAULTS:
            problems.append(f"key '{key}' is not a setting{nearest_setting_hint(key, STAGE_FIELDS)}")
    if problems:
        raise ConfigError(f"stage {name!r}: " + "; ".join(problems) + " (settings: README.md, Configuration)")


def main(argv: list[str] | None = None, *, cdk_json: Path = CDK_JSON) -> int:
    """`python -m bluegreen.stages stack-name STAGE`: print the stack name of the declared stage STAGE (one line), for
    the Makefile, which must give `cdk deploy` that exact name: a glob like `*-us` would also match `production-us`.
    Exit 2 with one message and what to do when the stage is not declared or cdk.json is invalid."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "stack-name":
        print("usage: python -m bluegreen.stages stack-name STAGE", file=sys.stderr)
        return 2
    try:
        stage = find_stage(load_stages(load_cdk_json_context(cdk_json), project_dir=cdk_json.parent), args[1])
    except ConfigError as exc:
        print(
            f"STAGE={args[1]}: {exc}\nWhat to do: name a stage declared under `stages` in cdk.json (README, Stages).",
            file=sys.stderr,
        )
        return 2
    print(stage.stack_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
