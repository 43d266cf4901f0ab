"""`config-service schema push|pull|check|codegen|delete` against the real service, as a user runs
them: the application's settings class as the contract, an admin's bad write refused with its
path, a document checked before it is sent, a model generated from the schema."""

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from config_client.cli import main

SETTINGS = """
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class Database(BaseModel):
    host: str
    pool: int = Field(ge=1, le=200)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db: Database
    log_level: Literal["debug", "info", "warning"] = "info"
    payments_url: HttpUrl
"""
GOOD = {"db": {"host": "db.internal", "pool": 20}, "log_level": "info", "payments_url": "https://pay.example/v2"}
BAD = {"db": {"host": "db.internal", "pool": "twenty"}, "log_level": "verbose", "payments_url": "https://pay.example"}


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


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The current directory is an application's: a package `checkout_<id>` whose `settings`
    module holds `Settings`. Returns the package's name (its own, as modules stay imported)."""
    package = f"checkout_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "settings.py").write_text(SETTINGS)
    monkeypatch.chdir(tmp_path)
    yield package
    for name in [name for name in sys.modules if name.startswith(package)]:
        del sys.modules[name]


def write(path, value) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def test_push_from_the_settings_class_then_a_bad_write_is_refused_with_its_path(cli, admin, app, project, tmp_path):
    admin.create(app, "production", GOOD)
    status, out, err = cli("schema", "push", app, "production", "--model", f"{project}.settings:Settings")
    assert (status, err) == (0, "")
    assert out == f"set the schema of {app}/production from {project}.settings:Settings: version 1 (draft 2020-12)\n"

    status, out, err = cli("set", app, "production", "--file", write(tmp_path / "bad.json", BAD))
    assert (status, out) == (1, "") and err.count("\n") == 1
    assert err.startswith("config-service: the document does not satisfy the configuration's schema (2 violations)")
    assert 'body.config /db/pool: "twenty" is not of type "integer" [type]' in err
    assert "body.config /log_level: " in err and "[enum]" in err
    assert admin.get(app, "production") == GOOD

    # Pushed again (a deployment does, on every start): the same schema is no new version.
    status, out, _ = cli("schema", "push", app, "production", "--model", f"{project}.settings:Settings")
    assert (status, out) == (
        0,
        f"{app}/production already has the schema of {project}.settings:Settings (version 1): nothing to change\n",
    )
    assert [v.version for v in admin.schema_history(app, "production")] == [1]

    status, out, err = cli("schema", "pull", app, "production")
    assert (status, err) == (0, "") and out.startswith('{\n  "$defs": {\n')
    assert json.loads(out) == admin.schema(app, "production").schema


def test_push_is_refused_when_the_current_document_fails_the_model(cli, admin, app, project):
    admin.create(app, "c", {**GOOD, "db": {"host": "db.internal", "pool": 500}})
    status, out, err = cli("schema", "push", app, "c", "--model", f"{project}.settings:Settings")
    assert (status, out) == (1, "") and "config /db/pool: 500 is greater than the maximum of 200 [maximum]" in err
    assert admin.schema(app, "c") is None


def test_push_from_a_file_pull_and_delete(cli, admin, app, tmp_path):
    admin.create(app, "c", {"n": 1})
    status, out, err = cli("schema", "pull", app, "c")
    assert (status, out, err) == (1, "", f"config-service: configuration {app}/c has no schema\n")

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    status, out, _ = cli("schema", "push", app, "c", "--file", write(tmp_path / "schema.json", schema))
    assert (status, out) == (
        0,
        f"set the schema of {app}/c from {tmp_path / 'schema.json'}: version 1 (draft 2020-12)\n",
    )
    assert cli("schema", "pull", app, "c")[1] == json.dumps(schema, indent=2) + "\n"

    status, out, err = cli("schema", "delete", app, "c", "--expected-version", "2")
    assert (status, out) == (1, "") and "is at version 1, not 2" in err
    status, out, _ = cli("schema", "delete", app, "c")
    assert (status, out) == (0, f"removed the schema of {app}/c (its history stays)\n")
    assert cli("schema", "pull", app, "c")[0] == 1
    status, _, err = cli("schema", "push", app, "c", "--file", write(tmp_path / "bad.json", {"type": "integr"}))
    assert status == 1 and err.startswith("config-service: the schema is not valid: ")


def test_check_a_document_locally_before_sending_it(cli, admin, app, project, tmp_path):
    admin.create(app, "production", GOOD)
    cli("schema", "push", app, "production", "--model", f"{project}.settings:Settings")
    good = write(tmp_path / "good.json", {**GOOD, "log_level": "debug"})
    status, out, err = cli("schema", "check", app, "production", good)
    assert (status, out, err) == (0, f"{good} satisfies the schema of {app}/production (version 1)\n", "")

    bad = write(tmp_path / "bad.json", {**BAD, "payments_url": "not a url", "typo": True})
    status, out, err = cli("schema", "check", app, "production", bad)
    assert status == 1
    assert out.splitlines() == [
        "(document): Additional properties are not allowed ('typo' was unexpected) [additionalProperties]",
        '/db/pool: "twenty" is not of type "integer" [type]',
        '/log_level: "verbose" is not one of "debug", "info" or "warning" [enum]',
        '/payments_url: "not a url" is not a "uri" [format]',
    ]
    assert err == f"config-service: {bad} does not satisfy the schema of {app}/production (4 violations)\n"

    status, out, _ = cli("schema", "check", app, "production", bad, "--json")
    assert status == 1 and [v["path"] for v in json.loads(out)] == ["", "/db/pool", "/log_level", "/payments_url"]
    assert admin.get(app, "production") == GOOD  # checking sends no document

    admin.create(app, "plain", {})
    status, out, err = cli("schema", "check", app, "plain", good)
    assert (status, out) == (
        1,
        "",
    ) and err == f"config-service: configuration {app}/plain has no schema to check against\n"


def test_codegen_makes_a_model_that_imports_and_validates(service, cli, admin, app, project, tmp_path):
    admin.create(app, "production", GOOD)
    cli("schema", "push", app, "production", "--model", f"{project}.settings:Settings")
    # As a user runs it: `config-service schema codegen APP NAME > settings.py`, in a process.
    done = subprocess.run(
        [sys.executable, "-m", "config_client", "schema", "codegen", app, "production"],
        env={**os.environ, "CONFIG_SERVICE_URL": service.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    code = done.stdout
    assert code.startswith(f"# Generated by `config-service schema codegen {app} production` from version 1\n")
    # pydantic's HttpUrl has a length the generator cannot carry over to AnyUrl: said on stderr, not hidden
    assert done.stderr.startswith("config-service: codegen: ") and "Settings.payments_url" in done.stderr

    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "settings.py").write_text(code)
    probe = textwrap.dedent(
        """
        import json, sys
        import pydantic
        from settings import Settings
        print(Settings.model_validate(json.loads(sys.argv[1])).db.pool)
        try:
            Settings.model_validate(json.loads(sys.argv[2]))
        except pydantic.ValidationError as exc:
            print(sorted(".".join(map(str, e["loc"])) for e in exc.errors()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(GOOD), json.dumps(BAD)],
        cwd=generated,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["20", "['db.pool', 'log_level']"]

    status, code, _ = cli("schema", "codegen", app, "production", "--class-name", "CheckoutSettings")
    assert status == 0 and "\nclass CheckoutSettings(BaseModel):\n" in code and "\nclass Settings(" not in code


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("no_such_module_anywhere:Settings", "no module named 'no_such_module_anywhere' (looked in "),
        ("{project}.settings:Setings", "{project}.settings has no attribute 'Setings'"),
        ("{project}.settings", "name a model as module:attribute (package.settings:Settings), not "),
        ("{project}.settings:Literal", "{project}.settings:Literal is not a pydantic model class"),
        ("{project}.broken:Settings", "importing {project}.broken failed: ZeroDivisionError: division by zero"),
        ("{project}.needs:Settings", "importing {project}.needs failed: No module named 'not_installed_here'"),
    ],
)
def test_push_says_why_a_model_cannot_be_imported(cli, admin, app, project, tmp_path, model, says):
    (tmp_path / project / "broken.py").write_text("1 / 0\n")
    (tmp_path / project / "needs.py").write_text("import not_installed_here\n")
    admin.create(app, "c", GOOD)
    status, out, err = cli("schema", "push", app, "c", "--model", model.format(project=project))
    assert (status, out) == (1, "") and err.count("\n") == 1
    assert err.startswith("config-service: " + says.format(project=project))
    assert admin.schema(app, "c") is None


@pytest.mark.parametrize(
    ("command", "module", "extra"),
    [("check", "jsonschema_rs", "schema"), ("codegen", "datamodel_code_generator", "codegen")],
)
def test_a_missing_extra_is_named_before_the_service_is_asked(monkeypatch, capsys, tmp_path, command, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it fails
    monkeypatch.setenv("CONFIG_SERVICE_URL", "http://127.0.0.1:9")  # nothing listens: never reached
    args = ["schema", command, "app", "c"] + ([write(tmp_path / "d.json", {})] if command == "check" else [])
    status = main(args)
    out, err = capsys.readouterr()
    assert (status, out) == (1, "") and err.count("\n") == 1
    assert f"needs the client's {extra!r} extra" in err
    assert f"pip install 'config-service-client[{extra}]'" in err


def test_push_needs_a_model_or_a_file(cli):
    for args in (["schema", "push", "a", "c"], ["schema", "push", "a", "c", "--model", "m:S", "--file", "s.json"]):
        with pytest.raises(SystemExit) as exited:
            cli(*args)
        assert exited.value.code == 2
