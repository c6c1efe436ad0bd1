"""The promotion gate's settings: off by default, CodeDeploy's limits on the wait, and a test listener that is closed
unless ranges are given (docs/decisions.md F80, F84)."""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen.config import ConfigError, Promotion, load_config

GATE = {"promotionGate": True}


def test_by_default_there_is_no_gate_no_test_listener_and_no_check() -> None:
    assert load_config({}).promotion is None


def test_the_gate_waits_an_hour_by_default_with_no_test_listener() -> None:
    assert load_config(GATE).promotion == Promotion(wait_minutes=60)


def test_settings_given_as_cdk_context_strings_are_read_like_json_values() -> None:
    promotion = load_config(
        {
            "promotionGate": "true",
            "promotionWaitMinutes": "2880",
            "testListenerPort": "8443",
            "testListenerAllowedCidrs": "203.0.113.7/32, 198.51.100.0/24",
            "promotionCheckCommand": "curl -fsS $TEST_URL/health",
        }
    ).promotion
    assert promotion == Promotion(
        wait_minutes=2880,
        test_listener_port=8443,
        test_listener_cidrs=("203.0.113.7/32", "198.51.100.0/24"),
        check_command="curl -fsS $TEST_URL/health",
    )


@pytest.mark.parametrize("minutes", [0, 2881])
def test_a_wait_outside_codedeploys_48_hours_is_refused(minutes: int) -> None:
    with pytest.raises(ConfigError, match=r"promotionWaitMinutes.*1\.\.2880"):
        load_config({**GATE, "promotionWaitMinutes": minutes})


@pytest.mark.parametrize(
    "setting",
    [{"testListenerPort": 8443}, {"testListenerAllowedCidrs": ["203.0.113.7/32"]}, {"promotionCheckCommand": "true"}],
)
def test_the_test_listener_and_the_check_are_refused_without_the_gate(setting: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="needs promotionGate true"):
        load_config(setting)


@pytest.mark.parametrize("port", [80, 443])
def test_the_test_listener_cannot_take_a_port_of_the_sites_own_listeners(port: int) -> None:
    with pytest.raises(ConfigError, match="testListenerPort"):
        load_config({**GATE, "testListenerPort": port})


def test_opening_the_test_listener_to_the_whole_internet_is_refused() -> None:
    with pytest.raises(ConfigError, match="whole internet"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": ["0.0.0.0/0"]})


@pytest.mark.parametrize("cidr", ["203.0.113.7", "300.0.113.7/32", "203.0.113.7/33", "2001:db8::/32"])
def test_a_range_that_is_not_an_ipv4_cidr_is_refused(cidr: str) -> None:
    with pytest.raises(ConfigError, match="not an IPv4 CIDR"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": [cidr]})


def test_ranges_without_a_test_listener_are_refused_as_meaningless() -> None:
    with pytest.raises(ConfigError, match="needs testListenerPort"):
        load_config({**GATE, "testListenerAllowedCidrs": ["203.0.113.7/32"]})


@pytest.mark.parametrize("minutes", [0, 99999])
def test_the_wait_is_range_checked_even_with_the_gate_off(minutes: int) -> None:
    # Given promotionGate false (its default) and a wait outside CodeDeploy's 1..2880 minutes
    # Then the value is refused now, not when the gate is turned on later
    with pytest.raises(ConfigError, match=r"promotionWaitMinutes.*1\.\.2880"):
        load_config({"promotionWaitMinutes": minutes})


def test_ranges_that_together_cover_the_whole_internet_are_refused() -> None:
    # Given the two /1 halves split into /2s: within the count, together every IPv4 address
    quarters = [f"{first}.0.0.0/2" for first in (0, 64, 128, 192)]
    with pytest.raises(ConfigError, match="broader than /8"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": quarters})
    # And 256 /8s: each within the minimum prefix, together every address (refused, whichever bound says it first)
    eights = [f"{first}.0.0.0/8" for first in range(256)]
    with pytest.raises(ConfigError, match="testListenerAllowedCidrs"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": eights})


def test_every_public_slash_8_listed_is_refused_for_its_number_of_security_group_rules() -> None:
    # Given the 223 /8s of unicast IPv4 (1.0.0.0/8 .. 223.0.0.0/8): each passes the per-range bound
    every_eight = [f"{first}.0.0.0/8" for first in range(1, 224)]
    # Then synth refuses them: 223 inbound rules exceed the security group's quota, which only the deploy would find
    with pytest.raises(ConfigError, match=r"223 ranges; at most 50.*F105"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": every_eight})


def test_as_many_ranges_as_the_rule_limit_allows_are_taken_and_one_more_is_refused() -> None:
    # Given 50 runner addresses (/32s), the most the security group's rules leave room for
    runners = [f"203.0.113.{host}/32" for host in range(1, 51)]
    config = load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": runners})
    assert config.promotion is not None and len(config.promotion.test_listener_cidrs) == 50
    # When one more is given, Then it is refused before any deploy
    with pytest.raises(ConfigError, match="51 ranges"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": [*runners, "198.51.100.7/32"]})


def test_a_few_slash_8s_that_together_outnumber_all_private_addresses_are_refused() -> None:
    # Given two public /8s: each within the per-range bound, few rules, but 33,554,432 addresses together,
    # more than every private address (10/8, 172.16/12, 192.168/16 together hold 17,891,328)
    with pytest.raises(ConfigError, match="together cover 33,554,432 addresses, more than all private"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": "11.0.0.0/8,12.0.0.0/8"})


def test_all_private_address_space_together_is_allowed() -> None:
    private = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    config = load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": private})
    assert config.promotion is not None
    assert len(config.promotion.test_listener_cidrs) == 3


@pytest.mark.parametrize("cidrs", ["0.0.0.0/1,128.0.0.0/1", "203.0.0.0/7"])
def test_a_range_broader_than_a_slash_8_is_refused(cidrs: str) -> None:
    with pytest.raises(ConfigError, match="is broader than /8"):
        load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": cidrs})


def test_the_broadest_private_block_is_allowed() -> None:
    config = load_config({**GATE, "testListenerPort": 8443, "testListenerAllowedCidrs": "10.0.0.0/8,172.16.0.0/12"})
    assert config.promotion is not None
    assert config.promotion.test_listener_cidrs == ("10.0.0.0/8", "172.16.0.0/12")
