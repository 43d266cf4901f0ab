"""Who the client says it is (`X-Client-Id`): the id given, else CONFIG_CLIENT_ID, else
`HOSTNAME/program`, always 1 to 128 visible ASCII characters."""

import socket
import sys

import pytest

from config_client import AsyncConfigClient, ConfigClient
from config_client._identity import default_client_id, program_name, sanitise


def test_an_id_given_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("CONFIG_CLIENT_ID", "from-env")
    with ConfigClient("http://127.0.0.1:9", client_id="given/one") as client:
        assert client.client_id == "given/one"
    with ConfigClient("http://127.0.0.1:9") as client:
        assert client.client_id == "from-env"


def test_without_either_it_is_hostname_slash_program(monkeypatch):
    monkeypatch.delenv("CONFIG_CLIENT_ID", raising=False)
    monkeypatch.setenv("HOSTNAME", "web-7.eu")
    monkeypatch.setattr(sys, "argv", ["/srv/checkout/bin/checkout-worker", "--flag"])
    with ConfigClient("http://127.0.0.1:9") as client:
        assert client.client_id == "web-7.eu/checkout-worker"
    monkeypatch.delenv("HOSTNAME")
    assert default_client_id() == f"{sanitise(socket.gethostname())}/checkout-worker"


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("/opt/app/server.py", "server"),
        ("/opt/venv/lib/python3.13/site-packages/checkout/__main__.py", "checkout"),
        ("", "python"),
        ("-c", "python"),
        ("gunicorn", "gunicorn"),
    ],
)
def test_the_program_name(argv0, name):
    assert program_name(argv0) == name


def test_a_derived_id_is_made_valid(monkeypatch):
    monkeypatch.delenv("CONFIG_CLIENT_ID", raising=False)
    monkeypatch.setenv("HOSTNAME", "hôte " + "h" * 200)
    monkeypatch.setattr(sys, "argv", ["my program"])
    derived = default_client_id()
    assert derived.startswith("h_te_hhh") and len(derived) == 128
    assert all(0x21 <= ord(character) <= 0x7E for character in derived)
    assert sanitise("") == "_"


@pytest.mark.parametrize("bad", ["", "with space", "x" * 129, "tab\there", "naïve"])
def test_an_id_given_that_the_service_would_refuse_is_a_value_error(bad, monkeypatch):
    with pytest.raises(ValueError, match="1 to 128 visible ASCII"):
        ConfigClient("http://127.0.0.1:9", client_id=bad)
    with pytest.raises(ValueError, match="1 to 128 visible ASCII"):
        AsyncConfigClient("http://127.0.0.1:9", client_id=bad)
    if bad:  # an empty CONFIG_CLIENT_ID is no id: the default is used
        monkeypatch.setenv("CONFIG_CLIENT_ID", bad)
        with pytest.raises(ValueError, match="CONFIG_CLIENT_ID must be"):
            ConfigClient("http://127.0.0.1:9")
