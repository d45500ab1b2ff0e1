from __future__ import annotations

import pytest

from akmamba.errors import ConfigError
from akmamba.registry import Registry, look_up_option


def test_registry_get_and_names() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)
    reg.register("beta")(2)
    assert reg.names() == ["alpha", "beta"]
    assert reg.get("beta") == 2
    assert "alpha" in reg


def test_registry_miss_suggests_and_lists() -> None:
    reg: Registry[int] = Registry("model")
    reg.add("attention_unet", 1)
    reg.add("unet", 2)
    with pytest.raises(ConfigError) as err:
        reg.get("atention_unet")
    msg = str(err.value)
    assert "Did you mean 'attention_unet'?" in msg
    assert "attention_unet, unet" in msg
    assert err.value.got == "atention_unet"


def test_registry_duplicate_is_rejected() -> None:
    reg: Registry[int] = Registry("x")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)


def test_look_up_option_passes_valid_value() -> None:
    assert look_up_option("torch", ["torch", "reference"], "backend") == "torch"
