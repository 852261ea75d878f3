"""Server settings: flags over INTERLOCK_* variables over the TOML file over the defaults; every wrong
value refused with where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.server.config import ServerConfig, load_config


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    file = tmp_path / "interlock.toml"
    file.write_text('[server]\nport = 9000\nhost = "::1"\nrate = 5\nload = ["a.yaml", "b"]\n'
                    'db = "sqlite:///file.db"\n')
    env = {"INTERLOCK_PORT": "9100", "INTERLOCK_DEV": "true", "INTERLOCK_CONFIG": str(file)}
    config = load_config({"port": 9200, "db": None}, env)
    assert (config.port, config.host, config.dev, config.rate) == (9200, "::1", True, 5.0)
    assert config.load == ("a.yaml", "b") and config.db == "sqlite:///file.db"
    assert load_config({}, env).port == 9100
    assert load_config({}, {}) == ServerConfig()


def test_wrong_settings_say_where_and_what(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="INTERLOCK_PORT: port must be an integer, not 'eighty'"):
        load_config({}, {"INTERLOCK_PORT": "eighty"})
    file = tmp_path / "c.toml"
    file.write_text("[server]\nprot = 1\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) in \[server\]: prot"):
        load_config({}, {}, file)
    file.write_text("[server\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config({}, {}, file)
    with pytest.raises(ValueError, match="cannot read the config file"):
        load_config({}, {}, tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="only listens on a loopback address"):
        load_config({"dev": True, "host": "0.0.0.0"}, {})
    with pytest.raises(ValueError, match="max_body_bytes must be at least 1"):
        load_config({}, {"INTERLOCK_MAX_BODY_BYTES": "0"})
    with pytest.raises(ValueError, match=r"page_size \(50\) is larger than max_page_size \(10\)"):
        load_config({"page_size": 50, "max_page_size": 10}, {})
    for plain in ("http://id.example/jwks", "ftp://id.example/jwks", "https:///jwks"):  # keys anyone could serve
        with pytest.raises(ValueError, match="jwt_jwks_url must be an https:// URL"):
            load_config({}, {"INTERLOCK_JWT_JWKS_URL": plain})
    assert load_config({}, {"INTERLOCK_JWT_JWKS_URL": "http://127.0.0.1:8080/jwks"}).jwt_jwks_url
