"""The console used with the keyboard alone."""

from playwright.sync_api import expect


def _tab_to(page, target, limit=40):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


def test_keyboard_alone_creates_an_application_and_a_configuration_and_deletes_it(console, api, unique):
    name = unique("keys")
    page = console.open("/applications")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    _tab_to(page, page.get_by_role("button", name="New application"))
    page.keyboard.press("Enter")
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Comments")).to_be_focused()
    page.keyboard.type("made by keyboard")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)

    _tab_to(page, page.get_by_role("button", name="New configuration"))
    page.keyboard.press("Enter")
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("production")
    _tab_to(page, page.get_by_label("Configuration (JSON)"))
    page.keyboard.press("Control+A")
    page.keyboard.type('{"answer": 42}')
    page.keyboard.press("Tab")  # out of the editor: Tab is not swallowed
    expect(page.get_by_role("button", name="Create")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("production")
    (app,) = api.get("/applications", params={"search": name}).json()
    (config_id,) = api.get(f"/applications/{app['id']}").json()["configuration_ids"]
    assert api.get(f"/configurations/{config_id}").json()["config"] == {"answer": 42}

    _tab_to(page, page.get_by_role("button", name="Delete"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    assert api.get(f"/configurations/{config_id}").status_code == 404
