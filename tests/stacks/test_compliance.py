"""Every synthesized template passes cdk-nag's AwsSolutions pack and cfn-lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match

from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow

CFN_LINT_CONFIG = Path(__file__).resolve().parents[2] / ".cfnlintrc.yaml"
VARIANTS = ["default_stack", "https_existing_vpc_stack"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_unacknowledged_aws_solutions_findings(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    annotations = Annotations.from_stack(synthesized.stack)
    findings = [
        f"{message.id}: {message.entry.data}"
        for finder in (annotations.find_error, annotations.find_warning)
        for message in finder("*", Match.string_like_regexp(r"AwsSolutions-.*"))
    ]
    assert findings == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_template_passes_cfn_lint(variant: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(variant)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--config-file",
            str(CFN_LINT_CONFIG),
            "--",
            str(synthesized.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
