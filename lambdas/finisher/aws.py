"""The boto3 clients the finisher passes to the shared steps (`bluegreen.finish`, `bluegreen.lease`)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config


@functools.cache
def client(service: str) -> Any:
    """A boto3 client for `service`, created on first use (never at import) and reused across invocations."""
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
    return boto3.client(service, config=config)
