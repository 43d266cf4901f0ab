"""Every error reads as a message (never a blank screen), and the error watch itself."""

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from bench.service_process import ServiceProcess
from conftest import start_throwaway_postgres, stop_throwaway_postgres
from infra.postgres import LocalPostgres
from tests.console.conftest import Console, ConsoleWatch, create_token, sign_in, tolerated_statuses
from tests.console.support import create_application, create_configuration

MISSING = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a well-formed id nothing has


def test_a_deep_link_to_a_missing_configuration_says_not_found(console):
    console.expect_error(404, f"/configurations/{MISSING}")
    page = console.open(f"/configurations/{MISSING}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("alert").filter(has_text="does not exist")).to_contain_text(
        f"configuration {MISSING} does not exist"
    )
    page.get_by_role("link", name="Back to applications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Applications")


def test_an_unknown_address_says_not_found(console):
    page = console.open("/nowhere")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("alert").filter(has_text="no page")).to_have_text("There is no page at /nowhere.")


def test_a_limited_token_cannot_rename_and_a_refusal_reads_as_not_allowed_keeping_the_draft(
    secured_console, secured, unique
):
    """A write token limited to one application may change its comments but not its name
    (names are unique across all applications): the Name field is read-only and says why. A
    403 the console could not foresee (the token's rights changed meanwhile, say; made here by
    answering the Save with the service's own 403) reads as a message, the draft kept."""
    service, dsn = secured
    admin = create_token(dsn, unique("admin"), "admin")
    with httpx.Client(base_url=f"{service.url}/api/v1", headers={"Authorization": f"Bearer {admin}"}) as api:
        app = create_application(api, unique("billing"))
        writer = unique("billing-writer")
        page = secured_console.open(f"/applications/{app['id']}")
        sign_in(page, create_token(dsn, writer, "write", applications=[app["name"]]))
        expect(page.locator("#identity")).to_contain_text(f"write scope for {app['name']}")
        expect(page.get_by_role("heading", level=1)).to_have_text(app["name"])

        name = page.get_by_label("Name")
        expect(name).to_have_attribute("readonly", "")
        expect(name).to_have_accessible_description(re.compile("cannot rename"))
        page.get_by_label("Comments").fill("kept by the billing team")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text(f"Saved “{app['name']}”.")

        refusal_body = {
            "code": "forbidden",
            "message": "this needs a token with the admin scope",
            "request_id": "refused-1",
        }
        page.route(
            f"**/api/v1/applications/{app['id']}",
            lambda route: (
                route.fulfill(status=403, json=refusal_body) if route.request.method == "PUT" else route.fallback()
            ),
        )
        secured_console.expect_error(403, f"/applications/{app['id']}")
        page.get_by_label("Comments").fill("a second thought")
        page.get_by_role("button", name="Save").click()
        refusal = page.get_by_role("alert").filter(has_text="Not allowed")
        expect(refusal).to_contain_text(
            f"Not allowed. Token “{writer}” · write scope for {app['name']} may not do this. "
            "The service says: this needs a token with the admin scope."
        )
        expect(refusal).to_contain_text("Request id: refused-1")
        expect(page.get_by_label("Comments")).to_have_value("a second thought")  # the draft stays
        stored = api.get(f"/applications/{app['id']}").json()
        assert (stored["name"], stored["comments"]) == (app["name"], "kept by the billing team")


def test_the_error_watch_catches_console_errors_exceptions_and_undeclared_failures(page, service, tolerated):
    watch = ConsoleWatch(page, service.url, tolerated)
    page.goto(f"{service.url}/ui/#/applications")
    expect(page.get_by_role("heading", name="Applications")).to_be_visible()
    assert watch.unexplained() == []

    page.evaluate(
        """async (id) => {
            console.error("boom");
            setTimeout(() => { throw new Error("bang"); });
            await fetch(`/api/v1/configurations/${id}`);
        }""",
        MISSING,
    )
    for _ in range(100):  # the exception and the response's line arrive a moment later
        if len(found := watch.unexplained()) >= 3:
            break
        page.wait_for_timeout(20)
    assert "boom" in found
    assert "uncaught Error: bang" in found
    assert any(re.match(r"Failed to load resource: .* 404 .*" + MISSING, line) for line in found), found

    watch.expect(404, "/configurations/")  # declared: Chromium's line for it is forgiven, nothing else
    assert watch.unexplained() == ["boom", "uncaught Error: bang"]


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A server of its own: stopping it must not touch the other tests' databases."""
    server = start_throwaway_postgres(durable=True)  # so a stop loses no acknowledged write
    yield server
    stop_throwaway_postgres(server)


def test_an_unavailable_database_reads_as_a_503_message_and_the_draft_survives(page, own_postgres):
    dsn = own_postgres.create_database("console_outage")
    with ServiceProcess(database_url=dsn, db_connect_timeout=1, shutdown_grace=1) as service:
        watch = ConsoleWatch(page, service.url, tolerated_statuses(service.url))
        console = Console(page, service.url, watch)
        with httpx.Client(base_url=f"{service.url}/api/v1", timeout=10) as api:
            app = create_application(api, "outage")
            config = create_configuration(api, app["id"], "production", {"db_pool": 20})
            console.open(f"/configurations/{config['id']}")
            editor = page.get_by_label("Configuration (JSON)")
            expect(editor).to_have_value('{\n  "db_pool": 20\n}')

            own_postgres.stop("fast")
            watch.expect(503, "/")  # any request may meet the outage, the live feed's too
            editor.fill('{"db_pool": 25}')
            page.get_by_role("button", name="Save").click()
            message = page.get_by_role("alert").filter(has_text="Service unavailable")
            expect(message).to_contain_text(re.compile(r"try again in \d+ s"))
            expect(message).to_contain_text("Request id:")
            expect(editor).to_have_value('{"db_pool": 25}')

            own_postgres.start()
            deadline = time.monotonic() + 30
            while httpx.get(f"{service.url}/health", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "the service did not recover"
                time.sleep(0.2)
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
            assert api.get(f"/configurations/{config['id']}").json()["config"] == {"db_pool": 25}
    assert watch.unexplained() == [], "the page logged errors"
