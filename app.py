#!/usr/bin/env python3
"""CDK entry point: the only place that reads the outside world (context, environment) at synth time."""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from bluegreen.config import RENAMED_DRAIN_KEYS, SETTINGS, ConfigError, check_region, load_config
from stacks.blue_green_stack import build_stack


def main() -> int:
    """Synthesize the stack with the settings' defaults (`bluegreen.config.SETTINGS`), overridden by any key set in
    `cdk.json` context or with `cdk ... -c key=value`."""
    # aws-cdk-lib's built-in template validation only warns and costs most of synth's CPU (docs/performance.md);
    # the tests run cfn-lint on every template instead.
    app = cdk.App(builtin_cloud_formation_validation=False)
    # The settings, and the retired keys too, so that a renamed setting is refused with its new name rather than
    # silently ignored (CDK's own feature flags share the context, so other keys are not ours to judge here).
    keys = [setting.key for setting in SETTINGS] + list(RENAMED_DRAIN_KEYS)
    context = {key: value for key in keys if (value := app.node.try_get_context(key)) is not None}
    try:
        config = load_config(context)
    except ConfigError as error:
        print(f"Invalid configuration (cdk.json context or -c): {error}", file=sys.stderr)
        return 2
    # The region is needed at synth (ALB access logging grants a region-specific principal); the CLI derives
    # CDK_DEFAULT_REGION from AWS_REGION / the profile, no credentials needed. The account may stay unresolved.
    region = os.environ.get("CDK_DEFAULT_REGION")
    if not region:
        print(
            "No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region) before `cdk synth`.",
            file=sys.stderr,
        )
        return 2
    try:
        check_region(config, region)
    except ConfigError as error:
        print(f"Invalid configuration (cdk.json context or -c): {error}", file=sys.stderr)
        return 2
    env = cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)
    build_stack(app, config, env)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
