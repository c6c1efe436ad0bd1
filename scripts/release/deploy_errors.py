"""Failures of the release itself (after the revision was accepted), each with its documented exit code.

`errors.py` holds the input family (exit 2). These are the outcomes of a deployment that ran, or was refused because
another one runs: the CLI prints `describe()` and exits with `exit_code`.
"""

from __future__ import annotations

from typing import ClassVar

from release.errors import ExitCode, InputError, ReleaseError


class TargetsError(InputError):
    """The stack, bucket, application, deployment group or slots named on the command line cannot be used."""

    default_hint = (
        "Check --stack (or --bucket/--application/--deployment-group/--slots), the region (AWS_REGION) and the "
        "credentials' account; run `python scripts/deploy.py status` to see what the tool finds."
    )


class DeploymentFailed(ReleaseError):
    """The deployment failed (or the slot never became ready); CodeDeploy kept or put traffic on the live slot."""

    exit_code: ClassVar[int] = ExitCode.DEPLOYMENT_FAILED
    default_hint = (
        "Read the failed lifecycle event and its log tail above, fix the revision, and push again; "
        "traffic stays on the previous release."
    )


class TimedOut(ReleaseError):
    """The release did not finish within its timeout; the deployment was stopped with rollback."""

    exit_code: ClassVar[int] = ExitCode.TIMED_OUT
    default_hint = (
        "Look at the slowest lifecycle event in the timeline; raise --timeout if the release is merely slow, "
        "or fix the hook that hangs."
    )


class Cancelled(ReleaseError):
    """SIGINT/SIGTERM arrived; the deployment was stopped with rollback."""

    exit_code: ClassVar[int] = ExitCode.CANCELLED
    default_hint = "Run the release again when ready; the next run cleans up anything this one left."


class ReleaseInFlight(ReleaseError):
    """Another deployment of the same deployment group is in flight (CodeDeploy allows one at a time)."""

    exit_code: ClassVar[int] = ExitCode.RELEASE_IN_FLIGHT
    default_hint = (
        "Wait for it to finish (`python scripts/deploy.py status`), or stop it with `python scripts/deploy.py stop`, "
        "then run the release again."
    )
