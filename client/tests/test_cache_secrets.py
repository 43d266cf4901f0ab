"""Secret values in the client's disk cache: encrypted with CONFIG_CLIENT_CACHE_KEY (or
`cache_key=`), left out without one; the client is used as before; export and import carry
the secret pointers."""

import json

import pytest
from bench.service_process import ServiceProcess
from infra.keyring import create_key_file
from pydantic import BaseModel

from config_client import ConfigClient, ConfigServiceError
from config_client.cache import DiskCache
from config_client.cli import main

PASSWORD = "hunter2-a8f3e1c4d9b7"
KEY = "a-cache-key-of-at-least-16-characters"
DOCUMENT = {"db": {"host": "db.internal", "password": PASSWORD}, "tags": ["a", {"token": "t0k3n-5e1f9a"}]}
SECRETS = ["/db/password", "/tags/1"]


class Model(BaseModel):
    db: dict
    tags: list


@pytest.fixture
def sealed_service(new_database, tmp_path):
    """A service with a key file (and AUTH off, where secret values are shown)."""
    key_file = tmp_path / "secrets.key"
    create_key_file(key_file)
    service = ServiceProcess(database_url=new_database(), secrets_keys=key_file, shutdown_grace=1)
    with service:
        with ConfigClient(service.url) as admin:
            admin.create_application("shop")
            admin.create("shop", "db", DOCUMENT, secrets=SECRETS)
        yield service


def read_everything(url: str, cache_dir, cache_key=None) -> None:
    with ConfigClient(url, cache_dir=cache_dir, cache_key=cache_key) as client:
        assert client.get("shop", "db") == DOCUMENT  # unchanged in use: the values, as they are
        assert client.get_all("shop") == {"db": DOCUMENT}
        assert client.get("shop", "db", model=Model).db["password"] == PASSWORD


def cache_bytes(cache_dir) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(cache_dir.iterdir()) if path.is_file())


def test_without_a_cache_key_secret_values_are_left_out_of_the_disk_cache(
    sealed_service, tmp_path, monkeypatch, warnings_logged
):
    monkeypatch.delenv("CONFIG_CLIENT_CACHE_KEY", raising=False)
    cache_dir = tmp_path / "cache"
    read_everything(sealed_service.url, cache_dir)

    on_disk = cache_bytes(cache_dir)
    assert len(list(cache_dir.iterdir())) == 3  # the configuration, the application, the model's
    assert PASSWORD.encode() not in on_disk and b"t0k3n" not in on_disk and b'"db.internal"' in on_disk
    url = sealed_service.url
    sealed_service.stop()

    with ConfigClient(url, cache_dir=cache_dir, retries=0, backoff=0.01) as client:
        view = client.view("shop", "db")
        assert view.stale and view.secrets == SECRETS
        assert view.config == {"db": {"host": "db.internal"}, "tags": ["a", None]}
    assert any("without its secret values" in w and "CONFIG_CLIENT_CACHE_KEY" in w for w in warnings_logged())


def test_with_a_cache_key_secret_values_are_kept_encrypted(sealed_service, tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIG_CLIENT_CACHE_KEY", KEY)
    cache_dir = tmp_path / "cache"
    read_everything(sealed_service.url, cache_dir)

    on_disk = cache_bytes(cache_dir)
    assert PASSWORD.encode() not in on_disk and b"t0k3n" not in on_disk
    assert on_disk.count(b"$cached-secret:v1:") == 2 * 3  # two values in each of the three files
    url = sealed_service.url
    sealed_service.stop()

    with ConfigClient(url, cache_dir=cache_dir, retries=0, backoff=0.01) as client:
        assert client.view("shop", "db").stale
        assert client.get("shop", "db") == DOCUMENT
        assert client.get_all("shop") == {"db": DOCUMENT}
    # Another key opens nothing: the values are left out, not handed over as ciphertext.
    with ConfigClient(url, cache_dir=cache_dir, retries=0, backoff=0.01, cache_key="another-key-16-chars-long") as c:
        assert c.get("shop", "db") == {"db": {"host": "db.internal"}, "tags": ["a", None]}


def test_a_cache_key_too_short_is_refused():
    with pytest.raises(ConfigServiceError, match="at least 16 characters"):
        ConfigClient("http://127.0.0.1:1", cache_dir="/tmp/unused", cache_key="short")


def test_a_cached_body_without_secrets_is_written_as_it_came(tmp_path):
    cache = DiskCache(tmp_path, "http://x")
    body = b'{"id":"x","name":"c","config":{"n":1.50},"secrets":[]}'
    cache.save("shop", "c", body)
    assert cache.path("shop", "c").read_bytes() == body and cache.load("shop", "c") == body


def test_export_and_import_carry_the_secret_pointers(sealed_service, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONFIG_SERVICE_URL", sealed_service.url)
    monkeypatch.delenv("CONFIG_SERVICE_TOKEN", raising=False)
    assert main(["export", "shop"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["configurations"] == [{"name": "db", "comments": None, "config": DOCUMENT, "secrets": SECRETS}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported))

    assert main(["import", str(path), "--application", "shop-copy"]) == 0
    with ConfigClient(sealed_service.url) as admin:
        copy = admin.configuration("shop-copy", "db")
    assert copy.secrets == SECRETS and copy.config == DOCUMENT
