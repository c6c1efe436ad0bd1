#!/usr/bin/env python3
"""CDK entry point: the only place that reads the outside world (context, environment) at synth time."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from bluegreen.config import (
    ConfigError,
    RegionError,
    check_instance_type,
    check_region,
    check_region_listed,
    load_cdk_json_context,
    load_config,
)
from bluegreen.stages import Stage, load_stages
from stacks.blue_green_stack import BlueGreenStack, build_stack

# Where the region comes from, first match wins: the CDK CLI's own resolution (it passes CDK_DEFAULT_REGION to the
# app), then the SDKs' variables for `python app.py` run without the CLI (docs/decisions.md F67).
REGION_VARIABLES = ("CDK_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
# The account is optional (left unresolved, synth needs no credentials): the CLI's, or the SDKs' AWS_ACCOUNT_ID.
ACCOUNT_VARIABLES = ("CDK_DEFAULT_ACCOUNT", "AWS_ACCOUNT_ID")
NO_REGION = (
    "No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or the region of the profile AWS_PROFILE names) before "
    "`cdk synth` or `python app.py`."
)


# The CDK CLI's fallback when neither the environment, the profile nor instance metadata names a region: it then sets
# CDK_DEFAULT_REGION to this, silently (docs/decisions.md F103).
CDK_CLI_DEFAULT_REGION = "us-east-1"
# The variables the CDK CLI reads for the region before the profile (F103): AMAZON_* kept for backwards compatibility.
CDK_CLI_REGION_VARIABLES = ("AWS_REGION", "AMAZON_REGION", "AWS_DEFAULT_REGION", "AMAZON_DEFAULT_REGION")


# How the CDK CLI hands cdk.json's context (and -c) to the app: as JSON in CDK_CONTEXT_JSON, or, when that is too
# large for the environment, in a file named by CONTEXT_OVERFLOW_LOCATION_ENV (docs/decisions.md F104).
CLI_CONTEXT_VARIABLES = ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV")
# The project's cdk.json, the one next to this file (what the CLI reads when run from the project directory).
PROJECT_CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def direct_run_context(environ: Mapping[str, str], cdk_json: Path = PROJECT_CDK_JSON) -> dict[str, Any] | None:
    """cdk.json's context when the app runs without the CDK CLI (`python app.py`: none of `CLI_CONTEXT_VARIABLES`
    set), so that its settings, stages and feature flags apply as under `cdk synth`; None when the CLI passed the
    context itself (docs/decisions.md F104). Raises `ConfigError` when cdk.json cannot be read as JSON."""
    if any(name in environ for name in CLI_CONTEXT_VARIABLES):
        return None
    return load_cdk_json_context(cdk_json)


@dataclass(frozen=True)
class StackEnvironment:
    """The stack's region (always known), where it came from (a variable's name, or "the AWS profile"), and the
    account (None: unresolved, as in a credential-less `cdk synth`)."""

    region: str
    account: str | None
    source: str = "AWS_REGION"


def profile_region() -> str | None:
    """The region of the shared config file's profile (AWS_PROFILE, else `default`), read offline; None if unset."""
    import botocore.exceptions  # noqa: PLC0415 - only when no variable names the region
    import botocore.session  # noqa: PLC0415

    try:
        region = botocore.session.Session().get_config_variable("region")
    except botocore.exceptions.BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile the file lacks
        raise ConfigError(f"the AWS profile cannot be read: {exc}") from exc
    return str(region) if region else None


def stack_environment(environ: Mapping[str, str]) -> StackEnvironment | None:
    """The stack's environment from `environ` (`REGION_VARIABLES`, then the profile's region), None without a region."""
    name = next((name for name in REGION_VARIABLES if environ.get(name)), None)
    if name is not None:
        return StackEnvironment(
            region=environ[name], account=default_account(environ), source=region_source(environ, name)
        )
    region = profile_region()
    if region is None:
        return None
    return StackEnvironment(region=region, account=default_account(environ), source="the AWS profile")


def region_source(environ: Mapping[str, str], name: str) -> str:
    """Where the region in variable `name` came from, for messages: the CLI copies the variable it read into
    CDK_DEFAULT_REGION (F103), so that one is named when it holds the same value ("CDK_DEFAULT_REGION, from
    AWS_REGION")."""
    if name != "CDK_DEFAULT_REGION":
        return name
    origin = next((other for other in CDK_CLI_REGION_VARIABLES if environ.get(other) == environ[name]), None)
    return f"{name}, from {origin}" if origin else name


def cli_default_region_note(env: StackEnvironment, environ: Mapping[str, str]) -> str | None:
    """One line saying the region is the CDK CLI's silent default, when nothing else explains it: CDK_DEFAULT_REGION
    is us-east-1 while neither AWS_REGION, AWS_DEFAULT_REGION nor the profile names a region (docs/decisions.md
    F103); else None. (`cdk --profile NAME` or instance metadata may also have given us-east-1: the line says so.)"""
    if env.source != "CDK_DEFAULT_REGION" or env.region != CDK_CLI_DEFAULT_REGION:
        return None
    if any(environ.get(name) for name in CDK_CLI_REGION_VARIABLES) or profile_region() is not None:
        return None
    return (
        f"Synthesizing for region {env.region}: the CDK CLI's default, as no AWS_REGION, AWS_DEFAULT_REGION or profile "
        "region is set (unless `cdk --profile` or instance metadata gave it); set AWS_REGION to choose the region."
    )


def default_account(environ: Mapping[str, str]) -> str | None:
    """The account from `ACCOUNT_VARIABLES`, or None (left unresolved)."""
    return next((environ[name] for name in ACCOUNT_VARIABLES if environ.get(name)), None)


def build_stages(app: cdk.App, stages: tuple[Stage, ...], environ: Mapping[str, str]) -> tuple[BlueGreenStack, ...]:
    """One stack per stage (bluegreen.stages), each in its stage's region and account (the credentials' account
    when the stage names none). Raises `ConfigError` naming the stage."""
    stacks: list[BlueGreenStack] = []
    for stage in stages:
        try:
            check_region_listed(stage.config, stage.region, "the stage's region")
            check_instance_type(stage.config)
        except ConfigError as exc:
            raise ConfigError(f"stage {stage.name!r}: {exc}") from exc
        env = cdk.Environment(account=stage.account or default_account(environ), region=stage.region)
        stacks.append(build_stack(app, stage.config, env, nag_checks=not stacks))
    return tuple(stacks)


def main() -> int:
    """Synthesize the stack with the settings' defaults (`bluegreen.config.SETTINGS`), overridden by any key set in
    `cdk.json` context or with `cdk ... -c key=value` (run as `python app.py`, cdk.json's context is read here);
    with setting `stages`, one stack per stage instead. Bad input:
    one message on stderr, exit code 2."""
    # aws-cdk-lib's built-in template validation only warns and costs most of synth's CPU (docs/performance.md);
    # the tests run cfn-lint on every template instead.
    try:
        app = cdk.App(builtin_cloud_formation_validation=False, context=direct_run_context(os.environ))
        # All of the context, so that a key that is no setting (a typo, a renamed setting) is refused, not ignored;
        # the namespaced keys of CDK and other tools pass (bluegreen.config.check_context_keys).
        context = dict(app.node.get_all_context())
        config = load_config(context)
        stages = load_stages(context)
        if stages is not None:
            # Each stage names its own region, so the environment's region does not matter here.
            build_stages(app, stages, os.environ)
        else:
            # The region is needed at synth (ALB access logging grants a region-specific principal).
            env = stack_environment(os.environ)
            if env is None:
                print(NO_REGION, file=sys.stderr)
                return 2
            check_region_listed(config, env.region, env.source)
            note = cli_default_region_note(env, os.environ)
            if note is not None:
                print(note, file=sys.stderr)
            check_region(config, env.region)
            check_instance_type(config)
            build_stack(app, config, cdk.Environment(account=env.account, region=env.region))
    except RegionError as error:
        print(f"Invalid region: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"Invalid configuration (cdk.json context or -c): {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
