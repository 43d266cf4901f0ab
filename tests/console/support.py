"""Arranging data through the API, quickly, for the console tests."""

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx


def create_application(api: httpx.Client, name: str, comments: str | None = None) -> dict:
    response = api.post("/applications", json={"name": name, "comments": comments})
    assert response.status_code == 201, response.text
    return response.json()


def create_configuration(api: httpx.Client, application_id: str, name: str, config: dict, comments=None) -> dict:
    body = {"application_id": application_id, "name": name, "comments": comments, "config": config}
    response = api.post("/configurations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def update_configuration(api: httpx.Client, config: dict, document: dict, **changes) -> dict:
    body = {"name": config["name"], "comments": config["comments"], "config": document, **changes}
    response = api.put(f"/configurations/{config['id']}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def exact(response: httpx.Response):
    """A JSON body with its numbers as written (Decimal), to check nothing was rounded."""
    return json.loads(response.text, parse_float=Decimal)


def seed_applications(api: httpx.Client, names: list[str]) -> None:
    """Many applications at once: the service commits concurrent writes in batches."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        for response in pool.map(lambda name: api.post("/applications", json={"name": name}), names):
            assert response.status_code == 201, response.text
