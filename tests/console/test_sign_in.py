"""Signing in with AUTH=tokens: the token asked for, kept in sessionStorage only, its name and
scope shown, and what it may not do hidden.

The service with AUTH=tokens (`secured`), the tokens (`create_token`, as an operator makes them)
and the console signed in (`secured_console`, `sign_in`) are in conftest.py: a service that does
not ask for a token, or a Pipfile with no `token` script, fails these tests.
"""

import httpx
from playwright.sync_api import expect

from tests.console.conftest import create_token, sign_in


def test_sign_in_with_a_token_shows_its_name_and_scope_and_keeps_it_in_the_tab_only(secured_console, secured, unique):
    _, dsn = secured
    name = unique("console-admin")
    secret = create_token(dsn, name, "admin")
    page = secured_console.open("/applications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_label("Token")).to_be_focused()
    secured_console.screenshot("sign-in")

    sign_in(page, "cfs_not-a-real-token")
    expect(page.get_by_role("alert").filter(has_text="does not accept")).to_be_visible()

    sign_in(page, secret)
    expect(page.get_by_role("heading", level=1)).to_have_text("Applications")
    expect(page.locator("#identity")).to_contain_text(f"Token “{name}” · admin scope")
    expect(page.get_by_role("button", name="New application")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('config-console.token')") == secret
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    assert secret not in page.url

    page.reload()  # the tab keeps it
    expect(page.locator("#identity")).to_contain_text(name)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert page.evaluate("sessionStorage.getItem('config-console.token')") is None


def test_a_read_only_token_sees_no_save_button(secured_console, secured, unique):
    service, dsn = secured
    admin = create_token(dsn, unique("admin"), "admin")
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=f"{service.url}/api/v1", headers=headers, timeout=10) as api:
        app = api.post("/applications", json={"name": unique("guarded")}).json()
        body = {"application_id": app["id"], "name": "production", "config": {"a": 1}}
        config = api.post("/configurations", json=body).json()
        api.put(f"/configurations/{config['id']}", json={"name": "production", "config": {"a": 2}})

    page = secured_console.open(f"/configurations/{config['id']}")
    sign_in(page, create_token(dsn, unique("reader"), "read"))
    expect(page.locator("#identity")).to_contain_text("read scope")
    expect(page.get_by_role("heading", level=1)).to_have_text("production")
    expect(page.get_by_label("Configuration (JSON)")).to_have_value('{\n  "a": 2\n}')
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    expect(page.get_by_label("Configuration (JSON)")).not_to_be_editable()

    page.get_by_role("link", name="History", exact=True).click()
    expect(page.get_by_role("rowheader")).to_have_count(2)
    expect(page.get_by_role("button", name="Restore")).to_have_count(0)
    page.get_by_role("link", name=app["name"]).click()
    expect(page.get_by_role("button", name="New configuration")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    page.get_by_role("link", name="Applications", exact=True).first.click()
    expect(page.get_by_role("button", name="New application")).to_have_count(0)

    # A write token, by contrast, may save (but not create or delete applications).
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, create_token(dsn, unique("writer"), "write"))
    expect(page.locator("#identity")).to_contain_text("write scope")
    expect(page.get_by_role("button", name="New application")).to_have_count(0)
    page.goto(f"{service.url}/ui/#/configurations/{config['id']}")
    expect(page.get_by_role("button", name="Save")).to_be_visible()
