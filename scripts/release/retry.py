"""Retrying AWS calls: which errors mean "ask again", and a bounded retry for idempotent steps.

The SDK already retries each call (`--retry-mode`, `--max-attempts`); these retries sit above it, for the steps whose
failure would otherwise be reported as something it is not: a pre-flight read hit by one transient error, or a step
after the deployment succeeded (re-pointing the group, resuming processes, emptying the old slot), which must not turn
a release into a "failed deployment". Every step retried here is idempotent (a read, or a call that sets a value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from release.runtime import Runtime

T = TypeVar("T")

# Error codes that mean "ask again later", not "refused".
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "RequestTimeout",
    }
)
# Error codes that mean "AWS refused who we are or what we may do": never retried, never a deployment failure.
REFUSED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)
AWS_ERRORS = (ClientError, BotoCoreError)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError, else the exception's class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "error"))
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx or a dropped connection after the SDK's retries: worth asking again later."""
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_CODES
    return isinstance(exc, ConnectionError | ReadTimeoutError)


def is_refused(exc: BaseException) -> bool:
    """AWS answered, and refused the credentials or the permission."""
    return isinstance(exc, ClientError) and error_code(exc) in REFUSED_CODES


def retried(
    call: Callable[[], T],
    *,
    runtime: Runtime,
    attempts: int = 3,
    delay: float = 2.0,
    only_transient: bool = False,
    log: Callable[[str], None] | None = None,
    what: str = "the call",
) -> T:
    """Run `call`, again after an AWS error (doubling `delay`), at most `attempts` times; the last error goes up.

    `only_transient` retries throttling and connection errors only (reads whose refusal is an answer). A refusal of
    the credentials or permissions is never retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except AWS_ERRORS as exc:
            if attempt == attempts or is_refused(exc) or (only_transient and not is_transient(exc)):
                raise
            if log is not None:
                log(f"{what} failed ({error_code(exc)}); trying again in {delay:.0f} s ({attempt}/{attempts})")
            runtime.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
