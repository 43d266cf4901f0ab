"""The shape of the tree, checked: no import circles among the service's, the client's or the
console's modules; the write side and the read side never import each other; nothing of the
service imports its tests, its benchmark or a dev-only package."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from infra.settings import PROJECT_ROOT

SERVICE = ("api", "commands", "queries", "infra", "migrations.py", "tokens.py")
DEV_ONLY = {"httpx", "pytest", "playwright", "schemathesis", "bench", "tests"}


def python_modules(*places: str, root: Path = PROJECT_ROOT, package_root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for the .py files under `places`."""
    found = {}
    for place in places:
        path = root / place
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            parts = list(file.relative_to(package_root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = file
    return found


def python_imports(module: str, file: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of `known` that `module` imports (at any depth of its code)."""
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name in known and name != module:
                yield name


def external_imports(file: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
    return roots


# Static imports and re-exports: `import {a} from "./x.js"`, `import "./x.js"`, `export {a} from "./x.js"`.
JS_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^"';]*?(?:\bfrom\s*)?["'](\.{1,2}/[^"']+)["']""", re.M)


def javascript_graph(root: Path) -> dict[str, set[str]]:
    graph = {}
    for file in sorted(root.rglob("*.js")):
        targets = {(file.parent / target).resolve() for target in JS_IMPORT.findall(file.read_text())}
        graph[str(file.resolve())] = {str(target) for target in targets}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), and self-imports."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def python_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {module: set(python_imports(module, file, modules)) for module, file in modules.items()}


def test_the_service_has_no_import_circles():
    assert cycles(python_graph(python_modules(*SERVICE))) == []


def test_the_client_has_no_import_circles():
    client = PROJECT_ROOT / "client" / "src"
    assert cycles(python_graph(python_modules("config_client", root=client, package_root=client))) == []


def test_the_console_has_no_import_circles():
    graph = javascript_graph(PROJECT_ROOT / "console" / "js")
    assert len(graph) > 10 and sum(map(len, graph.values())) > 30  # found the modules and their imports
    assert cycles(graph) == []


def test_every_console_import_names_a_module_that_exists():
    graph = javascript_graph(PROJECT_ROOT / "console" / "js")
    assert {target for targets in graph.values() for target in targets if not Path(target).is_file()} == set()


def test_commands_and_queries_never_import_each_other():
    graph = python_graph(python_modules(*SERVICE))
    crossing = [
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if {module.split(".")[0], target.split(".")[0]} == {"commands", "queries"}
    ]
    assert crossing == []


def test_nothing_below_the_api_imports_it_and_infra_imports_neither_side():
    graph = python_graph(python_modules(*SERVICE))
    upward = [
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if (module.split(".")[0] in ("commands", "queries", "infra") and target.startswith("api"))
        or (module.startswith("infra") and target.split(".")[0] in ("commands", "queries"))
    ]
    assert upward == []


def test_the_service_imports_no_test_benchmark_or_dev_only_package():
    offending = {
        str(file.relative_to(PROJECT_ROOT)): sorted(external_imports(file) & DEV_ONLY)
        for file in python_modules(*SERVICE).values()
    }
    assert {file: names for file, names in offending.items() if names} == {}


def test_the_circle_finder_finds_a_circle():
    # The checks above are only as good as this.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    console_like = {"router": {"screen"}, "screen": {"router", "dom"}, "dom": set()}
    assert cycles(console_like) == [["router", "screen"]]
