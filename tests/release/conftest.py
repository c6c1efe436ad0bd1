"""Fixtures for the release tool's tests: moto for S3, Auto Scaling, EC2 and CloudFormation; a scripted CodeDeploy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tests.release.support import World, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Bucket, VPC, launch template and the two empty slots in moto; a valid revision on disk."""
    with mock_aws():
        yield make_world(tmp_path)
