import base64
import os

import pytest

from core.settings import DEFAULT_JWT_SECRET, SettingsError, load_settings


def test_defaults_and_environment_values():
    settings = load_settings({"SESSION_NAME": "vendite", "HEADLESS": "false", "SEND_MIN_INTERVAL_MS": "250"})
    assert settings.session_name == "vendite"
    assert settings.headless is False
    assert settings.send_min_interval_ms == 250
    assert settings.whatsapp_queue == "wa.vendite"
    assert load_settings({}).session_name == "assistenza"


def test_bad_values_fail_loudly_naming_the_variable():
    with pytest.raises(SettingsError, match="SEND_MIN_INTERVAL_MS"):
        load_settings({"SEND_MIN_INTERVAL_MS": "fast"})
    with pytest.raises(SettingsError, match="HEADLESS"):
        load_settings({"HEADLESS": "perhaps"})


@pytest.mark.parametrize("secret", [None, "", DEFAULT_JWT_SECRET, "short"])
def test_production_refuses_a_missing_default_or_short_jwt_secret(secret):
    environ = {"ENVIRONMENT": "production"}
    if secret is not None:
        environ["JWT_SECRET"] = secret
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings(environ)


BACKUP_KEY = base64.b64encode(os.urandom(32)).decode()


def test_production_starts_with_a_real_secret():
    settings = load_settings({"ENVIRONMENT": "production", "JWT_SECRET": "x" * 48,
                              "SESSION_BACKUP_KEY": BACKUP_KEY})
    assert settings.is_production
    assert len(settings.backup_key) == 32


def test_production_refuses_to_start_without_a_session_backup_key():
    with pytest.raises(SettingsError, match="SESSION_BACKUP_KEY is missing"):
        load_settings({"ENVIRONMENT": "production", "JWT_SECRET": "x" * 48})


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"k" * 16).decode()])
def test_a_session_backup_key_that_is_not_32_bytes_of_base64_fails_loudly(key):
    with pytest.raises(SettingsError, match="SESSION_BACKUP_KEY must be the base64 of 32 random bytes"):
        load_settings({"SESSION_BACKUP_KEY": key})
    assert load_settings({}).backup_key is None  # development: backups are off without a key


def test_the_app_refuses_to_start_in_production_with_the_default_secret():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "from web import create_app; create_app()"],
        env={"ENVIRONMENT": "production", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "JWT_SECRET is missing or still the development default" in result.stderr


def test_every_setting_is_documented_in_the_readme():
    from dataclasses import fields
    from pathlib import Path

    from core.settings import ROOT, Settings

    readme = Path(ROOT, "README.md").read_text()
    assert [f.name.upper() for f in fields(Settings) if f"`{f.name.upper()}`" not in readme] == []


def test_a_session_name_that_cannot_be_a_queue_name_is_refused():
    for bad in ("Vendite", "wa.sales", "a b", "x" * 33, "", "vendite\n"):
        with pytest.raises(SettingsError, match="SESSION_NAME"):
            load_settings({"SESSION_NAME": bad})


def test_a_lease_shorter_than_three_heartbeats_or_an_empty_claim_pool_is_refused():
    with pytest.raises(SettingsError, match="SESSION_LEASE_SECONDS must be at least 9"):
        load_settings({"SESSION_LEASE_SECONDS": "8"})
    with pytest.raises(SettingsError, match="CLAIM_SESSIONS"):
        load_settings({"CLAIM_SESSIONS": " , "})
    assert load_settings({"CLAIM_SESSIONS": "eu-*, support"}).claim_patterns == ("eu-*", "support")


@pytest.mark.parametrize("environ, named", [
    ({"MEDIA_URL_ALLOW_HOSTS": "10.0.0.0/8, not-an-address"}, "MEDIA_URL_ALLOW_HOSTS"),
    ({"MEDIA_RETENTION_DAYS": "-1"}, "MEDIA_RETENTION_DAYS"),
    ({"MEDIA_MAX_BYTES": "0"}, "MEDIA_MAX_BYTES"),
])
def test_bad_media_settings_fail_loudly(environ, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(environ)
    allowed = load_settings({"MEDIA_URL_ALLOW_HOSTS": "10.0.5.0/24,192.168.1.7"}).media_url_allowed_networks
    assert [str(n) for n in allowed] == ["10.0.5.0/24", "192.168.1.7/32"]
