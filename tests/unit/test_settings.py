"""Settings come from the environment; an invalid variant stops startup with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import create_app
from api.settings import DEFAULT_MODEL_PATH, Settings, SettingsError


def test_defaults_are_v1_hostname_and_repo_model() -> None:
    settings = Settings.from_env({})
    assert settings.variant == "v1"
    assert settings.replica_id  # the host name
    assert settings.model_path == DEFAULT_MODEL_PATH
    assert settings.model_path.parts[-2:] == ("model", "model.safetensors")
    assert settings.metrics_path == DEFAULT_MODEL_PATH.with_name("metrics.json")
    assert settings.max_sentence_chars == 5000


def test_environment_overrides_every_setting(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "API_VARIANT": "v2",
            "API_REPLICA_ID": "api-7",
            "API_MODEL_PATH": str(tmp_path / "m.safetensors"),
            "API_MAX_SENTENCE_CHARS": "42",
        }
    )
    assert (settings.variant, settings.replica_id, settings.max_sentence_chars) == (
        "v2",
        "api-7",
        42,
    )
    assert settings.model_path == tmp_path / "m.safetensors"
    assert settings.metrics_path == tmp_path / "metrics.json"  # sibling of the model


@pytest.mark.parametrize("variant", ["v3", "V1", "debug", "v1 v2"])
def test_unknown_variant_is_a_startup_error(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_VARIANT", variant)
    with pytest.raises(SettingsError, match="API_VARIANT must be one of v1, v2"):
        create_app()


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_invalid_max_sentence_chars_is_a_startup_error(value: str) -> None:
    with pytest.raises(SettingsError, match="API_MAX_SENTENCE_CHARS"):
        Settings.from_env({"API_MAX_SENTENCE_CHARS": value})
