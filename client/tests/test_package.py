"""The distribution as installed: its name, its one dependency and its extras, the Pythons it
allows, its type information (`py.typed`), modules that import one way, and pydantic (and the
extras) left optional."""

import ast
import importlib.metadata
import json
import subprocess
import sys
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


def test_schema_checking_and_codegen_are_extras(distribution):
    extras = {}
    for line in distribution.requires or []:
        requirement = Requirement(line)
        for extra in ("schema", "codegen"):
            if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
                extras.setdefault(extra, set()).add(requirement.name.lower())
    assert extras == {"schema": {"jsonschema-rs"}, "codegen": {"datamodel-code-generator"}}, distribution.requires
    assert set(distribution.metadata.get_all("Provides-Extra") or ()) >= {"schema", "codegen"}


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


def test_importing_the_package_imports_no_pydantic():
    # `model=` takes pydantic models without the client importing pydantic: a client service
    # that does not use them does not need it installed. Nor the extras' modules, which only
    # `schema check` and `schema codegen` (and `schema_tools`) import, when they run.
    optional = ("pydantic", "pydantic_core", "jsonschema_rs", "datamodel_code_generator")
    code = (
        "import sys, config_client, config_client.cli, config_client.aio, config_client.schema_tools; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {optional!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _module_imports(package: Path) -> dict[str, set[str]]:
    """Each module of the package (`config_client.cli`, ...) and the package's modules it
    imports, wherever the import stands (under `if TYPE_CHECKING:` too)."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[module] = ast.parse(path.read_text(), str(path))
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for module, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                graph[module] |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative: from the module's package
                    package_parts = module.split(".")[: len(module.split(".")) - node.level + 1]
                    base = ".".join([*package_parts, node.module])
                for alias in node.names:  # `from package import module` imports that module
                    imported = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    if imported in modules:
                        graph[module].add(imported)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, as the modules along it; None when there is none."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            if found := visit(imported, [*path, module]):
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        if found := visit(module, []):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_package_has_no_import_cycle():
    graph = _module_imports(Path(config_client.__file__).parent)
    assert {"config_client._core", "config_client._admin", "config_client.sync"} <= graph.keys()
    assert "config_client._transport" in graph["config_client._admin"]  # the finder sees imports
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)
