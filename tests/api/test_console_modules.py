"""The console's JavaScript modules import one way: no module reaches itself through its imports
(a circle makes the load order decide which bindings exist yet)."""

import re
from pathlib import Path

from api.console import CONSOLE_DIR

# Static imports and re-exports: `import {a} from "./x.js"`, `import "./x.js"`, `export {a} from "./x.js"`.
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^"';]*?(?:\bfrom\s*)?["'](\.{1,2}/[^"']+)["']""", re.MULTILINE)


def module_graph(root: Path) -> dict[Path, set[Path]]:
    return {
        module: {(module.parent / target).resolve() for target in IMPORT.findall(module.read_text())}
        for module in (path.resolve() for path in root.rglob("*.js"))
    }


def circles(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """Each import circle once, as the path of modules that closes it."""
    found, done = [], set()

    def visit(module: Path, trail: list[Path]) -> None:
        if module in trail:
            found.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


def test_the_console_modules_import_no_circle():
    graph = module_graph(CONSOLE_DIR / "js")
    assert len(graph) > 10 and sum(map(len, graph.values())) > 30  # found the modules and their imports
    named = [" -> ".join(str(module.relative_to(CONSOLE_DIR)) for module in circle) for circle in circles(graph)]
    assert named == []


def test_every_import_names_a_module_that_exists():
    graph = module_graph(CONSOLE_DIR / "js")
    missing = {str(target) for targets in graph.values() for target in targets if not target.is_file()}
    assert missing == set()


def test_a_circle_is_found():
    a, b, c = Path("/a.js"), Path("/b.js"), Path("/c.js")
    assert circles({a: {b}, b: {c}, c: {a}}) == [[a, b, c, a]]
    assert circles({a: {b, c}, b: {c}, c: set()}) == []
