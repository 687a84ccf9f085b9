"""Connection settings: precedence of options, environment and config file; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pricecap.errors import ConfigError
from pricecap.settings import load_settings

ENV = {"INFLUXDB_V2_URL": "http://env:8086", "INFLUXDB_V2_TOKEN": "env-token", "INFLUXDB_V2_ORG": "env-org"}


def test_defaults_without_anything() -> None:
    settings = load_settings(environ={}, config_path=None)
    assert settings.url == "http://localhost:8086"
    assert settings.bucket == "trades"
    assert settings.token is None


def test_environment_is_read_like_influxdb_client() -> None:
    settings = load_settings(environ={**ENV, "INFLUXDB_V2_BUCKET": "b", "INFLUXDB_V2_TIMEOUT": "2500"})
    assert settings.url == "http://env:8086"
    assert settings.require_credentials() == ("env-token", "env-org")
    assert (settings.bucket, settings.timeout_ms) == ("b", 2500)


def test_options_beat_environment_beats_config_file(config_file: Path) -> None:
    config_file.write_text('[influxdb]\nurl = "http://file:8086/"\norg = "file-org"\nbucket = "file-bucket"\n')
    settings = load_settings(config_file, {"org": "cli-org", "url": None}, environ=ENV)
    assert settings.url == "http://env:8086"
    assert settings.org == "cli-org"
    assert settings.bucket == "file-bucket"
    only_file = load_settings(config_file, environ={})
    assert only_file.url == "http://file:8086"


def test_token_never_shows_in_repr_or_str() -> None:
    settings = load_settings(environ={**ENV, "INFLUXDB_V2_TOKEN": "s3cret-token"})
    assert "s3cret-token" not in repr(settings)
    assert "s3cret-token" not in str(settings)
    assert "s3cret-token" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "no InfluxDB token"), ({"INFLUXDB_V2_TOKEN": "t"}, "no InfluxDB organization")],
)
def test_missing_credentials_say_how_to_set_them(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env).require_credentials()


def test_bad_values_are_config_errors(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="invalid setting url: InfluxDB URL must start with http"):
        load_settings(overrides={"url": "localhost:8086"}, environ={})
    with pytest.raises(ConfigError, match="invalid setting timeout_ms"):
        load_settings(environ={"INFLUXDB_V2_TIMEOUT": "soon"})
    config_file.write_text("[influxdb\n")
    with pytest.raises(ConfigError, match=f"config file {config_file}"):
        load_settings(config_file, environ={})
    config_file.write_text('[influxdb]\ncolour = "blue"\n')
    with pytest.raises(ConfigError, match="invalid setting colour"):
        load_settings(config_file, environ={})


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"PRICECAP_CONFIG": str(tmp_path / "nope.toml")})


def test_the_default_config_file_is_in_the_user_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "xdg" / "pricecap"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('[influxdb]\norg = "from-default-file"\n')
    assert load_settings(environ={}).org == "from-default-file"
