"""What the stack reserves of the account's Lambda concurrency, and the one setting that turns it off (F25)."""

from __future__ import annotations

import pytest

from bluegreen.config import (
    JOIN_MAX_RESERVED_CONCURRENCY,
    PROVIDER_RESERVED_CONCURRENCY,
    ConfigError,
    LambdaReservations,
    join_reserved_concurrency,
    lambda_reservations,
    load_config,
)


@pytest.mark.parametrize(("fleet_maximum", "expected"), [(1, 1), (4, 4), (10, 10), (11, 10), (1000, 10)])
def test_the_join_reserves_the_fleet_maximum_up_to_the_ceiling(fleet_maximum: int, expected: int) -> None:
    assert join_reserved_concurrency(fleet_maximum) == expected
    assert expected <= JOIN_MAX_RESERVED_CONCURRENCY


@pytest.mark.parametrize("fleet_maximum", [0, -1, True])
def test_the_join_reservation_needs_a_fleet_maximum_of_at_least_one(fleet_maximum: int) -> None:
    with pytest.raises(ConfigError, match="fleetMaxSize"):
        join_reserved_concurrency(fleet_maximum)


def test_by_default_the_four_functions_reserve_their_figures() -> None:
    # Given the defaults (fleetMaxSize 4, finisherEnabled true)
    reservations = lambda_reservations(load_config({}))
    # Then drain 2 x 4, join 4, provider 2, finisher 1 (serialised)
    assert reservations == LambdaReservations(drain=8, join=4, provider=PROVIDER_RESERVED_CONCURRENCY, finisher=1)
    assert reservations.total == 15


def test_the_largest_fleet_reserves_at_most_the_four_ceilings() -> None:
    assert lambda_reservations(load_config({"fleetMaxSize": 1000})).total == 20 + 10 + 2 + 1


def test_without_the_finisher_nothing_is_reserved_for_it() -> None:
    # Given finisherEnabled false
    reservations = lambda_reservations(load_config({"finisherEnabled": False}))
    # Then the other three keep their reservations and the finisher has none
    assert reservations.finisher is None
    assert reservations.total == 14


@pytest.mark.parametrize("value", [False, "false", "False", " FALSE "])
def test_the_setting_false_reserves_nothing(value: object) -> None:
    # Given lambdaReservedConcurrency false, from cdk.json (a boolean) or `-c key=false` (a string)
    config = load_config({"lambdaReservedConcurrency": value})
    # Then no function reserves any concurrency
    assert lambda_reservations(config) == LambdaReservations(drain=None, join=None, provider=None)
    assert lambda_reservations(config).total == 0


@pytest.mark.parametrize("value", [True, "true", "TRUE"])
def test_the_setting_true_keeps_the_reservations(value: object) -> None:
    assert load_config({"lambdaReservedConcurrency": value}).lambda_reserved_concurrency is True


@pytest.mark.parametrize("value", ["no", "0", 0, 1, None, ""])
def test_a_setting_that_is_not_a_boolean_names_the_key_and_what_is_allowed(value: object) -> None:
    with pytest.raises(ConfigError, match=r"lambdaReservedConcurrency.*allowed: true, false"):
        load_config({"lambdaReservedConcurrency": value})
