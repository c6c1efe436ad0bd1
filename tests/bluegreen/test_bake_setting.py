"""The bakeMinutes setting: 0 (no window) by default, whole minutes within 0..240, refused otherwise."""

from __future__ import annotations

import pytest

from bluegreen.config import ConfigError, load_config


def test_by_default_a_release_has_no_bake_window() -> None:
    # Given no bakeMinutes in the context, When loading, Then the window is 0 minutes (today's behaviour)
    assert load_config({}).bake_minutes == 0


def test_a_bake_window_of_some_minutes_is_taken_from_the_context_or_a_command_line_string() -> None:
    # Given cdk.json's integer and `-c bakeMinutes=15`'s string, When loading, Then both give 15 minutes
    assert load_config({"bakeMinutes": 15}).bake_minutes == 15
    assert load_config({"bakeMinutes": "15"}).bake_minutes == 15


@pytest.mark.parametrize("value", [-1, 241, "ten", 1.5])
def test_a_bake_window_outside_0_to_240_whole_minutes_is_refused_naming_the_key(value: object) -> None:
    # Given a value that is not 0..240 whole minutes, When loading, Then one message names the key
    with pytest.raises(ConfigError, match="bakeMinutes"):
        load_config({"bakeMinutes": value})
