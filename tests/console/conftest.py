"""Browser tests of the console: Debian's headless Chromium, driven by pytest-playwright, against
a real service on PostgreSQL 16.

Playwright's own browser download cannot be reached here, so the browser is the `chromium`
package's binary (CONSOLE_CHROMIUM overrides the path). Missing, the tests are skipped with how
to install it, except under CI=true, where they fail.

pytest-playwright keeps Playwright and its browser for the whole session; its sync API holds an
event loop meanwhile, so later tests could not call asyncio.run (tests/reliability do). The
fixtures below therefore live for this package only and end with it.
"""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserType, Page, Playwright, sync_playwright

from bench.service_process import ServiceProcess
from infra.settings import PROJECT_ROOT

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.has_plugin("playwright"):
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="pytest-playwright is disabled (-p no:playwright)")
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="package", autouse=True)
def _chromium_present(browser_name: str) -> None:
    if browser_name != "chromium":
        pytest.skip(f"the console tests drive Debian's Chromium only, not {browser_name}")
    if not os.access(CHROMIUM, os.X_OK):
        reason = (
            f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(or point CONSOLE_CHROMIUM at a Chromium binary)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


# -- pytest-playwright's session fixtures, narrowed to this package -----------------------------


@pytest.fixture(scope="package")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """The plugin's options (--headed, --slowmo, ...) plus Debian's binary, headless by default."""
    return {
        "headless": True,
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args: dict, browser_type: BrowserType):
    return lambda **options: browser_type.launch(**{**browser_type_launch_args, **options})


@pytest.fixture(scope="package")
def browser(launch_browser) -> Iterator[Browser]:
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict:
    # Fixed locale and zone: the screenshots do not depend on the machine.
    return {"viewport": {"width": 1200, "height": 820}, "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture
def page(context) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)  # actions fail in 10 s, not 30: nothing here should take 1
    return page


# -- the service -------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def service(new_database) -> Iterator[ServiceProcess]:
    # A page's held /changes?wait request outlives the page on the server: a short grace keeps
    # the stop at the end from waiting it out.
    with ServiceProcess(database_url=new_database(), shutdown_grace=1) as running:
        yield running


@pytest.fixture(scope="package")
def api(service: ServiceProcess) -> Iterator[httpx.Client]:
    """The JSON API, for arranging data and checking what the console did."""
    with httpx.Client(base_url=f"{service.url}/api/v1", timeout=10) as client:
        yield client


def tolerated_statuses(base_url: str) -> list[tuple[int, str]]:
    """What every page of this service may answer with an error: a service from before access
    control has no /tokens/current (404), which the console takes as "access control off"."""
    response = httpx.get(f"{base_url}/api/v1/tokens/current", timeout=10)
    return [(404, "/tokens/current")] if response.status_code == 404 else []


@pytest.fixture(scope="package")
def tolerated(service: ServiceProcess) -> list[tuple[int, str]]:
    return tolerated_statuses(service.url)


# -- the console in a page, watched for errors --------------------------------------------------

# How Chromium reports, in the page's console, a response with an error status, even one the
# page expected and handled (there is no way for the page to prevent it).
FAILED_RESOURCE = re.compile(r"Failed to load resource: the server responded with a status of (\d{3}) \(.*\)")


class ConsoleWatch:
    """Every console error and uncaught exception of a page. The one thing forgiven is Chromium's
    own "Failed to load resource" line for an API response whose status the test declared it
    expects (an invalid document's 422, a stale Save's 412): that line names the URL and status,
    so only a response the page really got, of a declared status on a declared path, matches."""

    def __init__(self, page: Page, base_url: str, tolerated: list[tuple[int, str]] = ()) -> None:
        self.api = f"{base_url}/api/v1"
        self.errors: list[tuple[str, str]] = []
        self.failed: set[tuple[int, str]] = set()
        self.expected: list[tuple[int, str]] = list(tolerated)
        page.on("console", lambda message: self._console(message.type, message.text, message.location))
        page.on("pageerror", lambda error: self.errors.append((f"uncaught {error.name}: {error.message}", "")))
        page.on(
            "response", lambda response: response.status >= 400 and self.failed.add((response.status, response.url))
        )

    def _console(self, kind: str, text: str, location: dict) -> None:
        if kind == "error":
            self.errors.append((text, location.get("url", "")))

    def expect(self, status: int, path: str) -> None:
        """The page will get `status` from the API at a path starting with `path`."""
        self.expected.append((status, path))

    def _forgiven(self, text: str, url: str) -> bool:
        match = FAILED_RESOURCE.fullmatch(text)
        if not match or not url.startswith(self.api) or (int(match[1]), url) not in self.failed:
            return False
        path = url.removeprefix(self.api).split("?")[0]
        return any(int(match[1]) == status and path.startswith(prefix) for status, prefix in self.expected)

    def unexplained(self) -> list[str]:
        return [f"{text} [{url}]" if url else text for text, url in self.errors if not self._forgiven(text, url)]


class Console:
    """The console open in a browser page."""

    def __init__(self, page: Page, base_url: str, watch: ConsoleWatch) -> None:
        self.page = page
        self.base_url = base_url
        self.watch = watch

    def open(self, route: str = "/applications") -> Page:
        self.page.goto(f"{self.base_url}/ui/#{route}")
        return self.page

    def expect_error(self, status: int, path: str) -> None:
        self.watch.expect(status, path)

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def console(page: Page, service: ServiceProcess, tolerated) -> Iterator[Console]:
    watch = ConsoleWatch(page, service.url, tolerated)
    yield Console(page, service.url, watch)
    assert watch.unexplained() == [], "the page logged errors"


# -- the console with access control (AUTH=tokens) ----------------------------------------------

SECRET = re.compile(r"cfs_[A-Za-z0-9_\-]+")


@pytest.fixture(scope="package")
def secured(new_database) -> Iterator[tuple[ServiceProcess, str]]:
    """A service with AUTH=tokens, and its database (for `create_token`). Access control is part
    of the contract: a service that does not ask for a token fails these tests, never skips them."""
    dsn = new_database()
    with ServiceProcess(database_url=dsn, auth="tokens", shutdown_grace=1) as running:
        status = httpx.get(f"{running.url}/api/v1/applications", timeout=10).status_code
        assert status == 401, f"with AUTH=tokens the API answered {status}, not 401, to a request without a token"
        yield running, dsn


def create_token(dsn: str, name: str, scope: str, applications: Iterable[str] = (), reveal: bool = False) -> str:
    """A token the way an operator makes one: `pipenv run token create` (the Pipfile's script,
    run with this virtualenv first on PATH, as pipenv would); `applications` limit it; with
    `reveal`, it may see secret values."""
    with open(PROJECT_ROOT / "Pipfile", "rb") as pipfile:
        script = tomllib.load(pipfile).get("scripts", {}).get("token")
    assert script, "the Pipfile has no `token` script: operators could not make tokens (`pipenv run token create`)"
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(PROJECT_ROOT),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": dsn,
    }
    limits = [option for application in applications for option in ("--application", application)]
    command = [*shlex.split(script), "create", "--name", name, "--scope", scope, *limits]
    if reveal:
        command.append("--reveal")
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = SECRET.search(done.stdout)
    assert found, f"no secret in {done.stdout!r}"
    return found[0]


@pytest.fixture
def secured_console(page: Page, secured) -> Iterator[Console]:
    service, _ = secured
    watch = ConsoleWatch(page, service.url, tolerated_statuses(service.url))
    watch.expect(401, "/tokens/current")  # asking who we are before signing in
    yield Console(page, service.url, watch)
    assert watch.unexplained() == [], "the page logged errors"


def sign_in(page: Page, secret: str) -> None:
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
