"""Each main screen with realistic data, for the eye: screenshots in tests/console/screenshots/
(git-ignored; docs/ holds copies of the best). Its own service, so the list shows only these."""

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from bench.service_process import ServiceProcess
from tests.console.conftest import Console, ConsoleWatch, tolerated_statuses
from tests.console.support import create_application, create_configuration, update_configuration

APPLICATIONS = [
    ("billing", "Invoices and payment runs"),
    ("catalog", "Product catalogue API"),
    ("checkout", "Checkout web service"),
    ("inventory", None),
    ("notifications", "E-mail, SMS and push delivery"),
    ("search", "Search front end (EU and US)"),
]


@pytest.fixture(scope="module")
def showcase(new_database) -> Iterator[ServiceProcess]:
    with ServiceProcess(database_url=new_database(), shutdown_grace=1) as running:
        yield running


def test_each_main_screen_renders_and_is_captured(page, showcase):
    watch = ConsoleWatch(page, showcase.url, tolerated_statuses(showcase.url))
    console = Console(page, showcase.url, watch)
    with httpx.Client(base_url=f"{showcase.url}/api/v1", timeout=10) as api:
        apps = {name: create_application(api, name, comments) for name, comments in APPLICATIONS}
        checkout = apps["checkout"]["id"]
        production = create_configuration(
            api,
            checkout,
            "production",
            {"db_pool": 20, "log_level": "warning", "feature_flags": {"new_cart": False, "one_click": True}},
            "live settings",
        )
        create_configuration(api, checkout, "staging", {"db_pool": 5, "log_level": "debug"}, "pre-release")
        create_configuration(api, checkout, "load-test", {"db_pool": 80, "log_level": "error"})
        create_configuration(api, apps["search"]["id"], "production", {"replicas": 3})
        update_configuration(
            api,
            production,
            {"db_pool": 40, "log_level": "warning", "feature_flags": {"new_cart": False, "one_click": True}},
        )
        update_configuration(
            api,
            production,
            {
                "db_pool": 40,
                "log_level": "info",
                "timeout_ms": 2500,
                "feature_flags": {"new_cart": True, "one_click": True},
            },
            comments="new cart for everyone",
        )

        page.goto(f"{showcase.url}/ui/")
        expect(page.get_by_role("rowheader")).to_have_text([name for name, _ in APPLICATIONS])
        checkout_row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="checkout"))
        expect(checkout_row.get_by_role("cell").nth(1)).to_have_text("3")
        expect(page.locator("#live-status")).to_have_text("Live")
        console.screenshot("applications")

        checkout_row.get_by_role("link", name="checkout").click()
        expect(page.get_by_role("rowheader")).to_have_text(["production", "staging", "load-test"])
        expect(page.get_by_role("button", name="Delete")).to_be_disabled()
        console.screenshot("application")

        page.get_by_role("link", name="production").click()
        expect(page.locator(".meta")).to_contain_text("Version 3")
        console.screenshot("configuration")

        page.get_by_role("link", name="History", exact=True).click()
        page.get_by_label("Choose version 1").check()
        page.get_by_label("Choose version 3").check()
        page.get_by_role("button", name="Compare").click()
        expect(page.locator(".diff-lines .ins")).not_to_have_count(0)
        console.screenshot("history")

        page.get_by_role("link", name="production").click()
        page.get_by_label("Configuration (JSON)").fill(
            '{\n  "db_pool": 60,\n  "log_level": "info",\n  "timeout_ms": 2500,\n'
            '  "feature_flags": {\n    "new_cart": true,\n    "one_click": true\n  }\n}'
        )
        update_configuration(
            api,
            {**production, "comments": "new cart for everyone"},
            {
                "db_pool": 40,
                "log_level": "info",
                "timeout_ms": 5000,
                "feature_flags": {"new_cart": True, "one_click": True},
            },
        )
        watch.expect(412, f"/configurations/{production['id']}")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("region", name="Changed by someone else")).to_be_visible()
        console.screenshot("conflict")
    assert watch.unexplained() == [], "the page logged errors"
