"""Live: what changes elsewhere shows on the open screen within 2 s (the change feed's wait)."""

import json

from playwright.sync_api import expect

from tests.console.support import create_application, create_configuration, update_configuration

WITHIN_2_S = 2000  # ms


def test_a_change_through_the_api_shows_on_the_open_configuration(console, api, unique):
    app = create_application(api, unique("watched"))
    config = create_configuration(api, app["id"], "production", {"db_pool": 20})
    page = console.open(f"/configurations/{config['id']}")
    editor = page.get_by_label("Configuration (JSON)")
    expect(editor).to_have_value('{\n  "db_pool": 20\n}')
    expect(page.locator("#live-status")).to_have_text("Live")

    update_configuration(api, config, {"db_pool": 99})
    expect(editor).to_have_value('{\n  "db_pool": 99\n}', timeout=WITHIN_2_S)
    expect(page.locator(".live-note")).to_have_text("Updated to version 2 elsewhere.")
    expect(page.locator(".meta")).to_contain_text("Version 2")

    # A draft in progress is never overwritten: the screen says what happened instead.
    editor.fill('{"db_pool": 1}')
    update_configuration(api, config, {"db_pool": 100})
    expect(page.locator(".live-note")).to_contain_text("saved version 3 while you were editing", timeout=WITHIN_2_S)
    assert json.loads(editor.input_value()) == {"db_pool": 1}

    # Deleted elsewhere: saving is off, and the way back is offered.
    assert api.delete(f"/configurations/{config['id']}").status_code == 204
    expect(page.locator(".live-note")).to_contain_text("This configuration was deleted", timeout=WITHIN_2_S)
    expect(page.get_by_role("button", name="Save")).to_be_disabled()


def test_new_configurations_and_applications_show_on_open_lists(console, api, unique):
    app = create_application(api, unique("growing"))
    page = console.open(f"/applications/{app['id']}")
    expect(page.get_by_text("No configurations yet.")).to_be_visible()
    create_configuration(api, app["id"], "added-elsewhere", {"a": 1})
    expect(page.get_by_role("rowheader", name="added-elsewhere")).to_be_visible(timeout=WITHIN_2_S)

    prefix = unique("arriving")
    page = console.open(f"/applications?search={prefix}")
    expect(page.get_by_text(f"No application name contains “{prefix}”.")).to_be_visible()
    create_application(api, f"{prefix}-1")
    expect(page.get_by_role("rowheader")).to_have_text([f"{prefix}-1"], timeout=WITHIN_2_S)


def test_a_screen_failing_on_a_change_is_reported_and_the_feed_goes_on(console, api, unique):
    page = console.open("/applications")
    expect(page.locator("#live-status")).to_have_text("Live")
    # A second follower of the feed, whose screen fails on every change.
    page.evaluate(
        """async () => {
            const { Live } = await import(new URL("js/live.js", document.baseURI).href);
            const probe = { revisions: [], states: [] };
            probe.live = new Live({
                onChange: (change) => {
                    probe.revisions.push(change.revision);
                    throw new Error("the screen's own bug");
                },
                onState: (state) => probe.states.push(state),
            });
            probe.live.start();
            await probe.live.ready;
            window.probe = probe;
        }"""
    )
    create_application(api, unique("first"))
    create_application(api, unique("second"))
    page.wait_for_function("() => window.probe.revisions.length === 2", timeout=WITHIN_2_S)
    expect(page.locator("#alert")).to_contain_text("Could not show a change made elsewhere")
    assert "retrying" not in page.evaluate("() => window.probe.states")
    page.evaluate("() => window.probe.live.stop()")
