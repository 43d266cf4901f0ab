"""`config-service`: every command against the real service, as a user runs it."""

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bench.service_process import ServiceProcess

from client.tests.support import FakeService
from config_client import ConfigClient
from config_client._core import Core
from config_client._protocol import Sleep
from config_client.cli import build_parser, main

COMMANDS = [
    "get",
    "set",
    "patch",
    "history",
    "restore",
    "delete",
    "diff",
    "export",
    "import",
    "schema",
    "release",
    "rollout",
    "clients",
]


@pytest.fixture
def cli(service, monkeypatch, capsys):
    """Runs `config-service ARGS...` in this process: (exit status, stdout, stderr)."""

    def run(*args: str, url: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setenv("CONFIG_SERVICE_URL", url or service.url)
        monkeypatch.delenv("CONFIG_SERVICE_TOKEN", raising=False)
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def write_json(path: Path, value) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def test_get_prints_the_document_as_json(cli, admin, app):
    admin.create(app, "c", {"pool": 20, "name": "ünïcødé"})
    status, out, err = cli("get", app, "c")
    assert (status, err) == (0, "") and json.loads(out) == {"pool": 20, "name": "ünïcødé"}


def test_get_watch_prints_one_line_per_change(service, admin, app):
    admin.create(app, "c", {"v": 1})
    env = {**os.environ, "CONFIG_SERVICE_URL": service.url}
    process = subprocess.Popen(
        [sys.executable, "-m", "config_client", "get", app, "c", "--watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def next_line(timeout: float = 10.0) -> str:
            ready, _, _ = select.select([process.stdout], [], [], timeout)
            assert ready, "no line within the time"
            return process.stdout.readline()

        assert json.loads(next_line()) == {"v": 1}
        admin.update(app, "c", {"v": 2})
        assert json.loads(next_line()) == {"v": 2}
        admin.patch(app, "c", {"w": [1, 2]})
        assert json.loads(next_line()) == {"v": 2, "w": [1, 2]}
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 130
    finally:
        process.kill()
        process.wait()


def test_set_creates_then_replaces_and_respects_expected_version(cli, admin, app, tmp_path):
    status, out, _ = cli("set", app, "c", "--file", write_json(tmp_path / "a.json", {"v": 1}))
    assert status == 0 and out == f"created {app}/c (version 1)\n"
    status, out, _ = cli("set", app, "c", "--file", write_json(tmp_path / "b.json", {"v": 2}))
    assert status == 0 and out == f"updated {app}/c to version 2\n"
    status, out, _ = cli("set", app, "c", "--file", str(tmp_path / "a.json"), "--expected-version", "2")
    assert status == 0 and out == f"updated {app}/c to version 3\n"

    status, out, err = cli("set", app, "c", "--file", str(tmp_path / "b.json"), "--expected-version", "2")
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and "at version 3, not 2" in err
    assert admin.get(app, "c") == {"v": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("{not json", "is not valid JSON"), ("[1, 2]", "must hold a JSON object")],
)
def test_set_refuses_a_bad_file_in_one_line(cli, app, tmp_path, content, message):
    path = tmp_path / "doc.json"
    if content is not None:
        path.write_text(content)
    status, out, err = cli("set", app, "c", "--file", str(path))
    assert (status, out) == (1, "") and err.count("\n") == 1 and message in err


def test_patch_merges_a_patch_into_the_document(cli, admin, app, tmp_path):
    admin.create(app, "c", {"keep": 1, "drop": 2, "nested": {"a": 1}})
    status, out, _ = cli(
        "patch", app, "c", "--file", write_json(tmp_path / "p.json", {"drop": None, "nested": {"b": 2}})
    )
    assert status == 0 and out == f"patched {app}/c to version 2\n"
    assert admin.get(app, "c") == {"keep": 1, "nested": {"a": 1, "b": 2}}


def test_history_lists_every_version_newest_first(cli, admin, app):
    admin.create(app, "c", {"v": 1}, "first")
    admin.update(app, "c", {"v": 2})
    status, out, _ = cli("history", app, "c")
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["VERSION", "CREATED", "ACTOR", "NAME"]
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"] and "(first)" in lines[2]
    status, out, _ = cli("history", app, "c", "--json")
    assert [(v["version"], v["config"]) for v in json.loads(out)] == [(2, {"v": 2}), (1, {"v": 1})]


def test_restore_and_delete(cli, admin, app):
    admin.create(app, "c", {"v": 1})
    admin.update(app, "c", {"v": 2})
    status, out, _ = cli("restore", app, "c", "1")
    assert status == 0 and out == f"restored {app}/c version 1 as version 3\n"
    assert admin.get(app, "c") == {"v": 1}

    status, out, _ = cli("delete", app, "c", "--expected-version", "2")
    assert status == 1
    status, out, _ = cli("delete", app, "c")
    assert status == 0 and out == f"deleted {app}/c\n"
    status, out, err = cli("get", app, "c")
    assert (status, out) == (1, "") and "has no configuration named 'c'" in err
    status, out, _ = cli("restore", app, "c", "2")  # a deleted configuration comes back
    assert status == 0 and admin.get(app, "c") == {"v": 2}


def test_diff_shows_how_two_versions_differ(cli, admin, app):
    admin.create(app, "c", {"pool": 20, "log": "info"})
    admin.update(app, "c", {"pool": 40, "log": "info"}, comments="more")
    status, out, _ = cli("diff", app, "c", "1", "2")
    assert status == 0
    lines = out.splitlines()
    assert lines[:2] == [f"--- {app}/c version 1", f"+++ {app}/c version 2"]
    # The document's keys in the order written (the service keeps it).
    assert {'-  "comments": null,', '+  "comments": "more",', '-    "pool": 20,', '+    "pool": 40,'} <= set(lines)
    status, out, _ = cli("diff", app, "c", "2", "2")
    assert (status, out) == (0, f"versions 2 and 2 of {app}/c are the same\n")


DOCUMENTS = {
    "production": {
        "pi": 3.141592653589793,
        "big": 123456789012345678901234567890,
        "tiny": 1e-30,
        "huge": 1.5e300,
        "text": 'ünïcødé "quoted" \\ / \t',
        "list": [1, 2.5, None, True, False, {"deep": {"deeper": []}}],
    },
    "staging": {"flags": {}, "empty": ""},
    "Zed/with slash": {"z": 1},
}


def test_export_then_import_into_an_empty_database_round_trips_exactly(cli, unique, new_database, tmp_path):
    app = unique("exported")
    source = tmp_path / "doc.json"
    status, out, err = cli("set", "x", "y", "--file", write_json(source, {}))
    assert (status, out) == (1, "") and err == "config-service: application 'x' does not exist\n"
    with ServiceProcess(database_url=new_database(), shutdown_grace=1) as first:
        from config_client import ConfigClient

        with ConfigClient(first.url) as admin:
            admin.create_application(app, "exported comments")
        for name, document in DOCUMENTS.items():
            source.write_text(json.dumps(document))
            assert cli("set", app, name, "--file", str(source), url=first.url)[0] == 0
        status, exported, _ = cli("export", app, url=first.url)
        assert status == 0
        assert '"big": 123456789012345678901234567890,' in exported and '"pi": 3.141592653589793,' in exported
    export_file = tmp_path / "app.json"
    export_file.write_text(exported)
    data = json.loads(exported)
    assert data["application"] == {"name": app, "comments": "exported comments"}
    assert [c["name"] for c in data["configurations"]] == sorted(DOCUMENTS)

    with ServiceProcess(database_url=new_database(), shutdown_grace=1) as empty:
        status, out, _ = cli("import", str(export_file), "--dry-run", url=empty.url)
        assert status == 0 and out.splitlines()[:2] == [
            f"would create application {app}",
            f"would create {app}/Zed/with slash",
        ]
        assert "dry run: nothing was written" in out
        assert cli("export", app, url=empty.url)[0] == 1  # still nothing there

        status, out, _ = cli("import", str(export_file), url=empty.url)
        assert status == 0 and out.splitlines()[-1] == f"{app}: 3 created, 0 updated, 0 unchanged"
        status, again, _ = cli("export", app, url=empty.url)
        assert status == 0 and again == exported  # byte for byte

        # Importing again changes nothing; an edited export updates just what changed.
        status, out, _ = cli("import", str(export_file), url=empty.url)
        assert out.splitlines()[-1] == f"{app}: 0 created, 0 updated, 3 unchanged"
        by_name = {c["name"]: c for c in data["configurations"]}
        by_name["staging"]["config"]["flags"] = {"new": True}
        by_name["production"]["comments"] = "now with comments"
        export_file.write_text(json.dumps(data))
        status, out, _ = cli("import", str(export_file), "--dry-run", url=empty.url)
        assert f"would update {app}/production (comments)" in out and f"would update {app}/staging (config)" in out
        status, out, _ = cli("import", str(export_file), url=empty.url)
        assert status == 0 and out.splitlines()[-1] == f"{app}: 0 created, 2 updated, 1 unchanged"
        assert json.loads(cli("export", app, url=empty.url)[1]) == data


def test_import_refuses_a_file_that_is_no_export(cli, tmp_path):
    status, out, err = cli("import", write_json(tmp_path / "x.json", {"configurations": []}))
    assert (status, out) == (1, "") and 'is not an export (no "application" object)' in err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: config-service {command}")


def test_an_unreachable_service_is_one_line_on_stderr_and_exit_1(cli):
    status, out, err = cli("get", "a", "b", url="http://127.0.0.1:9")
    assert (status, out) == (1, "") and err.count("\n") == 1 and "cannot be reached" in err


def test_the_console_script_and_python_m_both_run(service):
    script = Path(sys.executable).with_name("config-service")
    for command in ([str(script)], [sys.executable, "-m", "config_client"]):
        done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and all(name in done.stdout for name in COMMANDS)
        done = subprocess.run(
            [*command, "get", "no-such-app", "c"],
            env={**os.environ, "CONFIG_SERVICE_URL": service.url},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 1 and done.stderr.count("\n") == 1
        assert done.stderr.startswith("config-service: application 'no-such-app' does not exist [request_id=")


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:port"])
def test_a_bad_service_url_is_one_line_and_exit_1(cli, url):
    status, out, err = cli("get", "shop", "c", url=url)
    assert (status, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith(f"config-service: invalid service URL {url!r}")


def test_a_bad_service_url_from_the_environment_gives_no_traceback(tmp_path):
    env = {**os.environ, "CONFIG_SERVICE_URL": "http://[::1"}
    result = subprocess.run(
        [sys.executable, "-m", "config_client", "export", "shop"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("config-service: invalid service URL") and result.stderr.count("\n") == 1


def test_an_answer_that_cannot_be_decoded_is_one_line_and_exit_1(cli):
    fake = FakeService(200, b"not gzip", {"Content-Encoding": "gzip"})
    with fake:
        status, out, err = cli("--timeout", "1", "history", "shop", "c", url=fake.url)
    assert (status, out) == (1, "") and err.count("\n") == 1 and "DecodingError" in err


def test_an_answer_that_is_not_the_services_is_one_line_and_exit_1(cli):
    with FakeService(200, b'{"items": [{"no": "name"}], "next_after": null}') as fake:
        status, out, err = cli("history", "shop", "c", url=fake.url)
    assert (status, out) == (1, "") and err.count("\n") == 1 and err.startswith("config-service: ")


def test_a_reader_that_quits_early_ends_the_command_quietly(service, admin, app):
    for number in range(30):
        admin.create(app, f"c{number}", {"padding": "x" * 4000})
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already quit
    try:
        result = subprocess.run(
            [sys.executable, "-m", "config_client", "export", app],
            env={**os.environ, "CONFIG_SERVICE_URL": service.url},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_get_watch_exits_1_in_one_line_when_the_watch_stops(cli, admin, app, monkeypatch):
    def die_at_once(core, key, on_change, wait, model=None):
        yield Sleep(0.01)
        raise RuntimeError("a bug in the watch")

    admin.create(app, "c", {"v": 1})
    monkeypatch.setattr(Core, "watch", die_at_once)
    status, out, err = cli("get", app, "c", "--watch")
    assert (status, json.loads(out)) == (1, {"v": 1})
    assert err == f"config-service: watching {app}/c stopped: RuntimeError: a bug in the watch\n"


def test_the_token_comes_from_config_service_token(secured, unique, monkeypatch, capsys, tmp_path):
    service, secrets = secured
    app = unique("app")
    with ConfigClient(service.url, token=secrets["admin"]) as admin:
        admin.create_application(app)
        admin.create(app, "c", {"v": 1})
    monkeypatch.setenv("CONFIG_SERVICE_URL", service.url)
    patch = write_json(tmp_path / "patch.json", {"w": 2})

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    monkeypatch.setenv("CONFIG_SERVICE_TOKEN", secrets["read"])
    status, out, err = run("get", app, "c")
    assert (status, err) == (0, "") and json.loads(out) == {"v": 1}
    monkeypatch.setenv("CONFIG_SERVICE_TOKEN", secrets["write"])
    assert run("patch", app, "c", "--file", patch)[0] == 0

    monkeypatch.delenv("CONFIG_SERVICE_TOKEN")
    for command in (["get", app, "c"], ["patch", app, "c", "--file", patch]):
        status, out, err = run(*command)
        assert status != 0 and out == "", command
        assert err.count("\n") == 1 and err.startswith("config-service: "), err
    with ConfigClient(service.url, token=secrets["read"]) as reader:
        assert reader.view(app, "c").version == 2  # the write with the token, and only it
