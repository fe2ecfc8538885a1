"""Every public name in zslbench/ has a docstring, so the API stays readable and cannot regress.

Public: a module-level function or class whose name does not start with `_`, and every method of
such a class whose name does not start with `_` (dunder methods and nested functions are exempt).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "zslbench"
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def public_defs(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """(qualified name, node) of each public module-level def/class and public method of a public class."""
    found = []
    for node in tree.body:
        if not isinstance(node, DEFS) or node.name.startswith("_"):
            continue
        found.append((node.name, node))
        if isinstance(node, ast.ClassDef):
            found += [
                (f"{node.name}.{item.name}", item)
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_")
            ]
    return found


def missing_docstrings() -> list[str]:
    """'path:line name' for every public definition without a docstring."""
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(PACKAGE.parent)
        missing += [f"{rel}:{node.lineno} {name}" for name, node in public_defs(tree) if not ast.get_docstring(node)]
    return missing


def test_checker_sees_a_missing_method_docstring():
    tree = ast.parse('class A:\n    """A."""\n    def run(self):\n        pass\n    def __len__(self):\n        pass\n')
    names = [name for name, node in public_defs(tree) if not ast.get_docstring(node)]
    assert names == ["A.run"]


def test_every_public_function_class_and_method_has_a_docstring():
    missing = missing_docstrings()
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)
