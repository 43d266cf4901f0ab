"""`config-service release`, `rollout ...` and `clients`: staged releases from the shell, against
the real service, as a user runs them; and `--client-id` on reads."""

import json
import re

import httpx
import pytest

from client.tests.support import in_share, wait_for
from config_client.cli import build_parser, main


@pytest.fixture
def cli(service, monkeypatch, capsys):
    """Runs `config-service ARGS...` in this process: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("CONFIG_SERVICE_URL", service.url)
        monkeypatch.delenv("CONFIG_SERVICE_TOKEN", raising=False)
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_release_switches_a_configuration_between_immediate_and_staged(cli, admin, app):
    admin.create(app, "c", {"v": 1})
    status, out, err = cli("release", app, "c", "staged")
    assert (status, err) == (0, "")
    assert out == f"{app}/c: release staged, live version 1, latest version 2\n"
    admin.update(app, "c", {"v": 2})
    assert cli("get", app, "c")[1] == '{\n  "v": 1\n}\n'  # staged: clients keep the live version
    status, out, _ = cli("release", app, "c", "immediate", "--expected-version", "3")
    assert (status, out) == (0, f"{app}/c: release immediate, live version 4, latest version 4\n")
    status, out, err = cli("release", app, "c", "staged", "--expected-version", "1")
    assert (status, out) == (1, "") and "is at version 4, not 1" in err
    with pytest.raises(SystemExit) as exited:  # not a choice: a usage error
        cli("release", app, "c", "later")
    assert exited.value.code == 2


def test_a_rollout_from_start_to_promotion(cli, admin, app):
    config_id = admin.create(app, "c", {"v": 1}, release="staged").id
    admin.update(app, "c", {"v": 2})
    status, out, err = cli("rollout", "status", app, "c")
    assert (status, err) == (0, "")
    assert out.splitlines()[1:] == ["no rollout yet", "no client seen lately"]

    status, out, err = cli(
        "rollout", "start", app, "c", "--version", "2", "--steps", "10,50,100", "--step-seconds", "600"
    )
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(rf"started rollout [0-9A-Z]{{26}} of {app}/c: version 1 -> 2", lines[0])
    assert "[##------------------]  10%" in out and "10,50,100% every 600 s; next at " in out
    assert "failures  0 (more than 0 roll it back)" in out

    # Two readers with ids of their own: one in the first 10%, one not.
    inside = in_share(config_id, "cli")
    assert json.loads(cli("--client-id", inside, "get", app, "c")[1]) == {"v": 2}
    assert json.loads(cli("--client-id", "cli-outside-0", "get", app, "c")[1]) in ({"v": 1}, {"v": 2})
    wait_for(lambda: len(admin.fleet(app, "c").clients) == 2, what="the readers in the fleet view")

    status, out, _ = cli("rollout", "status", app, "c")
    assert out.splitlines()[0] == f"{app}/c: release staged, live version 1, latest version 2"
    assert "version 1 -> 2, running" in out and " 10%" in out
    assert re.search(
        r"^2 clients seen lately \(version 1: 1, version 2: 1\)$|^2 clients seen lately \(version 2: 2\)$", out, re.M
    )
    status, out, _ = cli("rollout", "status", app, "c", "--json")
    shown = json.loads(out)
    assert (shown["release"], shown["live_version"], shown["rollout"]["percent"]) == ("staged", 1, 10)
    assert sum(shown["versions"].values()) == 2

    status, out, _ = cli("rollout", "pause", app, "c")
    assert status == 0 and out.endswith(f"of {app}/c: paused at 10% (version 2)\n")
    status, out, err = cli("rollout", "pause", app, "c")
    assert (status, out) == (1, "") and err.startswith("config-service: ") and err.count("\n") == 1
    assert cli("rollout", "resume", app, "c")[1].endswith("running at 10% (version 2)\n")
    status, out, _ = cli("rollout", "promote", app, "c")
    assert status == 0 and out.endswith(f"of {app}/c: version 2 is live for every client\n")
    assert admin.configuration(app, "c").live_version == 2
    assert "completed" in cli("rollout", "status", app, "c")[1]


def test_a_rollback_by_id_and_the_clients_table(cli, service, admin, app):
    config_id = admin.create(app, "c", {"v": 1}, release="staged").id
    admin.update(app, "c", {"v": 2})
    rollout = admin.start_rollout(app, "c", 2, step_seconds=600)
    inside = in_share(config_id, "table")
    assert cli("--client-id", inside, "get", app, "c")[0] == 0
    failed = {"client_id": inside, "version": 2, "ok": False, "message": "pool too large for this host"}
    assert httpx.post(f"{service.url}/api/v1/config/{app}/c/reports", json=failed).status_code == 202
    status, out, _ = cli("rollout", "rollback", app, "c", "--rollout", rollout.id)
    assert (status, out) == (1, "")  # one failure, more than max_failures 0: it is rolled back already
    assert admin.rollout(app, "c").state == "rolled_back"
    status = cli("rollout", "status", app, "c")[1]
    assert "reason    1 clients failed to apply version 2" in status
    assert "share     [--------------------]   0% (rolled back at 10%)" in status

    wait_for(lambda: admin.fleet(app, "c").clients, what="the reader in the fleet view")
    status, out, err = cli("clients", app, "c")
    assert (status, err) == (0, "")
    heading, row, total = out.splitlines()
    assert heading.split() == ["CLIENT", "VERSION", "LAST", "SEEN", "VIA", "LAST", "REPORT"]
    assert row.split()[:2] == [inside, "2"]
    assert row.endswith("FAILED version 2: pool too large for this host")
    assert total == "1 client seen lately (version 2: 1)"
    listed = json.loads(cli("clients", app, "c", "--json")[1])
    assert listed["clients"][0]["last_report"]["ok"] is False and listed["versions"] == {"2": 1}


def test_a_client_id_the_service_would_refuse_is_one_line_and_exit_1(cli, app, monkeypatch):
    status, out, err = cli("--client-id", "has space", "get", app, "c")
    assert (status, out) == (1, "") and err == (
        "config-service: client_id must be 1 to 128 visible ASCII characters (0x21 to 0x7E: no spaces), "
        "not 'has space'\n"
    )
    monkeypatch.setenv("CONFIG_CLIENT_ID", "x" * 129)
    status, _, err = cli("get", app, "c")
    assert status == 1 and err.startswith("config-service: CONFIG_CLIENT_ID must be 1 to 128")


@pytest.mark.parametrize("action", ["start", "status", "pause", "resume", "rollback", "promote"])
def test_every_rollout_action_has_help(action, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["rollout", action, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: config-service rollout {action}")


def test_bad_steps_are_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["rollout", "start", "a", "c", "--version", "2", "--steps", "ten"])
    assert exited.value.code == 2 and "steps are percentages separated by commas" in capsys.readouterr().err
