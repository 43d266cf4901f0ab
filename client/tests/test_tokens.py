"""Tokens kept out of sight: the client warns when one would cross a network unencrypted, and the
command line takes one from the environment or a file, never as an argument."""

import json
import uuid

import httpx
import pytest

from client.tests.support import FakeService
from config_client import ConfigClient, cli
from config_client._admin import AdminFlows
from config_client._core import Core
from config_client._drivers import drive
from config_client.cli import main
from config_client.cli._common import TokenRefused

SECRET = "cfs_not-a-real-secret-but-never-logged"
A_VIEW = {"id": "01CONF", "application_id": "01APP", "name": "c", "comments": None, "config": {"v": 1}, "version": 1}


class Recorded:
    """A made-up service (an httpx transport): every request answered with `A_VIEW` (or an
    empty list), and the Authorization header of each kept."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization"))
        body = [] if request.url.path.endswith("/applications") else A_VIEW
        return httpx.Response(200, json=body, headers={"ETag": '"r1"'})


def read_once(url: str, token: str | None = SECRET) -> Recorded:
    service = Recorded()
    core = Core(url, token, None, timeout=1.0, retries=0, backoff=0.01, max_backoff=0.01)
    with httpx.Client(**core.http_options(), transport=httpx.MockTransport(service)) as http:
        drive(core.read(("shop", "c")), http)
    return service


def unique_host() -> str:
    # The warning is once per process and service: each test needs a service of its own.
    return f"config-{uuid.uuid4().hex[:10]}.example"


def about(origin: str, warnings: list[str]) -> list[str]:
    return [w for w in warnings if origin in w]


def test_a_token_sent_over_http_to_another_machine_is_warned_about_once_per_process(warnings_logged):
    origin = f"http://{unique_host()}:8000"
    service = read_once(origin)
    assert service.authorizations == [f"Bearer {SECRET}"]  # it was sent, over http
    warned = about(origin, warnings_logged())
    assert len(warned) == 1 and "unencrypted" in warned[0] and "https://" in warned[0]
    assert all(SECRET not in w for w in warnings_logged())

    read_once(origin)  # another client of the same service, in the same process
    read_once(origin + "/")
    assert len(about(origin, warnings_logged())) == 1

    other = f"http://{unique_host()}"
    read_once(other)
    assert len(about(other, warnings_logged())) == 1


def test_the_warning_comes_with_the_first_request_whichever_it_is(warnings_logged):
    origin = f"http://{unique_host()}"
    core = Core(origin, SECRET, None, timeout=1.0, retries=0, backoff=0.01, max_backoff=0.01)
    assert about(origin, warnings_logged()) == []  # made, nothing sent yet
    watch = core.watch(("shop", "c"), print, 5.0)
    next(watch)  # the watch's first long-poll, about to go
    watch.close()
    assert len(about(origin, warnings_logged())) == 1

    admin_origin = f"http://{unique_host()}"
    core = Core(admin_origin, SECRET, None, timeout=1.0, retries=0, backoff=0.01, max_backoff=0.01)
    with httpx.Client(**core.http_options(), transport=httpx.MockTransport(Recorded())) as http:
        drive(AdminFlows(core).applications(None), http)
    assert len(about(admin_origin, warnings_logged())) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://config.example",
        "http://127.0.0.1:8000",
        "http://127.9.8.7",
        "http://localhost:8000",
        "http://LOCALHOST.",
        "http://config.localhost",
        "http://[::1]:8000",
        "http://[::ffff:127.0.0.1]",
    ],
)
def test_no_warning_over_https_or_to_this_machine(url, warnings_logged):
    assert read_once(url).authorizations == [f"Bearer {SECRET}"]
    assert warnings_logged() == []


def test_no_warning_without_a_token(warnings_logged):
    origin = f"http://{unique_host()}"
    assert read_once(origin, token=None).authorizations == [None]
    assert warnings_logged() == []


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch, capsys):
    """Runs `config-service ARGS...` in this process: (exit status, stdout, stderr)."""
    monkeypatch.delenv("CONFIG_SERVICE_TOKEN", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.mark.parametrize(
    "args",
    [
        ["--token", SECRET, "get", "shop", "c"],
        [f"--token={SECRET}", "get", "shop", "c"],
        ["get", "shop", "c", "--token", SECRET],
        ["export", "shop", f"--token={SECRET}"],
        ["get", "shop", "c", "--token"],
    ],
    ids=["before the command", "--token=", "after the command", "after export", "without a value"],
)
def test_a_token_on_the_command_line_is_refused_in_one_line_and_nothing_is_sent(run, monkeypatch, args):
    with FakeService(200, json.dumps(A_VIEW).encode(), {"Content-Type": "application/json"}) as fake:
        monkeypatch.setenv("CONFIG_SERVICE_URL", fake.url)
        status, out, err = run(*args)
        assert (status, out) == (2, "") and fake.requests == 0
    assert err.count("\n") == 1 and err.startswith("config-service: --token is refused")
    assert "(ps)" in err and "history" in err and "CONFIG_SERVICE_TOKEN" in err and "--token-file PATH" in err
    assert SECRET not in err


def test_the_help_offers_a_token_file_and_no_token_option(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    usage = capsys.readouterr().out
    assert "--token-file PATH" in usage and "--token " not in usage and "--token]" not in usage


def test_the_token_comes_from_a_token_file_before_the_environment(secured, unique, run, monkeypatch, tmp_path):
    service, secrets = secured
    app = unique("app")
    with ConfigClient(service.url, token=secrets["admin"]) as admin:
        admin.create_application(app)
        admin.create(app, "c", {"v": 1})
    monkeypatch.setenv("CONFIG_SERVICE_URL", service.url)
    token_file = tmp_path / "token"
    token_file.write_text(secrets["read"] + "\n")  # as `echo` or an editor leaves it

    status, out, err = run("--token-file", str(token_file), "get", app, "c")
    assert (status, err) == (0, "") and json.loads(out) == {"v": 1}
    monkeypatch.setenv("CONFIG_SERVICE_TOKEN", "cfs_a-token-the-service-never-made")
    status, out, err = run("--token-file", str(token_file), "get", app, "c")
    assert (status, err) == (0, "") and json.loads(out) == {"v": 1}
    status, out, err = run("get", app, "c")  # the environment's, refused by the service
    assert (status, out) == (1, "") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the token file"),
        ("", "must hold one token and nothing else"),
        ("cfs_one cfs_two\n", "must hold one token and nothing else"),
        (b"\xff\xfe", "is not text"),
    ],
    ids=["missing", "empty", "two tokens", "not text"],
)
def test_a_bad_token_file_is_one_line_and_exit_1(run, monkeypatch, tmp_path, content, message):
    token_file = tmp_path / "token"
    if isinstance(content, bytes):
        token_file.write_bytes(content)
    elif content is not None:
        token_file.write_text(content)
    with FakeService(200, json.dumps(A_VIEW).encode(), {"Content-Type": "application/json"}) as fake:
        monkeypatch.setenv("CONFIG_SERVICE_URL", fake.url)
        status, out, err = run("--token-file", str(token_file), "get", "shop", "c")
        assert (status, out) == (1, "") and fake.requests == 0
    assert err.count("\n") == 1 and message in err and str(token_file) in err


@pytest.mark.parametrize(
    "action",
    [
        ["push", "shop", "c", "--model", "shop.settings:Settings"],
        ["pull", "shop", "c"],
        ["check", "shop", "c", "draft.json"],
        ["codegen", "shop", "c"],
        ["delete", "shop", "c"],
    ],
    ids=lambda action: action[0],
)
def test_the_schema_commands_refuse_a_token_too(action):
    # A group of commands (`schema ACTION`): `--token` is refused at every level of it.
    parser = cli.build_parser()
    args = parser.parse_args(["schema", *action])
    assert args.app == "shop" and callable(args.handler)
    for at in (0, 1, len(action)):
        with pytest.raises(TokenRefused):
            parser.parse_args(["schema", *action[:at], "--token", SECRET, *action[at:]])
