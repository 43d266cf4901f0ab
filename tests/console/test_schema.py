"""The Schema tab of a configuration, and violations of its schema shown where they are."""

import re

from playwright.sync_api import expect

from tests.console.support import create_application, create_configuration

SCHEMA = {
    "type": "object",
    "properties": {"db": {"type": "object", "properties": {"pool": {"type": "integer", "maximum": 100}}}},
}


def editor(page, label: str = "Configuration (JSON)"):
    return page.get_by_label(label)


def open_schema_tab(console, config, has_schema: bool = False):
    if not has_schema:  # the tab asks for the schema, and hears 404 (no_schema)
        console.expect_error(404, f"/configurations/{config['id']}/schema")
    page = console.open(f"/configurations/{config['id']}")
    page.get_by_role("tab", name="Schema").click()
    expect(page.get_by_role("tab", name="Schema")).to_have_attribute("aria-selected", "true")
    return page


def test_a_schema_is_written_saved_and_removed_on_its_tab(console, api, unique):
    app = create_application(api, unique("guarded"))
    config = create_configuration(api, app["id"], "production", {"db": {"pool": 20}})
    page = open_schema_tab(console, config)
    expect(page.locator("#schema-meta")).to_contain_text("No schema")

    editor(page, "JSON Schema").fill('{"type": "object", "required": ["db"], "properties": {"db": {"type": "object"}}}')
    page.get_by_role("button", name="Save schema").click()
    expect(page.get_by_role("status").filter(has_text="Saved schema version 1")).to_be_visible()
    expect(page.locator("#schema-meta")).to_contain_text("Schema version 1 (draft 2020-12)")
    stored = api.get(f"/configurations/{config['id']}/schema")
    assert '"schema":{"type":"object","required":["db"],"properties":{"db":{"type":"object"}}}' in stored.text
    # Shown with its keys as written.
    expect(editor(page, "JSON Schema")).to_have_value(re.compile(r'^\{\n  "type": "object",\n  "required": \['))

    page.get_by_role("button", name="Remove schema").click()
    page.get_by_role("dialog", name="Remove the schema?").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status").filter(has_text="Schema removed")).to_be_visible()
    assert api.get(f"/configurations/{config['id']}/schema").json()["code"] == "no_schema"


def test_a_save_the_schema_refuses_shows_each_violation_at_its_place(console, api, unique):
    app = create_application(api, unique("strict"))
    config = create_configuration(api, app["id"], "production", {"mode": "a", "db": {"pool": 20}})
    assert api.put(f"/configurations/{config['id']}/schema", json=SCHEMA).status_code == 200
    console.expect_error(422, f"/configurations/{config['id']}")
    page = console.open(f"/configurations/{config['id']}")
    editor(page).fill('{\n  "mode": "a",\n  "db": {\n    "pool": 500\n  },\n  "other": {"db": 1}\n}')
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("alert").filter(has_text="does not satisfy the configuration's schema")).to_be_visible()
    problems = page.locator("#config-json-error li")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text("/db/pool")
    expect(problems.first).to_contain_text("maximum")
    # The line of the value is marked, and its entry selects it.
    expect(page.locator("#config-json").locator("xpath=..").locator(".gutter")).to_contain_text("● 4")
    problems.first.get_by_role("button", name="line 4").click()
    selected = page.evaluate(
        "() => { const t = document.getElementById('config-json');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == "500"
    assert api.get(f"/configurations/{config['id']}").json()["version"] == 1


def test_a_schema_the_document_fails_is_not_saved_and_says_where(console, api, unique):
    app = create_application(api, unique("late"))
    config = create_configuration(api, app["id"], "production", {"db": {"pool": 500}})
    console.expect_error(422, f"/configurations/{config['id']}/schema")
    page = open_schema_tab(console, config)
    editor(page, "JSON Schema").fill('{"properties": {"db": {"properties": {"pool": {"maximum": 100}}}}}')
    page.get_by_role("button", name="Save schema").click()

    expect(
        page.get_by_role("alert").filter(has_text="the current document does not satisfy this schema")
    ).to_be_visible()
    page.get_by_role("button", name="Show the document").click()
    expect(page.locator("#config-json-error li")).to_contain_text("/db/pool")
    assert api.get(f"/configurations/{config['id']}/schema").json()["code"] == "no_schema"


def test_an_invalid_schema_shows_why(console, api, unique):
    app = create_application(api, unique("typo"))
    config = create_configuration(api, app["id"], "production", {})
    console.expect_error(422, f"/configurations/{config['id']}/schema")
    page = open_schema_tab(console, config)
    editor(page, "JSON Schema").fill('{"type": "objcet"}')
    page.get_by_role("button", name="Save schema").click()
    expect(page.locator("#schema-json-error li")).to_contain_text("/type")
    expect(page.get_by_role("alert").filter(has_text="Not saved: the schema is not valid")).to_be_visible()


def test_a_schema_changed_elsewhere_is_not_overwritten(console, api, unique):
    app = create_application(api, unique("race"))
    config = create_configuration(api, app["id"], "production", {"db": {"pool": 20}})
    assert api.put(f"/configurations/{config['id']}/schema", json=SCHEMA).status_code == 200
    page = open_schema_tab(console, config, has_schema=True)
    expect(page.locator("#schema-meta")).to_contain_text("Schema version 1")
    editor(page, "JSON Schema").fill('{"type": "object"}')
    assert api.put(f"/configurations/{config['id']}/schema", json={"required": ["db"]}).status_code == 200
    console.expect_error(412, f"/configurations/{config['id']}/schema")
    page.get_by_role("button", name="Save schema").click()
    expect(page.get_by_role("alert").filter(has_text="someone else changed the schema")).to_be_visible()
    assert api.get(f"/configurations/{config['id']}/schema").json()["schema"] == {"required": ["db"]}
    page.get_by_role("button", name="Reload the schema").click()
    expect(page.locator("#schema-meta")).to_contain_text("Schema version 2")
