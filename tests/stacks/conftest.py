"""One synthesis per stack variant per test session: synth starts the jsii runtime and takes seconds.

Each synthesis runs cdk-nag's AwsSolutions checks as `cdk synth` does (an unacknowledged finding fails it), and
records the acknowledgements in the tree and every finding they answer (tests/stacks/nag_audit.py), so a stale
acknowledgement is found without a second synthesis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from bluegreen.config import CDK_JSON, load_config
from stacks.blue_green_stack import BlueGreenStack, build_stack
from tests.conftest import FAKE_REGION
from tests.stacks.nag_audit import Acknowledgement, Finding, declared_acknowledgements, findings

CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
EXISTING_VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "availabilityZones": ["eu-west-1a", "eu-west-1b"],
    "publicSubnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
    "privateSubnetIds": ["subnet-0000000000000000c", "subnet-0000000000000000d"],
}


@dataclass(frozen=True)
class Synthesized:
    """A synthesized stack variant: the construct tree, its template and the template file (for cfn-lint), the
    cdk-nag acknowledgements recorded in it and the findings they suppress (all of them: synthesis fails on any
    other)."""

    stack: BlueGreenStack
    template: Template
    template_path: Path
    acknowledgements: tuple[Acknowledgement, ...]
    suppressed: tuple[Finding, ...]


def synthesize(overrides: Mapping[str, Any], out_dir: Path) -> Synthesized:
    """Synthesize with cdk.json's context (feature flags and any overridden setting, as `cdk synth` would) plus
    `overrides`."""
    context = {**json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"], **overrides}
    app = cdk.App(outdir=str(out_dir), context=context)
    stack = build_stack(app, load_config(context), cdk.Environment(region=FAKE_REGION))
    template = Template.from_stack(stack)  # synthesizes the app, and with it the AwsSolutions checks
    path = out_dir / f"{stack.stack_name}.lint.template.json"
    path.write_text(json.dumps(template.to_json(), indent=1), encoding="utf-8")
    return Synthesized(stack, template, path, tuple(declared_acknowledgements(stack)), tuple(findings(stack)))


@pytest.fixture(scope="session")
def default_stack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with the default settings (cdk.json overrides none)."""
    return synthesize({}, tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def https_existing_vpc_stack(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The options that change the shape: a certificate (HTTPS + redirect) and an existing VPC."""
    return synthesize(
        {"certificateArn": CERTIFICATE_ARN, "existingVpc": EXISTING_VPC, "stackName": "BlueGreenHttps"},
        tmp_path_factory.mktemp("https"),
    )


@pytest.fixture(scope="session")
def template(default_stack: Synthesized) -> Template:
    return default_stack.template
