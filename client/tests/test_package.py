"""The distribution as installed: its name, its one dependency, the Pythons it allows, and
its type information (`py.typed`)."""

import importlib.metadata
import json
import urllib.parse
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import config_client

DISTRIBUTION = "config-service-client"


@pytest.fixture(scope="module")
def distribution() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"the distribution {DISTRIBUTION!r} is not installed")


def test_the_distribution_is_installed_under_its_name(distribution):
    assert distribution.metadata["Name"] == DISTRIBUTION
    assert distribution.version


def test_it_depends_on_httpx_only(distribution):
    requirements = [Requirement(line) for line in distribution.requires or []]
    # Whatever the markers, a requirement outside an extra is one every install gets.
    always = {r.name.lower() for r in requirements if r.marker is None or "extra" not in str(r.marker)}
    assert always == {"httpx"}, distribution.requires


def test_it_allows_python_3_10(distribution):
    requires_python = distribution.metadata["Requires-Python"]
    assert requires_python, "no Requires-Python"
    allowed = SpecifierSet(requires_python)
    assert "3.10" in allowed and "3.10.0" in allowed, requires_python


def _editable_source(distribution: importlib.metadata.Distribution) -> Path | None:
    """The project directory of an editable install; None for any other install."""
    direct_url = json.loads(distribution.read_text("direct_url.json") or "{}")
    if not direct_url.get("dir_info", {}).get("editable"):
        return None
    return Path(urllib.parse.unquote(urllib.parse.urlparse(direct_url["url"]).path)).resolve()


def test_py_typed_is_shipped_in_the_package(distribution):
    package = Path(config_client.__file__).parent
    assert (package / "__init__.py").is_file() and (package / "py.typed").is_file()
    files = [str(path).replace("\\", "/") for path in distribution.files or []]
    if any(f.startswith("config_client/") for f in files):  # a regular install: it lists what it put there
        assert "config_client/py.typed" in files
    else:  # an editable one lists no file of the package: it is imported from the source tree
        source = _editable_source(distribution)
        assert source is not None, files
        assert package.resolve().is_relative_to(source), (package, source)
