"""A page of another site, open in the same browser, cannot change anything in the service: the
browser sends its requests (a typeless Blob POST needs no preflight, nor does a form), and the
service refuses them. The page here comes from another origin (another port of the same
address) served by a tiny static server; what it tried is checked through the API. A page of
an origin listed in ALLOWED_ORIGINS, the same page, can (the test's own proof that the page
does reach the service)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Page

from bench.service_process import ServiceProcess

# The page: each attempt a unique name, all reported done in `window.attempts`.
ATTACKS = """<!doctype html>
<title>another site</title>
<iframe name="sink"></iframe>
<form id="form" method="POST" action="{api}/applications" enctype="text/plain" target="sink">
  <input name='{{"name": "{form}", "x": "' value='"}}'>
</form>
<script>
window.attempts = (async () => {{
  const outcome = {{}};
  // A Blob without a type: no Content-Type, so no preflight; the page cannot read the answer.
  await fetch("{api}/applications", {{
    method: "POST", mode: "no-cors", body: new Blob([JSON.stringify({{name: "{blob}"}})]),
  }}).then(() => outcome.blob = "sent", (e) => outcome.blob = String(e));
  // JSON, as a tool would send it: the browser asks first (a preflight).
  await fetch("{api}/applications", {{
    method: "POST", headers: {{"Content-Type": "application/json"}}, body: JSON.stringify({{name: "{json}"}}),
  }}).then((r) => outcome.json = r.status, (e) => outcome.json = "blocked");
  // A form, which any page can submit anywhere.
  await new Promise((done) => {{
    document.querySelector("iframe").addEventListener("load", done, {{once: true}});
    document.getElementById("form").submit();
  }});
  outcome.form = "sent";
  return outcome;
}})();
</script>
"""


class StaticSite:
    """Serves one page at / from its own port: another origin than the service's."""

    def __init__(self) -> None:
        self.page = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.page)))
                self.end_headers()
                self.wfile.write(site.page)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def other_site() -> Iterator[StaticSite]:
    site = StaticSite()
    yield site
    site.close()


def attack(page: Page, site: StaticSite, service_url: str, names: dict[str, str]) -> dict:
    """Opens the other site's page, which tries each way; what the page saw."""
    site.page = ATTACKS.format(api=f"{service_url}/api/v1", **names).encode()
    seen: list[tuple[str, int]] = []
    page.on("response", lambda r: r.url.startswith(service_url) and seen.append((r.request.method, r.status)))
    page.goto(site.origin)
    outcome = page.evaluate("window.attempts")
    outcome["service_answered"] = seen
    return outcome


def names_of(unique) -> dict[str, str]:
    return {way: unique(f"cross-site-{way}") for way in ("blob", "json", "form")}


def existing(service_url: str, names: dict[str, str]) -> set[str]:
    found = set()
    for way, name in names.items():
        page = httpx.get(f"{service_url}/api/v1/applications", params={"search": name}, timeout=10).json()
        if any(item["name"] == name for item in page):
            found.add(way)
    return found


def test_a_page_of_another_site_can_create_nothing(page, service, other_site, unique):
    names = names_of(unique)
    outcome = attack(page, other_site, service.url, names)
    assert (outcome["blob"], outcome["json"], outcome["form"]) == ("sent", "blocked", "sent")
    # The Blob and the form reached the service, and were refused; the JSON one got no further
    # than its preflight, which no CORS header allowed.
    answered = outcome["service_answered"]
    assert ("POST", 403) in answered and all(status >= 400 for _, status in answered), answered
    assert existing(service.url, names) == set()


def test_a_page_of_an_allowed_origin_can(page, other_site, new_database, unique):
    """The same page, from an origin the service allows: its JSON fetch gets through."""
    with ServiceProcess(database_url=new_database(), allowed_origins=other_site.origin, shutdown_grace=1) as allowing:
        names = names_of(unique)
        outcome = attack(page, other_site, allowing.url, names)
        assert outcome["json"] == 201, json.dumps(outcome)
        # A typeless body is still refused (415): only JSON is read, from anyone.
        assert existing(allowing.url, names) == {"json"}


def test_a_request_naming_another_host_is_refused(service):
    """DNS rebinding: a page of attacker.example whose name now points at this address."""
    response = httpx.get(f"{service.url}/api/v1/applications", headers={"Host": "attacker.example"}, timeout=10)
    assert response.status_code == 421
    assert response.json()["code"] == "misdirected_request"
    assert httpx.get(f"{service.url}/api/v1/applications", timeout=10).status_code == 200
