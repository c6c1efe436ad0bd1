"""The staging reader's policy in docs/pipelines.md grants exactly what `promote-revision` calls on the earlier stage.

The policy is read from the document itself, linted with parliament (as the stack's policies are, tests/stacks/iam),
and checked against a real `promote-revision` run whose staging clients record every call they receive: each call,
mapped to its IAM action and resource ARN (docs/decisions.md F98 for S3), must be allowed by a statement of the
policy, and the policy must grant no action the tool never calls. A new call on staging fails here until the document
grants it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from release import cli
from release.errors import ExitCode
from release.runtime import Runtime

from tests.release import scenarios
from tests.release.support import SLOT_A, World, make_world
from tests.release.test_promotion import (
    STAGES,
    STAGING_APP,
    STAGING_BUCKET_US,
    STAGING_GROUP,
    production_clients,
    released_in_staging,
    staging_clients,
    versioned_bucket,
)
from tests.stacks.iam.policy_lint import lint

DOC = Path(__file__).resolve().parents[2] / "docs/pipelines.md"
# The test's staging: moto's account, the region and names of tests/release/test_promotion.py.
ACCOUNT, STAGING_REGION, STAGING_STACK = "123456789012", "us-east-1", "BlueGreenApp-staging"
# The document's example names, and what they stand for here.
EXAMPLE_NAMES = {
    "111111111111": ACCOUNT,
    "eu-west-1": STAGING_REGION,
    "bluegreenapp-staging-artifactsbucket-example": STAGING_BUCKET_US,
    "BlueGreenApp-staging-Application-EXAMPLE": STAGING_APP,
    "BlueGreenApp-staging-blue-green": STAGING_GROUP,
}


def documented_policy(name: str) -> dict[str, Any]:
    """The JSON block that follows `<!-- policy: NAME -->` in docs/pipelines.md."""
    match = re.search(rf"<!-- policy: {re.escape(name)} -->\s*```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"docs/pipelines.md has no policy {name!r}"
    return dict(json.loads(match.group(1)))


def for_the_test(policy: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(policy)
    for example, actual in EXAMPLE_NAMES.items():
        text = text.replace(example, actual)
    return dict(json.loads(text))


# --- each staging call as IAM sees it ---------------------------------------------------------------------------


def _s3_read(params: dict[str, Any]) -> tuple[str, str]:
    # A read by version needs s3:GetObjectVersion, of the current version s3:GetObject (F98).
    action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
    return action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"


def _deployment_group(action: str) -> Callable[[dict[str, Any]], tuple[str, str]]:
    # GetDeployment is authorised on the deployment group the deployment belongs to (the tool refuses any other).
    arn = f"arn:aws:codedeploy:{STAGING_REGION}:{ACCOUNT}:deploymentgroup:{STAGING_APP}/{STAGING_GROUP}"
    return lambda params: (action, arn)


AS_IAM: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[str, str]]] = {
    ("s3", "head_object"): _s3_read,
    ("s3", "get_object"): _s3_read,
    ("codedeploy", "get_deployment_group"): _deployment_group("codedeploy:GetDeploymentGroup"),
    ("codedeploy", "get_deployment"): _deployment_group("codedeploy:GetDeployment"),
    ("cloudformation", "describe_stacks"): lambda params: (
        "cloudformation:DescribeStacks",
        f"arn:aws:cloudformation:{STAGING_REGION}:{ACCOUNT}:stack/{params['StackName']}/0a1b2c3d-stack-id",
    ),
}


class Recording:
    """A client that notes (service, method, parameters) of every call before passing it on."""

    def __init__(self, service: str, client: Any, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._service, self._client, self._calls = service, client, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name == "meta":
            return attribute

        def call(*args: Any, **params: Any) -> Any:
            self._calls.append((self._service, name, params))
            return attribute(*args, **params)

        return call


def staging_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, pinned: bool) -> set[tuple[str, str]]:
    """(action, resource ARN) of every call `promote-revision --from-profile` makes on staging, with staging's
    revision pinned by version or (pinned=False) registered without one; each run in a world of its own."""
    with mock_aws():
        return _promote(make_world(tmp_path), monkeypatch, tmp_path, pinned=pinned)


def _promote(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, pinned: bool) -> set[tuple[str, str]]:
    monkeypatch.setattr("release.targets.load_cdk_json_context", lambda: {"stages": STAGES})
    source_s3 = versioned_bucket(STAGING_REGION, STAGING_BUCKET_US)
    staging, _ = released_in_staging(source_s3, STAGING_BUCKET_US, tmp_path)
    if not pinned:
        for deployment in staging.deployments.values():
            deployment["revision"]["s3Location"].pop("version", None)
            deployment["revision"]["s3Location"].pop("eTag", None)
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def build_clients(settings: cli.AwsSettings) -> cli.AwsClients:
        assert settings.profile == "staging-reader"
        clients = staging_clients(source_s3, staging, STAGING_BUCKET_US)
        return cli.AwsClients(
            s3=Recording("s3", clients.s3, calls),
            autoscaling=None,
            codedeploy=Recording("codedeploy", clients.codedeploy, calls),
            cloudformation=Recording("cloudformation", clients.cloudformation, calls),
            elbv2=None,
        )

    monkeypatch.setattr(cli, "build_clients", build_clients)
    world.scale(SLOT_A, 2)
    production = world.codedeploy(SLOT_A, scenarios.success())
    argv = ["promote-revision", "--from-stage", "staging", "--stage", "production", "--from-profile", "staging-reader"]
    code = cli.main(
        [*argv, "--plain", "--report-dir", str(tmp_path / "report")],
        env={},
        clients=production_clients(world, production),
        runtime=Runtime(now=world.clock.now, sleep=world.clock.sleep),
    )
    assert code == ExitCode.RELEASED
    unmapped = {(service, method) for service, method, _ in calls} - set(AS_IAM)
    assert not unmapped, f"promote-revision now calls {unmapped} on staging: grant it in docs/pipelines.md and map it"
    return {AS_IAM[(service, method)](params) for service, method, params in calls}


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement of `policy` names `action` and a resource pattern matching `resource`."""
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        matches = any(fnmatch.fnmatchcase(resource, pattern) for pattern in resources)
        if statement["Effect"] == "Allow" and action in actions and matches:
            return True
    return False


def granted_actions(policy: dict[str, Any]) -> set[str]:
    return {
        action
        for statement in policy["Statement"]
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }


# --- the tests ---------------------------------------------------------------------------------------------------


def test_the_staging_reader_policy_passes_the_iam_policy_linter() -> None:
    findings = lint(documented_policy("staging-reader"), "docs/pipelines.md staging-reader")
    assert findings == [], "\n".join(map(str, findings))


def test_the_staging_reader_grants_every_call_promote_revision_makes_on_staging_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the documented policy, with its example names standing for this test's staging
    policy = for_the_test(documented_policy("staging-reader"))
    # When promote-revision reads staging through the reader's profile, its revision pinned by version or not
    calls = staging_calls(monkeypatch, tmp_path / "pinned", pinned=True)
    calls |= staging_calls(monkeypatch, tmp_path / "unpinned", pinned=False)
    # Then the policy allows each call on its very resource, and grants no action the tool does not call
    refused = sorted(call for call in calls if not allowed(policy, *call))
    assert refused == []
    assert granted_actions(policy) == {action for action, _ in calls}


def test_the_staging_reader_reads_only_the_revisions_prefix_of_stagings_bucket() -> None:
    policy = for_the_test(documented_policy("staging-reader"))
    lease = f"arn:aws:s3:::{STAGING_BUCKET_US}/leases/{STAGING_APP}/{STAGING_GROUP}.json"
    revision = f"arn:aws:s3:::{STAGING_BUCKET_US}/revisions/{STAGING_APP}/abc.zip"
    other_bucket = f"arn:aws:s3:::production-artifacts/revisions/{STAGING_APP}/abc.zip"
    assert allowed(policy, "s3:GetObjectVersion", revision)
    assert not allowed(policy, "s3:GetObjectVersion", lease)
    assert not allowed(policy, "s3:GetObject", lease)
    assert not allowed(policy, "s3:GetObject", other_bucket)
    assert not allowed(policy, "s3:PutObject", revision)


def _trusted(trust: dict[str, Any], claims: dict[str, str]) -> bool:
    """Whether a web-identity token with these claims may assume the role (StringEquals conditions only)."""
    for statement in trust["Statement"]:
        if statement["Effect"] != "Allow" or statement["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        expected = statement.get("Condition", {}).get("StringEquals", {})
        if all(claims.get(key) == value for key, value in expected.items()):
            return True
    return False


def test_only_the_production_environment_may_assume_the_staging_reader() -> None:
    # Given the documented trust policy of the staging reader
    trust = documented_policy("staging-reader-trust")
    (statement,) = trust["Statement"]
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    token = "token.actions.githubusercontent.com"
    repository = "repo:example-org/example-repo"

    def claims(sub: str, aud: str = "sts.amazonaws.com") -> dict[str, str]:
        return {f"{token}:aud": aud, f"{token}:sub": f"{repository}:{sub}"}

    # Then a job of the production environment may assume it; a staging job, a pull request, another audience not
    assert _trusted(trust, claims("environment:production"))
    assert not _trusted(trust, claims("environment:staging"))
    assert not _trusted(trust, claims("pull_request"))
    assert not _trusted(trust, claims("environment:production", aud="other"))
