"""Pre-flight for `cdk deploy` (`scripts/deploy.py preflight`; `make deploy` runs it first): fail before CloudFormation
does, with the fix, when the account cannot take the stack.

Two checks, both read-only:

* **Lambda concurrency.** The stack reserves concurrency for its drain, join and deployment-group functions
  (`bluegreen.config.lambda_reservations`, the function the stack itself uses), and Lambda keeps 100 of the account's
  concurrency unreserved (docs/decisions.md F25). An account whose quota is lower than 100 plus the reservations
  (new accounts start as low as 10) fails `cdk deploy` with "... decreases account's UnreservedConcurrentExecution
  below its minimum value of [...]". Lambda `GetAccountSettings` gives the quota and what is still unreserved; what
  this stack's functions already reserve (an update) is added back, read from the stack's resources and
  `GetFunctionConcurrency`.
* **CDK bootstrap.** The template's `BootstrapVersion` parameter reads the SSM parameter
  `/cdk-bootstrap/<qualifier>/version`, and its `CheckBootstrapVersion` rule refuses versions 1-5. A missing
  parameter means the environment was never bootstrapped.

A problem found is exit 2 with its fix; a read AWS refused or could not answer is exit 8 (`AwsUnavailable`).

Imports no `aws_cdk`: the settings come from the plain-Python `bluegreen.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen.config import LAMBDA_MIN_UNRESERVED_CONCURRENCY, AppConfig, LambdaReservations, lambda_reservations
from release.errors import AwsUnavailable, InputError

# cdk.json context key of a custom bootstrap qualifier (`cdk bootstrap --qualifier`), and CDK's default.
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"
DEFAULT_QUALIFIER = "hnb659fds"
# The synthesized template's CheckBootstrapVersion rule refuses versions 1 to 5.
MIN_BOOTSTRAP_VERSION = 6
SETTING = "lambdaReservedConcurrency"
# Every call the checks make; all read-only.
PERMISSIONS = (
    "lambda:GetAccountSettings",
    "lambda:GetFunctionConcurrency",
    "cloudformation:ListStackResources",
    "ssm:GetParameter",
)
BOOTSTRAP_COMMAND = "make bootstrap"  # `cdk bootstrap` with this project's Node and Python first on PATH


@dataclass(frozen=True)
class PreflightClients:
    """The three read-only clients the checks call."""

    lambda_: Any
    cloudformation: Any
    ssm: Any


@dataclass(frozen=True)
class Problem:
    """One reason `cdk deploy` would fail, and what to do about it."""

    message: str
    fix: str


def bootstrap_qualifier(context: Mapping[str, Any]) -> str:
    """The bootstrap qualifier the app synthesizes with: cdk.json's `@aws-cdk/core:bootstrapQualifier`, or CDK's."""
    qualifier = context.get(QUALIFIER_CONTEXT_KEY)
    return qualifier if isinstance(qualifier, str) and qualifier else DEFAULT_QUALIFIER


class Preflight:
    """The checks for one stack configuration against one account and region (the clients')."""

    def __init__(self, clients: PreflightClients, config: AppConfig, *, qualifier: str = DEFAULT_QUALIFIER) -> None:
        self.clients = clients
        self.config = config
        self.qualifier = qualifier

    def run(self, out: TextIO) -> None:
        """Run every check, print what each found, and raise `InputError` (exit 2) naming every problem."""
        try:
            problems = [problem for problem in (self.concurrency(out), self.bootstrap(out)) if problem is not None]
        except (ClientError, BotoCoreError) as exc:
            # AWS refused a read or could not be reached: not a problem of the stack's settings (exit 2) but of who
            # and where the tool is (exit 8), like every other command's.
            raise AwsUnavailable(
                f"pre-flight: a read failed, so nothing was checked for sure: {exc}",
                hint=f"The pre-flight reads with {', '.join(PERMISSIONS)}; check the credentials (`aws sts "
                "get-caller-identity`), the region (`aws configure list`) and the network.",
            ) from exc
        if problems:
            raise InputError(
                "pre-flight: `cdk deploy` would fail:\n" + "\n".join(f"- {problem.message}" for problem in problems),
                hint="".join(f"\n- {problem.fix}" for problem in problems),
            )
        print(f"pre-flight passed: {self.config.stack_name} can be deployed to {self._region()}", file=out)

    def concurrency(self, out: TextIO) -> Problem | None:
        """The account's Lambda concurrency holds the stack's reservations and the 100 Lambda keeps unreserved."""
        reservations = lambda_reservations(self.config)
        if reservations.total == 0:
            print(f"lambda concurrency: the stack reserves none ({SETTING} false)", file=out)
            return None
        limit = self.clients.lambda_.get_account_settings()["AccountLimit"]
        quota, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
        held = self._held_by_stack()
        available = unreserved + held - LAMBDA_MIN_UNRESERVED_CONCURRENCY
        print(
            f"lambda concurrency: quota {quota}, unreserved {unreserved}"
            + (f" ({held} of it held by {self.config.stack_name} now)" if held else "")
            + f"; the stack reserves {_figures(reservations)} and Lambda keeps {LAMBDA_MIN_UNRESERVED_CONCURRENCY} "
            "unreserved",
            file=out,
        )
        if available >= reservations.total:
            return None
        return Problem(
            message=(
                f"Lambda concurrency in {self._region()}: the account's quota is {quota} "
                f"({unreserved} unreserved); the stack reserves {reservations.total} ({_figures(reservations)}) and "
                f"Lambda keeps {LAMBDA_MIN_UNRESERVED_CONCURRENCY} unreserved (docs/decisions.md F25), so it needs "
                f"{LAMBDA_MIN_UNRESERVED_CONCURRENCY + reservations.total - held} unreserved; CloudFormation would "
                'fail with "decreases account\'s UnreservedConcurrentExecution below its minimum value".'
            ),
            fix=(
                "Either request a higher Lambda quota (Service Quotas > AWS Lambda > Concurrent executions, at least "
                f"{quota - available + reservations.total}), or deploy without reservations: "
                f'"{SETTING}": false in cdk.json\'s context (what `make deploy` reads), or '
                f"`cdk deploy -c {SETTING}=false` with `scripts/deploy.py preflight -c {SETTING}=false`."
            ),
        )

    def bootstrap(self, out: TextIO) -> Problem | None:
        """The environment is bootstrapped for this qualifier, at a version the template accepts."""
        name = f"/cdk-bootstrap/{self.qualifier}/version"
        try:
            version = self.clients.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
                raise
            return Problem(
                message=f"CDK bootstrap: {self._region()} is not bootstrapped (no SSM parameter {name}).",
                fix=f"Bootstrap this account and region once, from the checkout: `{BOOTSTRAP_COMMAND}`.",
            )
        print(f"cdk bootstrap: version {version} ({name})", file=out)
        if version.isdigit() and int(version) >= MIN_BOOTSTRAP_VERSION:
            return None
        return Problem(
            message=f"CDK bootstrap: version {version} in {self._region()} is older than the template accepts "
            f"({MIN_BOOTSTRAP_VERSION} or later).",
            fix=f"Bootstrap again to upgrade it: `{BOOTSTRAP_COMMAND}`.",
        )

    def _held_by_stack(self) -> int:
        """The concurrency this stack's functions reserve now (0 before the first deploy): on an update it is part of
        what the stack will reserve, not taken from the unreserved rest."""
        paginator = self.clients.cloudformation.get_paginator("list_stack_resources")
        try:
            functions = [
                resource["PhysicalResourceId"]
                for page in paginator.paginate(StackName=self.config.stack_name)
                for resource in page["StackResourceSummaries"]
                if resource["ResourceType"] == "AWS::Lambda::Function" and resource.get("PhysicalResourceId")
            ]
        except ClientError as exc:
            # CloudFormation answers ValidationError "Stack with id <name> does not exist" for an unknown stack.
            if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
                return 0
            raise
        return sum(self._reserved(function) for function in functions)

    def _reserved(self, function: str) -> int:
        try:
            answer = self.clients.lambda_.get_function_concurrency(FunctionName=function)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return 0
            raise
        return int(answer.get("ReservedConcurrentExecutions", 0))

    def _region(self) -> str:
        return str(self.clients.lambda_.meta.region_name)


def _figures(reservations: LambdaReservations) -> str:
    figures = f"drain {reservations.drain}, join {reservations.join}, deployment-group provider {reservations.provider}"
    return figures + (f", finisher {reservations.finisher}" if reservations.finisher else "")
