"""/docs in a browser that may reach this service and nothing else: Swagger UI comes from the
service, starts under the console's policy without a violation, lists every operation of the
OpenAPI document and can call one; /redoc lands there."""

from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, Route, expect

from tests.console.conftest import ConsoleWatch


def only_this_service(page: Page, base_url: str) -> list[str]:
    """Refuses every request to another host; the list of those refused."""
    own = urlsplit(base_url).netloc
    refused: list[str] = []

    def route(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("blockedbyclient")

    page.route("**/*", route)
    return refused


def test_the_api_docs_list_every_operation_with_other_hosts_blocked(page, service, tolerated):
    refused = only_this_service(page, service.url)
    watch = ConsoleWatch(page, service.url, tolerated)
    document = httpx.get(f"{service.url}/openapi.json", timeout=10).json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}

    page.goto(f"{service.url}/docs")

    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations))
    listed = {
        (block.locator(".opblock-summary-method").inner_text(), block.locator("[data-path]").get_attribute("data-path"))
        for block in blocks.all()
    }
    assert listed == operations
    # It works, not only shows: /health answered through the page.
    health = page.locator(".opblock", has=page.locator('[data-path="/health"]'))
    health.locator(".opblock-summary").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    expect(health.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    assert refused == []
    assert watch.unexplained() == [], "the page logged errors (a refused script or style is one)"


def test_redoc_opens_the_same_docs(page, service):
    refused = only_this_service(page, service.url)
    page.goto(f"{service.url}/redoc")
    expect(page).to_have_url(f"{service.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert refused == []
