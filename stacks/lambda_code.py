"""Where Lambda code comes from: one package per function under `lambdas/`."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
# One runtime for every function of the stack: the newest Python that aws-cdk-lib knows (cdk-nag AwsSolutions-L1).
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14


def lambda_code(package: str) -> lambda_.Code:
    """The asset for the function whose code is the package `lambdas/<package>/`.

    The asset root is `lambdas/` so that the package keeps its name inside the function (handler
    `<package>.handler.lambda_handler`, imports `from <package>.x import y`) exactly as the tests import it; the
    exclude list keeps every other function's code, and caches, out of this asset and its hash.
    """
    if not (LAMBDAS_DIR / package / "handler.py").is_file():
        raise ValueError(f"no Lambda package lambdas/{package}/ with a handler.py")
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=["*", f"!{package}", f"!{package}/**", "**/__pycache__", "**/*.pyc"],
    )


def handler_name(package: str) -> str:
    """The handler string for the function in `lambdas/<package>/handler.py`."""
    return f"{package}.handler.lambda_handler"
