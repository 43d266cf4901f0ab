"""The applications list and one application: create, search, page, rename, delete."""

import json
import re

from playwright.sync_api import expect

from tests.console.support import create_application, create_configuration, seed_applications, update_configuration


def test_new_application_made_through_the_form_is_stored_and_listed(console, api, unique):
    name = unique("checkout")
    page = console.open("/applications")
    page.get_by_role("button", name="New application").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Comments").fill("Checkout web service")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("status").filter(has_text="created")).to_contain_text(name)
    stored = api.get("/applications", params={"search": name}).json()
    assert [(app["name"], app["comments"]) for app in stored] == [(name, "Checkout web service")]
    assert page.url.endswith(f"#/applications/{stored[0]['id']}")

    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="Applications").click()
    page.get_by_label("Search").fill(name)
    row = page.get_by_role("table").get_by_role("row").filter(has_text=name)
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell")).to_have_text(["Checkout web service", "0", re.compile(r"\d{4}")])


def test_a_taken_name_is_shown_next_to_the_name_and_nothing_is_made(console, api, unique):
    name = unique("taken")
    create_application(api, name)
    console.expect_error(409, "/applications")
    page = console.open("/applications/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create").click()

    expect(page.locator("#app-name-error")).to_contain_text(f"an application named '{name}' already exists")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "")
    expect(page.get_by_role("heading", level=1)).to_have_text("New application")
    assert len(api.get("/applications", params={"search": name}).json()) == 1


def test_search_and_paging_walk_1000_applications_in_order(console, api, unique):
    prefix = unique("fleet")
    names = [f"{prefix}-{i:04d}" for i in range(1000)]
    seed_applications(api, names)
    # Seeded concurrently, so creation (id) order, the list's order, is the service's to say.
    in_order = [app["name"] for app in api.get("/applications", params={"search": prefix, "limit": 1000}).json()]
    assert sorted(in_order) == names
    page = console.open("/applications")
    page.get_by_label("Search").fill(prefix.upper())  # any case
    names_shown = page.get_by_role("table").get_by_role("rowheader")
    expect(names_shown.first).to_have_text(in_order[0])
    expect(names_shown).to_have_count(50)

    # Every page in turn: all 1,000, each once, in creation order.
    seen = []
    next_page = page.get_by_role("button", name="Next page")
    for number in range(1, 21):
        expect(page.locator(".page-number")).to_have_text(f"Page {number}")
        expect(names_shown).to_have_count(50)
        seen += names_shown.all_inner_texts()
        if number < 20:
            next_page.click()
            expect(names_shown.first).to_have_text(in_order[number * 50])
    assert seen == in_order
    expect(next_page).to_be_disabled()

    # Back a page, and a deep link to it survives a reload.
    page.get_by_role("button", name="Previous page").click()
    expect(names_shown.first).to_have_text(in_order[900])
    page.reload()
    expect(names_shown.first).to_have_text(in_order[900])
    expect(names_shown.last).to_have_text(in_order[949])

    page.get_by_label("Search").fill(f"{prefix}-0777")
    expect(names_shown).to_have_text([f"{prefix}-0777"])
    expect(page.get_by_role("navigation", name="Pages of applications")).to_be_hidden()
    page.get_by_label("Search").fill(f"{prefix}-nothing")
    expect(page.get_by_text(f"No application name contains “{prefix}-nothing”.")).to_be_visible()
    expect(page.get_by_role("table")).to_be_hidden()


def test_renaming_an_application_and_its_comments_are_saved(console, api, unique):
    app = create_application(api, unique("before"), "old comments")
    renamed = unique("after")
    page = console.open(f"/applications/{app['id']}")
    page.get_by_label("Name").fill(renamed)
    page.get_by_label("Comments").fill("new comments")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(renamed)
    stored = api.get(f"/applications/{app['id']}").json()
    assert (stored["name"], stored["comments"], stored["version"]) == (renamed, "new comments", 2)


def test_delete_waits_for_the_configurations_to_go_then_asks_for_confirmation(console, api, unique):
    app = create_application(api, unique("retiring"))
    config = create_configuration(api, app["id"], "only", {"a": 1})
    page = console.open(f"/applications/{app['id']}")
    delete = page.get_by_role("button", name="Delete")
    expect(delete).to_be_disabled()
    expect(delete).to_have_accessible_description(re.compile("only when it has no configurations; this one has 1"))

    # Its configuration deleted elsewhere: the screen follows, and Delete is possible.
    assert api.delete(f"/configurations/{config['id']}").status_code == 204
    expect(delete).to_be_enabled(timeout=2000)

    delete.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete application “{app['name']}”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api.get(f"/applications/{app['id']}").status_code == 200

    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Applications")
    expect(page.get_by_role("status").filter(has_text="deleted")).to_contain_text(app["name"])
    assert api.get(f"/applications/{app['id']}").status_code == 404


def _reread_fails(page, app_id: str, status: int, code: str) -> None:
    """From now on the application's own GET fails (as a service going down, or a deletion)."""
    body = json.dumps({"code": code, "message": "made up by the test", "details": [], "request_id": None})

    def handle(route):
        if route.request.method == "GET":
            route.fulfill(status=status, body=body, content_type="application/json")
        else:
            route.continue_()

    page.route(f"**/api/v1/applications/{app_id}", handle)


def _stale_save(console, api, unique):
    """An application screen with an edit in progress, the application changed elsewhere since."""
    app = create_application(api, unique("contested"), "first")
    page = console.open(f"/applications/{app['id']}")
    page.get_by_label("Comments").fill("mine")
    response = api.put(f"/applications/{app['id']}", json={"name": app["name"], "comments": "theirs"})
    assert response.status_code == 200, response.text
    expect(page.locator(".meta")).to_contain_text("Version 2", timeout=2000)  # the live refresh is done
    console.expect_error(412, f"/applications/{app['id']}")
    return app, page


def test_a_stale_save_whose_reread_fails_says_so_and_keeps_the_edits(console, api, unique):
    app, page = _stale_save(console, api, unique)
    console.expect_error(503, f"/applications/{app['id']}")
    _reread_fails(page, app["id"], 503, "database_unavailable")
    page.get_by_role("button", name="Save", exact=True).click()

    problem = page.locator(".form-error")
    expect(problem).to_contain_text("Changed by someone else, and the current version could not be read")
    expect(problem).to_contain_text("Service unavailable")
    expect(page.get_by_label("Comments")).to_have_value("mine")
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_enabled()
    assert api.get(f"/applications/{app['id']}").json()["comments"] == "theirs"


def test_a_stale_save_of_an_application_deleted_meanwhile_says_so(console, api, unique):
    app, page = _stale_save(console, api, unique)
    console.expect_error(404, f"/applications/{app['id']}")
    _reread_fails(page, app["id"], 404, "not_found")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator(".live-note")).to_have_text("This application has been deleted meanwhile.")
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled()


def test_who_made_each_version_is_asked_once_per_version(console, api, unique):
    app = create_application(api, unique("actors"))
    configs = [create_configuration(api, app["id"], name, {"n": 1}) for name in ("a", "b", "c")]
    asked: list[str] = []
    console.page.on(
        "request", lambda request: "/versions?limit=1" in request.url and asked.append(request.url.split("/")[-2])
    )
    page = console.open(f"/applications/{app['id']}")
    by = page.get_by_role("table").get_by_role("row").get_by_role("cell").filter(has_text=re.compile("—"))
    expect(by).to_have_count(3)
    assert sorted(asked) == sorted(config["id"] for config in configs)

    update_configuration(api, configs[1], {"n": 2})
    row = page.get_by_role("row").filter(has_text="b")
    expect(row.get_by_role("cell").first).to_have_text("2", timeout=2000)
    expect(by).to_have_count(3)
    page.wait_for_timeout(500)  # any more requests a refresh would make
    assert sorted(asked) == sorted([*(config["id"] for config in configs), configs[1]["id"]])
