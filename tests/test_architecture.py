"""The layout's rules, checked on the source: no import cycles, no private names across modules,
short functions, subpackages that say their job. docs/architecture.md describes the layout."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "zslbench"
MAX_LINES = 60  # body lines; a longer function says why in its docstring ("long because ...")
ROOMS = (
    "core",
    "text",
    "protocol",
    "datasets",
    "metrics",
    "video",
    "models",
    "training",
    "evaluation",
    "reporting",
    "cli",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, tree: ast.Module, known: set[str]) -> list[tuple[str, str]]:
    """(module, imported name or '') for every zslbench import, at any depth (function-level too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zslbench"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub, "") if sub in known else (node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("zslbench")]
    return found


def test_no_import_cycles_among_modules():
    trees = modules()
    graph = {name: {m for m, _ in imported(name, tree, set(trees)) if m != name} for name, tree in trees.items()}
    # A package imports its submodules' names for users; a submodule importing its own package's
    # re-exports is not a cycle of work. Only module -> module edges count.
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [node, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_module_imports_another_modules_private_names():
    trees = modules()
    offences = [
        f"{name} imports {what} from {mod}"
        for name, tree in trees.items()
        for mod, what in imported(name, tree, set(trees))
        if what.startswith("_") and what != "__version__" and mod != name
    ]
    assert not offences, "\n".join(offences)


def test_functions_are_short_or_say_why():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                why = ast.get_docstring(node) or ""
                body = node.body[1:] if why and len(node.body) > 1 else node.body
                lines = node.end_lineno - body[0].lineno + 1  # the body: a CLI signature is a list of options
                if lines > MAX_LINES and "long because" not in why.lower():
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)


def test_core_depends_on_nothing_above_it():
    trees = modules()
    for name, tree in trees.items():
        if name.startswith("zslbench.core"):
            above = [m for m, _ in imported(name, tree, set(trees)) if not m.startswith("zslbench.core")]
            assert set(above) <= {"zslbench"}, f"{name} imports {above}"


@pytest.mark.parametrize("room", ROOMS)
def test_each_subpackage_says_its_job(room):
    init = PACKAGE / room / "__init__.py"
    assert init.is_file(), f"zslbench/{room}/ is missing"
    assert ast.get_docstring(ast.parse(init.read_text())), f"zslbench/{room}/__init__.py has no docstring"


def test_no_hand_wrapped_calls():
    wrapped = [
        f"{path.relative_to(PACKAGE.parent)}:{i}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if "fmt: skip" in line or "fmt: off" in line
    ]
    assert not wrapped, "\n".join(wrapped)


def test_the_public_facade_is_light_and_names_the_library_objects():
    code = (
        "import sys, zslbench\n"
        "assert 'torch' not in sys.modules, 'import zslbench loaded torch'\n"
        "for name in zslbench.__all__:\n"
        "    value = getattr(zslbench, name)\n"
        "    assert name == '__version__' or value.__module__.startswith('zslbench.'), name\n"
        "print(len(zslbench.__all__))\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 10


# Each room imports only rooms listed before it (docs/architecture.md draws the same order).
LAYERS = (
    "core",
    "datasets",
    "metrics",
    "text",
    "protocol",
    "video",
    "models",
    "evaluation",
    "training",
    "reporting",
    "cli",
)


def test_rooms_import_only_the_rooms_below_them():
    trees = modules()
    upward = []
    for name, tree in trees.items():
        room = name.split(".")[1] if name.count(".") else None
        if room not in LAYERS:
            continue
        for mod, _ in imported(name, tree, set(trees)):
            other = mod.split(".")[1] if mod.count(".") else None
            if other in LAYERS and LAYERS.index(other) > LAYERS.index(room):
                upward.append(f"{name} imports {mod}")
    assert not upward, "\n".join(upward)


def test_the_cli_starts_without_numpy_or_torch():
    """`zslbench --help` and shell completion import every command module: none may load numpy or torch."""
    import subprocess
    import sys

    code = "import sys, zslbench.cli; print([m for m in ('numpy', 'torch', 'pandas') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
