"""History: the versions, the difference between two, restoring one."""

import json
import re
from datetime import UTC, datetime

import httpx
from playwright.sync_api import expect

from tests.console.conftest import create_token, sign_in
from tests.console.support import create_application, create_configuration, update_configuration


def _three_versions(api, unique):
    app = create_application(api, unique("versioned"))
    config = create_configuration(api, app["id"], "production", {"db_pool": 20, "mode": "a"})
    update_configuration(api, config, {"db_pool": 30, "mode": "a"})
    update_configuration(api, config, {"db_pool": 30, "mode": "b", "extra": True}, comments="third")
    return app, config


def test_history_lists_the_versions_and_compares_any_two(console, api, unique):
    _, config = _three_versions(api, unique)
    page = console.open(f"/configurations/{config['id']}")
    page.get_by_role("link", name="History", exact=True).click()

    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(4)  # the header and three versions, newest first
    expect(page.get_by_role("rowheader")).to_have_text(["Version 3current", "Version 2", "Version 1"])

    page.get_by_label("Choose version 3").check()
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("alert").filter(has_text="Choose exactly two versions")).to_contain_text("1 chosen")

    page.get_by_label("Choose version 1").check()
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Version 1 → version 3")).to_be_focused()
    diff = page.get_by_role("region", name="Document of version 1 against version 3")
    # In the order written (the service keeps it), not sorted.
    expect(diff.locator(".del .text")).to_have_text(['  "db_pool": 20,', '  "mode": "a"'])
    expect(diff.locator(".ins .text")).to_have_text(['  "db_pool": 30,', '  "mode": "b",', '  "extra": true'])
    expect(page.get_by_role("listitem").filter(has_text="Comments:")).to_have_text("Comments: “” → “third”")

    # The comparison is a deep link.
    page.reload()
    expect(diff.locator(".ins .text")).to_have_count(3)


def test_restore_asks_then_shows_the_new_version(console, api, unique):
    _, config = _three_versions(api, unique)
    page = console.open(f"/configurations/{config['id']}/history")
    version_1 = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Version 1"))
    version_1.get_by_role("button", name="Restore").click()
    dialog = page.get_by_role("dialog", name="Restore version 1?")
    dialog.get_by_role("button", name="Cancel").click()
    assert api.get(f"/configurations/{config['id']}").json()["version"] == 3

    version_1.get_by_role("button", name="Restore").click()
    dialog.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status").filter(has_text="Version 1 restored as version 4")).to_be_visible()
    expect(page.locator(".meta")).to_contain_text("Version 4")
    assert json.loads(page.get_by_label("Configuration (JSON)").input_value()) == {"db_pool": 20, "mode": "a"}
    stored = api.get(f"/configurations/{config['id']}").json()
    assert (stored["version"], stored["config"], stored["comments"]) == (4, {"db_pool": 20, "mode": "a"}, None)
    # The current version has nothing to restore.
    page.get_by_role("link", name="History", exact=True).click()
    current = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Version 4"))
    expect(current.get_by_role("button", name="Restore")).to_have_count(0)
    expect(page.get_by_role("button", name="Restore")).to_have_count(3)


def _as_shown(iso: str) -> re.Pattern:
    """A time as the console shows it with the tests' en-US locale and UTC zone (Intl's medium
    date and time: "Mar 7, 2026, 3:04:05 PM", a narrow space before PM)."""
    at = datetime.fromisoformat(iso).astimezone(UTC)
    return re.compile(rf"^{at:%b} {at.day}, {at.year}, {at.hour % 12 or 12}:{at:%M:%S}\s{at:%p}$")


def test_each_version_shows_when_it_was_made_and_by_which_token(secured_console, secured, unique):
    service, dsn = secured
    names = {"admin": unique("ada"), "write": unique("bob")}
    secrets = {scope: create_token(dsn, name, scope) for scope, name in names.items()}
    url = f"{service.url}/api/v1"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secrets['admin']}"}) as api:
        app = create_application(api, unique("audited"))
        config = create_configuration(api, app["id"], "production", {"db_pool": 20})
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secrets['write']}"}) as api:
        update_configuration(api, config, {"db_pool": 30})
        versions = api.get(f"/configurations/{config['id']}/versions").json()
    assert [(v["version"], v["actor"]) for v in versions] == [(2, names["write"]), (1, names["admin"])]

    page = secured_console.open(f"/configurations/{config['id']}/history")
    sign_in(page, secrets["write"])
    expect(page.get_by_role("heading", level=1)).to_have_text("History of production")
    for version in versions:
        row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=f"Version {version['version']}"))
        expect(row.get_by_role("cell", name=version["actor"], exact=True)).to_be_visible()
        expect(row.get_by_role("cell", name=_as_shown(version["created_at"]))).to_be_visible()
        expect(row.locator("time")).to_have_attribute("datetime", version["created_at"])
