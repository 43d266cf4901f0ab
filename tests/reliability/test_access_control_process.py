"""Access control as production runs it: the defaults by address, what start-up says, the
token command line against a real database, 429s that stay with the failing address, and
secrets that never reach a log."""

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.service_process import ServiceProcess
from infra.settings import PROJECT_ROOT

API = "/api/v1"


def token_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "tokens.py", *args],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def client_from(address: str, base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address))


def test_on_a_loopback_address_auth_is_off_by_default(database_url):
    with ServiceProcess(database_url=database_url) as service:
        assert httpx.get(f"{service.url}{API}/applications").status_code == 200
        assert httpx.get(f"{service.url}{API}/tokens/current").json()["auth"] == "off"
    assert "access control: off (loopback only)" in service.log()


def test_elsewhere_tokens_are_required_and_the_cli_makes_lists_and_revokes_them(new_database):
    database_url = new_database()  # no admin token in it yet
    with ServiceProcess(database_url=database_url, host="0.0.0.0") as service:
        assert "create the first one with `pipenv run token create --name admin --scope admin`" in service.log()
        response = httpx.get(f"{service.url}{API}/applications")
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")

        created = token_cli(database_url, "create", "--name", "cli-admin", "--scope", "admin")
        assert created.returncode == 0, created.stderr
        secret = created.stdout.strip()
        assert re.fullmatch(r"cfs_[A-Za-z0-9_-]{43}", secret)
        headers = {"Authorization": f"Bearer {secret}"}
        deadline = time.monotonic() + 1
        while httpx.get(f"{service.url}{API}/applications", headers=headers).status_code != 200:
            assert time.monotonic() < deadline, "the new token did not work within 1 s"
            time.sleep(0.02)

        listed = token_cli(database_url, "list")
        assert listed.returncode == 0 and "cli-admin\tadmin\tevery application" in listed.stdout
        assert secret not in listed.stdout + listed.stderr
        again = token_cli(database_url, "create", "--name", "cli-admin", "--scope", "read")
        assert again.returncode == 1 and "already exists" in again.stderr and again.stdout == ""
        unknown = token_cli(database_url, "create", "--name", "x", "--scope", "read", "--application", "nope")
        assert unknown.returncode == 1 and "no application named 'nope'" in unknown.stderr

        # A token limited to named applications sees those and nothing else.
        shop, other = (
            httpx.post(f"{service.url}{API}/applications", json={"name": name}, headers=headers).json()
            for name in ("shop", "other")
        )
        limited = token_cli(database_url, "create", "--name", "shop-reader", "--scope", "read", "--application", "shop")
        assert limited.returncode == 0, limited.stderr
        reader = {"Authorization": f"Bearer {limited.stdout.strip()}"}
        deadline = time.monotonic() + 1
        while httpx.get(f"{service.url}{API}/applications/{shop['id']}", headers=reader).status_code != 200:
            assert time.monotonic() < deadline, "the limited token did not work within 1 s"
            time.sleep(0.02)
        assert httpx.get(f"{service.url}{API}/applications/{other['id']}", headers=reader).status_code == 404
        assert "shop-reader\tread\tshop" in token_cli(database_url, "list").stdout

        assert token_cli(database_url, "revoke", "cli-admin").returncode == 0
        deadline = time.monotonic() + 1
        while httpx.get(f"{service.url}{API}/applications", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "revoked, but still accepted after 1 s"
            time.sleep(0.02)
        assert token_cli(database_url, "revoke", "cli-admin").returncode == 1
        log = service.log()
    assert secret not in log


def test_auth_off_on_a_public_address_warns_at_every_start(database_url):
    for _ in range(2):
        with ServiceProcess(database_url=database_url, host="0.0.0.0", auth="off") as service:
            assert httpx.get(f"{service.url}{API}/applications").status_code == 200
        assert "AUTH=off on 0.0.0.0: anyone who can reach this port" in service.log()


def test_failing_addresses_get_429_and_other_clients_do_not_notice(database_url):
    created = token_cli(database_url, "create", "--name", "steady-reader", "--scope", "read")
    secret = created.stdout.strip()
    with (
        ServiceProcess(database_url=database_url, auth="tokens", log_level="DEBUG", access_log="true") as service,
        client_from("127.0.0.2", service.url) as attacker,
        client_from("127.0.0.3", service.url) as steady,
    ):
        good = {"Authorization": f"Bearer {secret}"}
        statuses = [
            attacker.get(f"{API}/applications", headers={"Authorization": f"Bearer cfs_guess{n}"}).status_code
            for n in range(30)
        ]
        assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
        blocked = attacker.get(f"{API}/applications")
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        # A valid token passes even from that address (a proxy or NAT may share it).
        assert attacker.get(f"{API}/applications", headers=good).status_code == 200
        started = time.monotonic()
        for _ in range(20):
            assert steady.get(f"{API}/applications", headers=good).status_code == 200
        assert time.monotonic() - started < 2
        assert steady.get(f"{API}/applications", headers={"Authorization": "Bearer cfs_typo"}).status_code == 401
        log = service.log()
    assert " 500 " not in log and "Traceback" not in log
    # Not even at DEBUG with the access log on: no secret, good or guessed, is ever written.
    assert secret not in log and "cfs_guess" not in log and "cfs_typo" not in log


def test_the_cli_makes_tokens_that_expire_and_lists_when_each_expires_and_was_last_used(new_database):
    database_url = new_database()
    name = "expiring-reader"
    created = token_cli(database_url, "create", "--name", name, "--scope", "read", "--expires-in-days", "7")
    assert created.returncode == 0, created.stderr
    expected = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d")
    assert f"expiring {expected}" in created.stderr
    line = next(line for line in token_cli(database_url, "list").stdout.splitlines() if line.startswith(name))
    assert f"\texpires {expected} " in line and line.endswith("\tnever used")

    with ServiceProcess(database_url=database_url, auth="tokens") as service:
        headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
        assert httpx.get(f"{service.url}{API}/applications", headers=headers).status_code == 200
    # The service writes last uses at most once a minute, and when it stops.
    line = next(line for line in token_cli(database_url, "list").stdout.splitlines() if line.startswith(name))
    assert f"\tlast used {datetime.now(UTC):%Y-%m-%d} " in line

    for days in ("0", "3651"):
        refused = token_cli(database_url, "create", "--name", "x", "--scope", "read", "--expires-in-days", days)
        assert refused.returncode == 1 and "from 1 to 3650" in refused.stderr
