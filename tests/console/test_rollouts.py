"""A staged configuration in the console: switched to staged in its editor, a rollout started
from its form, its share, the clients per version, Pause, Resume, Roll back and Promote, and
what happens elsewhere (a pause through the API, failure reports rolling it back) shown live."""

import re

import httpx
from playwright.sync_api import expect

from queries.rollouts import bucket
from tests.console.support import create_application, create_configuration

WITHIN_2_S = 2000  # ms: the change feed's wait
FLEET_MS = 15_000  # sightings are written every 2 s, and the panel counts them every 5 s


def client_ids(config_id: str, inside: int, outside: int) -> tuple[list[str], list[str]]:
    """Ids that get a rollout's version at 10% (`inside` of them), and ids that do not yet."""
    ids = [f"console-{n}" for n in range(2000)]
    return (
        [i for i in ids if bucket(config_id, i) < 10][:inside],
        [i for i in ids if bucket(config_id, i) >= 50][:outside],
    )


def read_as(service, app: dict, name: str, client_id: str) -> int:
    response = httpx.get(f"{service.url}/api/v1/config/{app['name']}/{name}", headers={"X-Client-Id": client_id})
    assert response.status_code == 200, response.text
    return response.json()["version"]


def test_a_rollout_started_paused_resumed_and_promoted_in_the_console(console, api, service, unique):
    app = create_application(api, unique("staged"))
    config = create_configuration(api, app["id"], "production", {"pool": 10})
    page = console.open(f"/configurations/{config['id']}")
    panel = page.get_by_role("region", name="Staged release")
    expect(page.get_by_label("Release", exact=True)).to_have_value("immediate")
    expect(panel).to_be_hidden()

    # Staged, in the editor; then a change, which clients do not get yet.
    page.get_by_label("Release", exact=True).select_option("staged")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Saved version 2.")
    expect(panel).to_be_visible()
    page.get_by_label("Configuration (JSON)").fill('{"pool": 20}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Saved version 3.")
    expect(page.locator(".meta")).to_contain_text("Version 3 · staged: clients get version 1")
    expect(panel.locator(".live-version")).to_have_text(
        "Clients get version 1 (the live version); the latest is version 3."
    )
    assert api.get(f"/configurations/{config['id']}").json()["release"] == "staged"

    # The form starts a rollout of the latest version; its first step at once.
    expect(panel.get_by_label("Version", exact=True)).to_have_value("3")
    panel.get_by_label("Step seconds").fill("600")
    panel.get_by_role("button", name="Start rollout").click()
    expect(panel.locator("#rollout-summary")).to_have_text("Rollout of version 3 (from version 1): Running")
    expect(panel.locator("#rollout-percent")).to_have_text("10%")
    expect(panel.get_by_role("progressbar")).to_have_attribute("value", "10")
    expect(panel.get_by_role("button", name="Start rollout")).to_be_hidden()
    (rollout,) = api.get(f"/configurations/{config['id']}/rollouts").json()
    assert (rollout["to_version"], rollout["steps"], rollout["step_seconds"]) == (3, [10, 50, 100], 600)

    # Clients reading with an id: each gets its share's version; the panel counts them.
    inside, outside = client_ids(config["id"], inside=2, outside=3)
    assert [read_as(service, app, "production", i) for i in inside + outside] == [3, 3, 1, 1, 1]
    table = panel.get_by_role("table", name="Clients per version")
    expect(table.get_by_role("rowheader")).to_have_text(
        ["Version 3 (rolling out)", "Version 1 (live)"], timeout=FLEET_MS
    )
    expect(table.get_by_role("cell")).to_have_text(["2", "3"])

    pause, resume = panel.get_by_role("button", name="Pause", exact=True), panel.get_by_role("button", name="Resume")
    expect(resume).to_be_disabled()
    pause.click()
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Paused$"))
    expect(page.locator("#status")).to_contain_text("Paused at 10%.")
    expect(pause).to_be_disabled()
    resume.click()
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Running$"))

    # Paused through the API: the open panel follows the feed.
    assert api.post(f"/configurations/{config['id']}/rollouts/{rollout['id']}/pause").status_code == 200
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Paused$"), timeout=WITHIN_2_S)

    panel.get_by_role("button", name="Promote").click()
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Completed$"))
    expect(panel.locator("#rollout-percent")).to_have_text("100%")
    expect(panel.locator(".live-version")).to_have_text("Clients get version 3 (the live version).")
    expect(panel.get_by_role("button", name="Promote")).to_be_hidden()
    assert read_as(service, app, "production", outside[0]) == 3

    # The live version moved without a new version: a save is still conditional on the current one.
    page.get_by_label("Configuration (JSON)").fill('{"pool": 30}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#status")).to_contain_text("Saved version 4.")
    console.screenshot("rollout")


def test_roll_back_and_failure_reports_in_the_console(console, api, service, unique):
    app = create_application(api, unique("canary"))
    body = {"application_id": app["id"], "name": "c", "config": {"pool": 10}, "release": "staged"}
    config = api.post("/configurations", json=body).json()
    api.put(f"/configurations/{config['id']}", json={"name": "c", "config": {"pool": 20}})
    started = api.post(f"/configurations/{config['id']}/rollouts", json={"version": 2, "step_seconds": 600}).json()
    page = console.open(f"/configurations/{config['id']}")
    panel = page.get_by_role("region", name="Staged release")
    expect(panel.locator("#rollout-percent")).to_have_text("10%")

    panel.get_by_role("button", name="Roll back").click()
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Rolled back$"))
    expect(page.locator("#status")).to_contain_text("Rolled back: every client is on version 1 again.")
    expect(panel.locator("#rollout-percent")).to_have_text("0% (rolled back at 10%)")
    assert api.get(f"/configurations/{config['id']}/rollouts/{started['id']}").json()["state"] == "rolled_back"

    # Again, from the form, tolerating one failure; two clients' reports roll it back, live.
    expect(panel.get_by_label("Version", exact=True)).to_have_value("2")
    panel.get_by_label("Step seconds").fill("600")
    panel.get_by_label("Failures tolerated").fill("1")
    panel.get_by_role("button", name="Start rollout").click()
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Running$"))
    inside, _ = client_ids(config["id"], inside=2, outside=0)
    for client_id in inside:
        report = {"client_id": client_id, "version": 2, "ok": False, "message": "pool too large"}
        assert httpx.post(f"{service.url}/api/v1/config/{app['name']}/c/reports", json=report).status_code == 202
    expect(panel.locator("#rollout-summary")).to_have_text(re.compile("Rolled back$"), timeout=WITHIN_2_S)
    expect(panel.locator(".rollout-reason")).to_contain_text("2 clients failed to apply version 2")
    expect(panel.locator(".rollout-reason")).to_contain_text("pool too large")


def test_a_bad_start_is_shown_next_to_its_field(console, api, unique):
    app = create_application(api, unique("refused"))
    body = {"application_id": app["id"], "name": "c", "config": {}, "release": "staged"}
    config = api.post("/configurations", json=body).json()
    page = console.open(f"/configurations/{config['id']}")
    panel = page.get_by_role("region", name="Staged release")
    panel.get_by_label("Version", exact=True).fill("1")
    panel.get_by_label("Steps (% of clients)").fill("50,10")
    console.expect_error(422, f"/configurations/{config['id']}/rollouts")
    panel.get_by_role("button", name="Start rollout").click()
    expect(page.locator("#rollout-steps-error")).to_be_visible()
    panel.get_by_label("Steps (% of clients)").fill("ten")
    panel.get_by_role("button", name="Start rollout").click()
    expect(page.locator("#rollout-steps-error")).to_have_text(
        "Whole percentages separated by commas, such as 10,50,100."
    )
