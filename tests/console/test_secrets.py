"""Secret values in the console: every document shown masked; a Reveal button for a token that
may see them; a field for a new value that never shows the old one; a masked document saved
as it is keeps the values stored."""

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from bench.service_process import ServiceProcess
from infra.keyring import create_key_file
from tests.console.conftest import Console, ConsoleWatch, create_token, sign_in, tolerated_statuses

PASSWORD = "hunter2-4f1c9e7a"
MASKED = re.compile(r'"password": "\*{8}"')


@pytest.fixture(scope="module")
def sealed(new_database, tmp_path_factory) -> Iterator[tuple[ServiceProcess, dict]]:
    """A service with AUTH=tokens and a key file; an admin token that may see secret values, and
    one that may not."""
    key_file = tmp_path_factory.mktemp("keys") / "secrets.key"
    create_key_file(key_file)
    dsn = new_database()
    with ServiceProcess(database_url=dsn, auth="tokens", secrets_keys=key_file, shutdown_grace=1) as service:
        tokens = {
            "revealer": create_token(dsn, "revealer", "admin", reveal=True),
            "writer": create_token(dsn, "writer", "write"),
        }
        yield service, tokens


@pytest.fixture
def configuration(sealed, unique) -> dict:
    service, tokens = sealed
    with httpx.Client(
        base_url=f"{service.url}/api/v1", headers={"Authorization": f"Bearer {tokens['revealer']}"}
    ) as api:
        app = api.post("/applications", json={"name": unique("shop")}).json()
        document = {"db": {"host": "db.internal", "password": PASSWORD}, "api": {"key": "k-123"}}
        body = {"application_id": app["id"], "name": "production", "config": document, "secrets": ["/db/password"]}
        created = api.post("/configurations", json=body)
        assert created.status_code == 201, created.text
        return created.json()


def stored(sealed, id: str) -> dict:
    service, tokens = sealed
    headers = {"Authorization": f"Bearer {tokens['revealer']}"}
    return httpx.get(f"{service.url}/api/v1/configurations/{id}", headers=headers).json()


def signed_in(page: Page, sealed, who: str) -> tuple[Console, Page]:
    service, tokens = sealed
    watch = ConsoleWatch(page, service.url, tolerated_statuses(service.url))
    watch.expect(401, "/tokens/current")
    console = Console(page, service.url, watch)
    console.open("/applications")
    sign_in(page, tokens[who])
    expect(page.get_by_text(f"Token “{who}”")).to_be_visible()
    return console, page


def test_a_token_that_may_see_secrets_reveals_them_one_by_one(page, sealed, configuration):
    console, page = signed_in(page, sealed, "revealer")
    console.open(f"/configurations/{configuration['id']}")
    editor = page.get_by_label("Configuration (JSON)")

    expect(editor).to_have_value(MASKED)
    expect(editor).not_to_have_value(re.compile(PASSWORD))
    row = page.locator(".secret-list li[data-pointer='/db/password']")
    expect(row.locator(".secret-value")).to_have_text("********")
    console.screenshot("secrets-masked")

    row.get_by_role("button", name="Reveal").click()
    expect(row.locator(".secret-value")).to_have_text(f'"{PASSWORD}"')
    row.get_by_role("button", name="Hide").click()
    expect(row.locator(".secret-value")).to_have_text("********")
    assert console.watch.unexplained() == []


def test_a_masked_document_saved_keeps_the_value_and_a_new_one_is_set_unseen(page, sealed, configuration):
    console, page = signed_in(page, sealed, "writer")
    console.open(f"/configurations/{configuration['id']}")
    editor = page.get_by_label("Configuration (JSON)")
    expect(editor).to_have_value(MASKED)
    row = page.locator(".secret-list li[data-pointer='/db/password']")
    expect(row.get_by_role("button", name="Reveal")).to_have_count(0)  # this token may not see it

    # Another change, the document saved with the mask: the password stays.
    editor.fill(editor.input_value().replace("db.internal", "db2.internal"))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
    now = stored(sealed, configuration["id"])
    assert now["config"]["db"] == {"host": "db2.internal", "password": PASSWORD}

    # A new value, typed into a field that starts empty, never into the document's editor.
    row.get_by_role("button", name="Set new value…").click()
    field = page.get_by_label("New value for /db/password")
    expect(field).to_have_value("")
    expect(field).to_have_attribute("type", "password")
    field.fill("a-new-password-9d2e")
    row.get_by_role("button", name="Use this value").click()
    expect(row.locator(".secret-value")).to_have_text("new value, saved with the document")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved version 3")).to_be_visible()
    expect(editor).to_have_value(MASKED)
    assert stored(sealed, configuration["id"])["config"]["db"]["password"] == "a-new-password-9d2e"

    # A path marked secret from here: masked once saved.
    paths = page.get_by_label("Secret paths")
    paths.fill("/db/password\n/api/key")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved version 4")).to_be_visible()
    expect(editor).to_have_value(re.compile(r'"key": "\*{8}"'))
    after = stored(sealed, configuration["id"])
    assert after["secrets"] == ["/db/password", "/api/key"] and after["config"]["api"]["key"] == "k-123"
    assert console.watch.unexplained() == []
