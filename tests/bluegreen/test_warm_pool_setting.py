"""The warmPoolSize setting (issue 13; docs/performance.md, "Warm pools"): off by default, bounded by the fleet."""

from __future__ import annotations

import pytest

from bluegreen.config import ConfigError, load_config


def test_warm_pools_are_off_by_default() -> None:
    assert load_config({}).warm_pool_size == 0


def test_a_size_from_the_command_line_is_accepted() -> None:
    assert load_config({"warmPoolSize": "2"}).warm_pool_size == 2


@pytest.mark.parametrize("size", [-1, 5])
def test_a_size_outside_zero_to_the_fleet_maximum_is_refused(size: int) -> None:
    with pytest.raises(ConfigError, match="warmPoolSize"):
        load_config({"warmPoolSize": size, "fleetMaxSize": 4})
