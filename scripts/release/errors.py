"""Every error the release tool expects, and the documented exit code each one maps to: the tool's one errors module.

Every expected failure is a `ReleaseError`. The edge (`release.cli.main`, the rehearsal's `run_from_args`) catches it
once, prints `describe()` and exits with `exit_code`; anything else is a bug and keeps its traceback. A subclass fixes
the exit code as a class attribute and usually a default hint; the raiser may give a more specific hint.

Two families:

* Exit 2, `InputError` and its subclasses (`AppSpecError`, `UploadError`, `TargetsError`): bad input or a failed
  pre-flight check; nothing was uploaded and nothing was scaled.
* The outcomes of a deployment that ran, or was refused because another one runs: `DeploymentFailed` (1), `TimedOut`
  (3), `Cancelled` (4), `ReleaseInFlight` (5) and its lease variants `LeaseHeld`/`LeaseLost`, `FinishIncomplete` (7:
  released, a step after the success failed).
* `AwsUnavailable` (8): AWS could not be reached or refused the credentials or a permission; `UnexpectedAnswer`
  (8) when an answer lacks a field the tool reads (`release.answers.required`), instead of a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The documented exit codes of `scripts/deploy.py` (see `--help`)."""

    RELEASED = 0
    DEPLOYMENT_FAILED = 1
    BAD_INPUT = 2
    TIMED_OUT = 3
    CANCELLED = 4
    RELEASE_IN_FLIGHT = 5
    # `deploy.py rehearse` only: every event passed, but something could not be reproduced here (a `runas` user
    # the rehearsal, not being root, could not switch to): neither PASSED nor FAILED.
    REHEARSAL_INCOMPLETE = 6
    # The deployment succeeded and traffic is on the new slot, but a step after it (re-pointing the group, resuming
    # scaling processes, emptying the old slot) still failed after retries: released, finishing incomplete.
    RELEASED_INCOMPLETE = 7
    # AWS could not be reached, or refused the credentials or a permission (region typo, endpoint, IAM).
    AWS_UNAVAILABLE = 8


class ReleaseError(Exception):
    """Base of every failure the release tool expects; carries its exit code and what to do next."""

    exit_code: ClassVar[int] = ExitCode.DEPLOYMENT_FAILED
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        """Create the error with a one-line `message` and an optional `hint` overriding the class default."""
        super().__init__(message)
        self.message = message
        self.hint: str = hint if hint is not None else self.default_hint

    def describe(self) -> str:
        """The text shown to the user: the message, then the hint on its own line when there is one."""
        return f"{self.message}\nWhat to do: {self.hint}" if self.hint else self.message


class InputError(ReleaseError):
    """Bad input or a failed pre-flight check: nothing was uploaded and nothing was scaled."""

    exit_code: ClassVar[int] = ExitCode.BAD_INPUT
    default_hint = "Fix the input named above and run the release again."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a revision: the file at fault, the key inside it (dotted path) and what is wrong."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        location = f"{self.file}: {self.key}" if self.key else self.file
        return f"{location}: {self.message}"


class AppSpecError(InputError):
    """The revision's appspec.yml, or the files it refers to, would make CodeDeploy fail; lists every problem."""

    default_hint = (
        "Fix every problem listed above in the revision (see the AppSpec reference for EC2/On-Premises "
        "deployments), then run the release again; nothing was uploaded."
    )

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], *, hint: str | None = None) -> None:
        """Create the error from a non-empty list of problems, kept in the order they were found."""
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        header = f"The revision is not deployable: {count} problem{'s' if count != 1 else ''} found"
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{header}:\n{lines}" if lines else header, hint=hint)


class UploadError(InputError):
    """The revision could not be put in the artifact bucket (missing bucket, access denied, ...)."""

    default_hint = (
        "Check the bucket name (the stack output), the region and that the pipeline's role may "
        "s3:ListBucket, s3:GetObject and s3:PutObject on it."
    )


class TargetsError(InputError):
    """The stack, bucket, application, deployment group, slots or fleet size given cannot be used."""

    default_hint = (
        "Check --stack (or --bucket/--application/--deployment-group/--slots), the region (AWS_REGION) and the "
        "credentials' account; run `python scripts/deploy.py status` to see what the tool finds."
    )


class LiveSlotUnclear(InputError):
    """The deployment group, the target group and the last successful deployment disagree about the live slot.

    Raised before anything is uploaded or scaled (release.live), so it is the exit-2 family.
    """

    default_hint = (
        "Decide which slot serves, make the deployment group list exactly that slot (aws deploy "
        "update-deployment-group --auto-scaling-groups SLOT) and deregister the other slot's instances from the "
        "target group, then run the release again; `deploy.py status` shows both slots."
    )


class WindowRecordUnreadable(InputError):
    """The bake window's record exists but is not one (`bluegreen.bake.WindowUnreadable`): whether a window keeps the
    old slot, or a fast rollback is pending, cannot be told, so `release`, `rollback` and `promote-revision` refuse.

    Raised before anything is uploaded or scaled, so it is the exit-2 family.
    """

    default_hint = (
        "Look at the object named above (the bucket keeps its earlier versions) and `deploy.py status`; if no bake "
        "window should be open, delete it (aws s3 rm) and run the command again."
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


class LeaseHeld(ReleaseInFlight):
    """Another run holds the deployment group's release lease (release.lease): this run touched nothing."""

    default_hint = (
        "Another release or rollback of this deployment group is running (see the owner above). Wait for it to end, "
        "or for its lease to expire if that run died, then run the release again; `python scripts/deploy.py status` "
        "shows the deployment in flight. Nothing was uploaded or scaled."
    )


class LeaseLost(ReleaseInFlight):
    """This run's lease was taken over (it stalled past the lease's expiry): it stops touching anything."""

    default_hint = (
        "Another run took over the deployment group after this run stalled past its lease, and owns the slots now; "
        "this run scaled nothing after losing the lease. `python scripts/deploy.py status` shows what runs."
    )


class FinishIncomplete(ReleaseError):
    """The deployment succeeded and traffic is on the new slot; a step after it failed even after retries."""

    exit_code: ClassVar[int] = ExitCode.RELEASED_INCOMPLETE
    default_hint = (
        "Run the same release again: before anything else it finishes what is listed above (points the group at "
        "the live slot, resumes scaling processes, empties the old slot). Or run the commands listed above by hand."
    )


class AwsUnavailable(ReleaseError):
    """AWS could not be reached (region, endpoint, network) or refused the credentials or a permission."""

    exit_code: ClassVar[int] = ExitCode.AWS_UNAVAILABLE
    default_hint = (
        "Check who and where the tool is: `aws sts get-caller-identity` (credentials, account) and `aws configure "
        "list` (region, profile); an endpoint error names the region it tried. For AccessDenied, give the role the "
        "action named above (docs/pipelines.md lists every one the tool needs)."
    )


class UnexpectedAnswer(AwsUnavailable):
    """An AWS answer lacks a field the tool reads: a stand-in endpoint that implements the call partly, or a change
    of the API. Exit 8 like any answer from AWS the tool cannot use, never a traceback."""

    default_hint = (
        "The answer is not the shape the AWS API reference documents. If AWS_ENDPOINT_URL (or "
        "AWS_ENDPOINT_URL_<SERVICE>) points at a stand-in, check that it implements the call; otherwise update the SDK "
        "(`make setup`) and report the message above. `python scripts/deploy.py status` shows what runs now."
    )
