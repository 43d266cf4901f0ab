"""A configuration: create, check as you type, the service's 422s, save, 412, delete."""

import json
import re
from decimal import Decimal

from playwright.sync_api import expect

from tests.console.support import create_application, create_configuration, exact, update_configuration

# Numbers a double would round: the console must send and show them as written.
DOCUMENT = '{\n  "db_pool": 20,\n  "ratio": 0.1,\n  "big": 123456789012345678901234567890\n}'


def editor(page):
    return page.get_by_label("Configuration (JSON)")


def test_new_configuration_made_through_the_form_keeps_its_document_exactly(console, api, unique):
    app = create_application(api, unique("shop"))
    page = console.open(f"/applications/{app['id']}")
    page.get_by_role("button", name="New configuration").click()
    # The application's own form has a Name too: fill only once the new screen is up.
    expect(page.get_by_role("heading", level=1)).to_have_text("New configuration")
    page.get_by_label("Name").fill("production")
    page.get_by_label("Comments").fill("live settings")
    editor(page).fill(DOCUMENT)
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("production")
    expect(page.locator(".meta")).to_contain_text("Version 1")
    (config_id,) = api.get(f"/applications/{app['id']}").json()["configuration_ids"]
    stored = exact(api.get(f"/configurations/{config_id}"))
    assert stored["comments"] == "live settings"
    assert stored["config"] == {"db_pool": 20, "ratio": Decimal("0.1"), "big": 123456789012345678901234567890}
    # Shown as stored, digits and all.
    expect(editor(page)).to_have_value(re.compile(r'"big": 123456789012345678901234567890,?\n'))

    page.get_by_role("link", name=app["name"]).click()
    row = page.get_by_role("row").filter(has_text="production")
    expect(row.get_by_role("cell")).to_have_text(["1", re.compile(r"\d{4}"), re.compile("—")])


def test_a_document_is_shown_with_its_keys_and_numbers_as_written(console, api, unique):
    app = create_application(api, unique("ordered"))
    # Integer-like keys first would be a JavaScript object's order; jsonb's, shorter keys first.
    written = '{"zeta": 1, "10": [1.50, -0.0], "2": {"b": 1e2, "a": "x, y: {z}"}}'
    raw = f'{{"application_id": "{app["id"]}", "name": "ordered", "config": {written}}}'
    config = api.post("/configurations", content=raw, headers={"content-type": "application/json"}).json()
    page = console.open(f"/configurations/{config['id']}")
    shown = (
        '{\n  "zeta": 1,\n  "10": [\n    1.50,\n    -0.0\n  ],\n  "2": {\n    "b": 1e2,\n    "a": "x, y: {z}"\n  }\n}'
    )
    expect(editor(page)).to_have_value(shown)

    # Saved unchanged, it stays as written.
    page.get_by_label("Comments").fill("touched")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
    expect(editor(page)).to_have_value(shown)
    stored = api.get(f"/configurations/{config['id']}")
    assert '"config":{"zeta":1,"10":[1.50,-0.0],"2":{"b":1e2,"a":"x, y: {z}"}}' in stored.text


def test_syntax_is_checked_as_you_type_and_a_broken_document_is_not_sent(console, api, unique):
    app = create_application(api, unique("typing"))
    config = create_configuration(api, app["id"], "draft", {"a": 1})
    page = console.open(f"/configurations/{config['id']}")
    syntax = page.locator("#config-json-syntax")
    expect(syntax).to_have_text("Valid JSON.")

    editor(page).fill('{\n  "a": 1,\n  "b": tru\n}')
    expect(syntax).to_have_text(re.compile(r"^Line 3, column 8: Unexpected “t”: expected a value"))
    expect(editor(page)).to_have_attribute("aria-invalid", "")
    editor(page).fill('{\n  "a": 1,\n}')
    expect(syntax).to_have_text(re.compile(r"^Line 2, column 9: A comma may not come before “}”"))
    editor(page).fill("[1, 2]")
    expect(syntax).to_have_text("Valid JSON, but a configuration must be a JSON object ({ … }).")
    editor(page).fill('{\n  "a": 2\n')
    expect(syntax).to_have_text(re.compile(r"^Line 3, column 1: Unexpected end"))

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Fix the JSON first")).to_be_visible()
    expect(editor(page)).to_be_focused()
    assert api.get(f"/configurations/{config['id']}").json()["version"] == 1


def test_the_services_422_details_are_shown_next_to_their_fields_and_nothing_is_saved(console, api, unique):
    app = create_application(api, unique("strict"))
    config = create_configuration(api, app["id"], "deep", {"a": 1})
    console.expect_error(422, f"/configurations/{config['id']}")
    page = console.open(f"/configurations/{config['id']}")
    # Valid JSON the service refuses: nested deeper than 64 levels; and a blank name.
    editor(page).fill('{"x": ' * 65 + "1" + "}" * 65)
    expect(page.locator("#config-json-syntax")).to_have_text("Valid JSON.")
    page.get_by_label("Name").fill("   ")
    page.get_by_role("button", name="Save").click()

    # A problem inside the document is shown at its place: where (its JSON Pointer) and why.
    expect(page.locator("#config-json-error")).to_contain_text("must not nest deeper than 64 levels")
    expect(page.locator("#config-name-error")).to_have_text("must not be blank")
    expect(page.get_by_label("Name")).to_be_focused()
    stored = api.get(f"/configurations/{config['id']}").json()
    assert (stored["version"], stored["name"], stored["config"]) == (1, "deep", {"a": 1})

    # The details go once the document is fixed and saved.
    page.get_by_label("Name").fill("deep")
    editor(page).fill('{"x": 2}')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
    expect(page.locator("#config-json-error")).to_be_hidden()


def test_edit_and_save_stores_a_new_version(console, api, unique):
    app = create_application(api, unique("edit"))
    config = create_configuration(api, app["id"], "production", {"db_pool": 20})
    page = console.open(f"/configurations/{config['id']}")
    expect(editor(page)).to_have_value('{\n  "db_pool": 20\n}')
    editor(page).fill('{"db_pool": 40, "log_level": "warning"}')
    page.get_by_label("Comments").fill("more connections")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
    expect(page.locator(".meta")).to_contain_text("Version 2")
    stored = api.get(f"/configurations/{config['id']}").json()
    assert (stored["version"], stored["comments"]) == (2, "more connections")
    assert stored["config"] == {"db_pool": 40, "log_level": "warning"}


def _conflict(console, api, unique):
    """A configuration open in the console with a draft, then changed through the API."""
    app = create_application(api, unique("race"))
    config = create_configuration(api, app["id"], "production", {"db_pool": 20, "mode": "a"})
    page = console.open(f"/configurations/{config['id']}")
    expect(editor(page)).to_have_value(re.compile('"mode": "a"'))
    editor(page).fill('{\n  "db_pool": 20,\n  "mode": "mine"\n}')
    update_configuration(api, config, {"db_pool": 30, "mode": "a"})
    console.expect_error(412, f"/configurations/{config['id']}")
    page.get_by_role("button", name="Save").click()
    panel = page.get_by_role("region", name="Changed by someone else")
    expect(panel).to_contain_text("now version 2")
    return page, config, panel


def test_a_stale_save_shows_what_changed_and_overwrite_saves_the_draft(console, api, unique):
    page, config, panel = _conflict(console, api, unique)
    expect(panel.get_by_role("heading", name="Changed by someone else")).to_be_focused()
    # Compared as written: the service keeps keys in the order they were written.
    diff = panel.locator(".diff-lines")
    expect(diff.locator(".del .text")).to_have_text(['  "db_pool": 30,', '  "mode": "a"'])
    expect(diff.locator(".ins .text")).to_have_text(['  "db_pool": 20,', '  "mode": "mine"'])
    assert api.get(f"/configurations/{config['id']}").json()["config"] == {"db_pool": 30, "mode": "a"}

    panel.get_by_role("button", name="Overwrite").click()
    expect(page.get_by_role("status").filter(has_text="Saved version 3")).to_be_visible()
    expect(panel).to_be_hidden()
    stored = api.get(f"/configurations/{config['id']}").json()
    assert (stored["version"], stored["config"]) == (3, {"db_pool": 20, "mode": "mine"})


def test_a_stale_save_can_reload_the_current_version_instead(console, api, unique):
    page, config, panel = _conflict(console, api, unique)
    panel.get_by_role("button", name="Reload").click()
    expect(panel).to_be_hidden()
    assert json.loads(editor(page).input_value()) == {"db_pool": 30, "mode": "a"}
    expect(page.locator(".meta")).to_contain_text("Version 2")
    assert api.get(f"/configurations/{config['id']}").json()["version"] == 2


def test_delete_asks_for_confirmation(console, api, unique):
    app = create_application(api, unique("tidy"))
    config = create_configuration(api, app["id"], "obsolete", {"a": 1})
    page = console.open(f"/configurations/{config['id']}")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete configuration “obsolete”?")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Delete")).to_be_focused()
    assert api.get(f"/configurations/{config['id']}").status_code == 200

    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(app["name"])
    expect(page.get_by_role("status").filter(has_text="deleted")).to_contain_text("obsolete")
    assert api.get(f"/configurations/{config['id']}").status_code == 404
    expect(page.get_by_text("No configurations yet.")).to_be_visible()
