"""No import circles in canvas_oauth, counting imports inside functions.

A circle bridged by a function-level import still ties two modules into one: each needs
the other, so neither can be read, tested or replaced alone. The graph is read from the
source with ``ast``, so every import counts, wherever it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import canvas_oauth

PACKAGE = Path(canvas_oauth.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Return, for each module of the package, the package's modules it imports."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    # "from canvas_oauth import oauth" imports the module canvas_oauth.oauth;
                    # "from canvas_oauth.oauth import get_oauth_token" imports canvas_oauth.oauth.
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in modules else base)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one circle of imports as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph[node]):
            found = visit(target)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        found = visit(node)
        if found:
            return found
    return None


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "canvas_oauth.canvasapi_adapter" in graph["canvas_oauth.api"]  # in canvasapi_for
    assert "canvas_oauth.oauth" in graph["canvas_oauth.popup"]
    assert "canvas_oauth.testing.provider" in graph["canvas_oauth.testing"]  # relative


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_find_cycle_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


DESIGN = PACKAGE.parent / "docs" / "design.md"
OUTSIDE_THE_ROWS = ("canvas_oauth.testing", "canvas_oauth.management", "canvas_oauth.migrations")


def diagram_rows() -> dict[str, int]:
    """Return {module: row} from the diagram of docs/design.md (its first code block)."""
    block = DESIGN.read_text().split("```")[1]
    rows: dict[str, int] = {}
    row = 0
    for line in block.splitlines()[2:]:  # past the fence's info string and the heading
        number, modules = line[:5].strip(), line[5:45]
        if number:
            row = int(number)
        for name in modules.replace(",", " ").split():
            rows[f"canvas_oauth.{name}"] = row
    return rows


def test_the_design_diagram_has_every_module_on_one_row():
    graph = import_graph()
    inside = {m for m in graph if not m.startswith(OUTSIDE_THE_ROWS) and m != "canvas_oauth"}
    assert set(diagram_rows()) == inside


def test_every_import_points_down_the_design_diagram():
    rows = diagram_rows()
    upward = [
        f"{module} (row {rows[module]}) imports {target} (row {rows[target]})"
        for module, targets in import_graph().items()
        if module in rows
        for target in targets
        if target in rows and rows[target] <= rows[module]
    ]
    assert upward == []


def test_what_stands_outside_the_rows_is_imported_by_nothing_of_the_package():
    graph = import_graph()
    inside_imports = {
        target
        for module, targets in graph.items()
        if not module.startswith(OUTSIDE_THE_ROWS)
        for target in targets
    }
    assert not {t for t in inside_imports if t.startswith(OUTSIDE_THE_ROWS)}


def test_the_fake_canvas_imports_only_the_breaker_of_the_package():
    graph = import_graph()
    used = {
        target
        for module, targets in graph.items()
        if module.startswith("canvas_oauth.testing")
        for target in targets
        if not target.startswith("canvas_oauth.testing")
    }
    assert used == {"canvas_oauth.breaker"}
