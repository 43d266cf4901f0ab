"""What the client reads keeps the order in which a document's keys were written: the service
returns them so, and `export` writes them so."""

import json

import httpx

from config_client import ConfigClient
from config_client.cli import main

# Neither sorted nor jsonb's order (shorter keys first), at every depth.
WRITTEN = '{"zeta": {"zz": 1, "aa": [{"b": 2, "a": 3}]}, "10": true, "2": null, "alpha": "x"}'


def test_get_and_export_keep_the_keys_in_the_order_written(service, admin, unique, monkeypatch, capsys):
    app = unique("ordered")
    app_id = admin.create_application(app).id
    raw = f'{{"application_id": "{app_id}", "name": "ordered", "config": {WRITTEN}}}'
    response = httpx.post(
        f"{service.url}/api/v1/configurations", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    expected = json.loads(WRITTEN)

    with ConfigClient(service.url) as reader:
        assert json.dumps(reader.get(app, "ordered")) == json.dumps(expected)

    monkeypatch.setenv("CONFIG_SERVICE_URL", service.url)
    monkeypatch.delenv("CONFIG_SERVICE_TOKEN", raising=False)
    assert main(["export", app]) == 0
    exported = json.loads(capsys.readouterr().out)
    (configuration,) = exported["configurations"]
    assert json.dumps(configuration["config"]) == json.dumps(expected)
