#!/usr/bin/env python3
"""Integration test app: the project's stack under a throwaway name, with deploy-time assertions.

Run by `integ-runner` (npm `@aws-cdk/integ-runner`, pinned in package.json), the CDK ecosystem's convention:

- offline (`make integ-check`, CI): integ-runner synthesizes this app and compares it with the committed snapshot
  `integ/integ_blue_green.py.snapshot/`; nothing is deployed and no AWS call is made;
- against an account (`make integ`): integ-runner deploys the stack and the assertion stack, the assertions below
  call the real APIs, then `integ/kit.py` releases, breaks and scales the deployed stack (docs/decisions.md, kit
  checks) and destroys everything.

This file is an entry point like `app.py`: it is the only place here that reads the environment (the region and
account integ-runner chooses) and `cdk.json` (the project's feature flags, so the integration stack synthesizes
with the flags the real app uses). The stack itself is built by `stacks.blue_green_stack.build_stack`, unchanged.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

import aws_cdk as cdk  # noqa: E402
from aws_cdk import integ_tests_alpha as integ_tests  # noqa: E402

from bluegreen import outputs  # noqa: E402
from bluegreen.config import CDK_JSON, load_config  # noqa: E402
from integ.settings import ASSERTION_STACK_NAME, OVERRIDES  # noqa: E402
from stacks.blue_green_stack import BlueGreenStack, build_stack  # noqa: E402

# integ-runner's snapshot synthesis sets these for every test (runner-base.js, DEFAULT_SYNTH_OPTIONS), and so does
# integ/snapshot.py: the snapshot never depends on the account or region of whoever synthesizes it.
INTEG_REGION_VAR = "CDK_INTEG_REGION"
# The region the snapshot is synthesized for. integ-runner's placeholder ("test-region") is no region: ALB access
# logging names the region's ELB account in the log bucket's policy. The account stays unresolved, as in a
# credential-less `cdk synth`, so no availability-zone lookup is attempted.
SNAPSHOT_REGION = "us-east-1"


def project_feature_flags(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """The `@aws-cdk/...` feature flags `cdk.json` sets, so the integration stack matches the deployed one."""
    context = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    return {key: value for key, value in context.items() if key.startswith(("@aws-cdk/", "@aws-cdk-containers/"))}


def environment() -> cdk.Environment:
    """Snapshot synthesis (CDK_INTEG_REGION set): a fixed region and no account; a deployment: CDK_DEFAULT_*."""
    if os.environ.get(INTEG_REGION_VAR):
        return cdk.Environment(region=SNAPSHOT_REGION)
    region = os.environ.get("CDK_DEFAULT_REGION")
    if not region:
        raise SystemExit("No AWS region: set AWS_REGION (the CDK CLI passes it on as CDK_DEFAULT_REGION).")
    return cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=region)


def _output_value(stack: BlueGreenStack, name: str) -> str:
    """The value of one of the stack's outputs (bluegreen.outputs), the same names the release tool reads."""
    output = stack.node.find_child(name)
    if not isinstance(output, cdk.CfnOutput):
        raise TypeError(f"{name} is not a CfnOutput of {stack.stack_name}")
    return output.value  # type: ignore[no-any-return]


def add_assertions(test: integ_tests.IntegTest, stack: BlueGreenStack) -> None:
    """What the deployed stack must be, asked of the real APIs right after deployment (kit check K-DG-SHAPE).

    The deployment group is created by a custom resource (docs/decisions.md F1), so nothing but the CodeDeploy API
    can show its type: blue/green with traffic control, replacement instances discovered, originals kept alive.
    """
    application = _output_value(stack, outputs.APPLICATION)
    group = _output_value(stack, outputs.DEPLOYMENT_GROUP)
    test.assertions.aws_api_call(
        "CodeDeploy",
        "getDeploymentGroup",
        {"applicationName": application, "deploymentGroupName": group},
    ).expect(
        integ_tests.ExpectedResult.object_like(
            {
                "deploymentGroupInfo": {
                    "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                    "blueGreenDeploymentConfiguration": {
                        "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
                        "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
                    },
                }
            }
        )
    )
    # Both slots carry the drain's termination hook with CONTINUE as its default result (F5).
    for slot_output in (outputs.SLOT_A, outputs.SLOT_B):
        test.assertions.aws_api_call(
            "AutoScaling",
            "describeLifecycleHooks",
            {"AutoScalingGroupName": _output_value(stack, slot_output)},
        ).expect(
            integ_tests.ExpectedResult.object_like(
                {
                    "LifecycleHooks": integ_tests.Match.array_with(
                        [
                            integ_tests.Match.object_like(
                                {
                                    "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                                    "DefaultResult": "CONTINUE",
                                }
                            )
                        ]
                    )
                }
            )
        )


def main() -> int:
    """Synthesize the integration test: the stack under its throwaway name (integ.settings) and its assertions."""
    app = cdk.App(post_cli_context=project_feature_flags())
    env = environment()
    stack = build_stack(app, load_config(OVERRIDES), env)
    assertion_stack = cdk.Stack(app, ASSERTION_STACK_NAME, env=env)
    test = integ_tests.IntegTest(
        app,
        "BlueGreenIntegTest",
        test_cases=[stack],
        assertion_stack=assertion_stack,
        # The kit (integ/kit.py) needs the stack after the assertions; `make integ` destroys it in every case.
        # A stack update workflow would deploy the previous snapshot first: not wanted for a throwaway stack.
        stack_update_workflow=False,
        diff_assets=False,
    )
    add_assertions(test, stack)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
