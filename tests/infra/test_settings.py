"""Settings: defaults, the environment, and one clear line for a bad value."""

import os
import re
import subprocess
import sys

import pytest

from infra.settings import PROJECT_ROOT, Settings, SettingsError, load_settings


def test_defaults_are_safe(monkeypatch):
    for name in ("DATABASE_URL", "HOST", "PORT", "LOG_LEVEL", "DB_READ_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url is None
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8000, "INFO")
    assert settings.max_body_bytes == 1024 * 1024


def test_environment_is_read_and_blank_database_url_means_embedded(monkeypatch):
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DATABASE_URL", "  ")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.log_level, settings.database_url) == (9001, "DEBUG", None)


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("DB_WRITE_WORKERS", "lots")
    with pytest.raises(
        SettingsError, match=r"^invalid setting DB_WRITE_WORKERS='lots': Input should be a valid integer"
    ):
        load_settings(_env_file=None)


def test_database_url_is_never_echoed(monkeypatch):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, database_url=["postgresql://u:secret@h/db"])
    assert "secret" not in str(caught.value)


def test_serve_with_an_invalid_setting_exits_with_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "api"],
        cwd=tmp_path,  # no .env here
        env={"PORT": "eighty", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config-service: invalid setting PORT='eighty': "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


@pytest.mark.parametrize(
    ("host", "auth", "mode"),
    [
        ("127.0.0.1", None, "off"),
        ("::1", None, "off"),
        ("localhost", None, "off"),
        ("127.0.0.2", None, "off"),
        ("0.0.0.0", None, "tokens"),
        ("10.1.2.3", None, "tokens"),
        ("config.example.com", None, "tokens"),
        ("0.0.0.0", "off", "off"),
        ("127.0.0.1", "tokens", "tokens"),
        ("127.0.0.1", "TOKENS", "tokens"),
    ],
)
def test_auth_defaults_to_off_on_loopback_and_tokens_elsewhere(host, auth, mode):
    from api.auth import auth_mode

    settings = Settings(_env_file=None, host=host, **({"auth": auth} if auth else {}))
    assert auth_mode(settings) == mode


def test_tls_files_are_both_or_neither_and_one_alone_names_the_other(monkeypatch):
    monkeypatch.setenv("TLS_CERT_FILE", " ")
    monkeypatch.setenv("TLS_KEY_FILE", "")
    plain = load_settings(_env_file=None)
    assert (plain.tls_cert_file, plain.tls_key_file) == (None, None)
    both = load_settings(_env_file=None, tls_cert_file="/etc/cs/cert.pem", tls_key_file="/etc/cs/key.pem")
    assert (str(both.tls_cert_file), str(both.tls_key_file)) == ("/etc/cs/cert.pem", "/etc/cs/key.pem")
    with pytest.raises(SettingsError, match=r"^invalid settings: TLS_KEY_FILE is not set but TLS_CERT_FILE is: "):
        load_settings(_env_file=None, tls_cert_file="/etc/cs/cert.pem")
    with pytest.raises(SettingsError, match=r"^invalid settings: TLS_CERT_FILE is not set but TLS_KEY_FILE is: "):
        load_settings(_env_file=None, tls_key_file="/etc/cs/key.pem")


def test_workers_default_to_the_cpus_this_process_may_use_and_blank_means_the_default(monkeypatch):
    monkeypatch.delenv("WORKERS", raising=False)
    assert Settings(_env_file=None).workers == len(os.sched_getaffinity(0))
    monkeypatch.setenv("WORKERS", " ")
    assert Settings(_env_file=None).workers == len(os.sched_getaffinity(0))
    monkeypatch.setenv("WORKERS", "1")
    assert Settings(_env_file=None).workers == 1
    monkeypatch.setenv("WORKERS", "0")
    with pytest.raises(SettingsError, match=r"^invalid setting WORKERS='0'"):
        load_settings(_env_file=None)


def test_log_format_is_text_or_json(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert Settings(_env_file=None).log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match=r"^invalid setting LOG_FORMAT='xml'"):
        load_settings(_env_file=None)


def test_every_setting_is_in_the_example_env_file():
    documented = {
        line.split("=", 1)[0]
        for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_allowed_hosts_and_origins_are_comma_separated_lists(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " Config.Example.com, .internal.example ,[::1], ")
    monkeypatch.setenv(
        "ALLOWED_ORIGINS", "https://Console.Example.com/, http://tools.example:8080,https://x.example:443"
    )
    settings = load_settings(_env_file=None)
    assert settings.allowed_hosts == ("config.example.com", ".internal.example", "::1")
    # As browsers send them: lower-case, no default port, no trailing slash.
    assert settings.allowed_origins == ("https://console.example.com", "http://tools.example:8080", "https://x.example")
    monkeypatch.setenv("ALLOWED_HOSTS", "")
    monkeypatch.setenv("ALLOWED_ORIGINS", " ")
    unset = load_settings(_env_file=None)
    assert (unset.allowed_hosts, unset.allowed_origins, unset.max_held_requests) == (None, None, 20_000)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ALLOWED_ORIGINS", "*", "'*' is not an origin: list each as scheme://host[:port]"),
        ("ALLOWED_ORIGINS", "console.example.com", "'console.example.com' is not an origin"),
        ("ALLOWED_ORIGINS", "https://console.example.com/ui", "'https://console.example.com/ui' is not an origin"),
        ("ALLOWED_ORIGINS", "ftp://console.example.com", "'ftp://console.example.com' is not an origin"),
        ("ALLOWED_HOSTS", "https://config.example.com", "'https://config.example.com' is not a host name"),
        ("MAX_HELD_REQUESTS", "0", "Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_host_origin_or_held_limit_is_one_line_naming_it(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=rf"^invalid setting {name}=.*: {re.escape(message)}"):
        load_settings(_env_file=None)


def test_replica_urls_are_a_comma_separated_list_of_urls_and_the_replica_bounds_have_defaults(monkeypatch):
    monkeypatch.setenv(
        "DATABASE_REPLICA_URLS", " postgresql://u:secret@replica1/config ,postgres://u:secret@replica2:5433/config,"
    )
    settings = load_settings(_env_file=None)
    assert settings.database_replica_urls == (
        "postgresql://u:secret@replica1/config",
        "postgres://u:secret@replica2:5433/config",
    )
    assert (settings.replica_wait_ms, settings.replica_max_lag_s) == (500, 5.0)
    monkeypatch.setenv("DATABASE_REPLICA_URLS", " ")
    assert load_settings(_env_file=None).database_replica_urls is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("host=replica1 password=secret", "its URL number 1 is not a postgresql:// URL"),
        ("postgresql://u:secret@r1/c,postgresql://u:secret@r2,r3/c", "its URL number 2 names several hosts"),
        ("postgresql://u:secret@r1/c?no_such_option=1", "its URL number 1 is not a PostgreSQL connection URL"),
    ],
)
def test_a_bad_replica_url_is_one_line_that_never_echoes_it(monkeypatch, value, message):
    monkeypatch.setenv("DATABASE_REPLICA_URLS", value)
    with pytest.raises(SettingsError, match=rf"^invalid setting DATABASE_REPLICA_URLS: {re.escape(message)}") as caught:
        load_settings(_env_file=None)
    assert "secret" not in str(caught.value)
