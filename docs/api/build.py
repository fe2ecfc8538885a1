"""Regenerate docs/api/reference.md, the reference of `import zslbench`, from the docstrings, with pdoc.

    python docs/api/build.py              # writes docs/api/reference.md
    python docs/api/build.py --check      # exit 1 when reference.md is not what the code says now
    python docs/api/build.py --html DIR   # also pdoc's browsable HTML site in DIR (not kept in the repo)

pdoc reads the facade as Python sees it (signatures with their type hints, docstrings as written,
dataclass fields) without a configuration of its own; its documentation model (`pdoc.doc`) is turned
into one Markdown page here, so the reference is diffable and renders wherever the docs do. Names come
in the facade's order (`zslbench._API`, grouped by job); types the facade exports are named
`zslbench.NAME`, as a user writes them.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import re
import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.doc

import zslbench

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference.md"
HEADER = """# API reference: `import zslbench`

Generated from the docstrings by `python docs/api/build.py` (pdoc); do not edit by hand.
[../api.md](../api.md) walks through the API with real output.
"""


def facade() -> pdoc.doc.Module:
    """The facade as pdoc models it, every lazy name loaded first (pdoc reads what the module holds)."""
    for name in zslbench.__all__:
        getattr(zslbench, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pdoc warns about annotations it cannot evaluate; they print as written
        return pdoc.doc.Module(zslbench)


def short_names(text: str) -> str:
    """`zslbench.protocol.split.SplitResult` -> `zslbench.SplitResult` for every name the facade exports."""
    exported = set(zslbench.__all__)

    def shorten(found: re.Match[str]) -> str:
        name = found.group(2)
        return f"zslbench.{name}" if name in exported else found.group(0)

    return re.sub(r"\bzslbench((?:\.\w+)+)\.(\w+)\b", shorten, text)


def entry(doc: pdoc.doc.Doc) -> list[str]:
    """One name's section: its signature, its docstring, and for a class its public fields and members."""
    lines = [f"### `zslbench.{doc.name}`", ""]
    if isinstance(doc, pdoc.doc.Class):
        init = next((m for m in doc.own_members if m.name == "__init__"), None)
        signature = str(init.signature_without_self) if isinstance(init, pdoc.doc.Function) else "()"
        lines += ["```python", short_names(f"class {doc.name}{signature}"), "```", ""]
    elif isinstance(doc, pdoc.doc.Function):
        lines += ["```python", short_names(f"def {doc.name}{doc.signature}"), "```", ""]
    lines += [doc.docstring.strip() or "(no docstring)", ""]
    if isinstance(doc, pdoc.doc.Class):
        lines += members(doc)
    return lines


def members(doc: pdoc.doc.Class) -> list[str]:
    """A class's public fields, properties and methods, each with the first paragraph of its docstring."""
    out = []
    for member in doc.own_members:
        if member.name.startswith("_"):
            continue
        summary = " ".join(member.docstring.strip().split("\n\n")[0].split())
        annotation = getattr(member, "annotation_str", "").lstrip(": ")
        if isinstance(inspect.getattr_static(doc.obj, member.name, None), property | functools.cached_property):
            kind, shown = "property", member.name + (f" -> {annotation}" if annotation else "")
        elif isinstance(member, pdoc.doc.Function):
            kind, shown = "method", member.name + one_line(str(member.signature_without_self))
        else:
            kind, shown = "field", member.name + (f": {annotation}" if annotation else "")
        out.append(f"- {kind} `{short_names(shown)}`" + (f": {summary}" if summary else ""))
    return [*out, ""] if out else []


def one_line(signature: str) -> str:
    """pdoc's signature, which wraps long ones over lines, on one line."""
    return re.sub(r"\(\s+", "(", re.sub(r",?\s*\n\s*\)", ")", re.sub(r",\s*\n\s*", ", ", signature)))


def reference() -> str:
    """The whole page: the facade's docstring, then each exported name in `_API` order."""
    module = facade()
    names = [name for name in zslbench._API if name in module.members]
    lines = [HEADER, "Every name below is `zslbench.NAME`; each loads its module on first use.", ""]
    lines += [", ".join(f"[`{name}`](#zslbench{name.lower()})" for name in names), ""]
    for name in names:
        lines += entry(module.members[name])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when reference.md is stale")
    parser.add_argument("--html", type=Path, help="also write pdoc's HTML site into this folder")
    args = parser.parse_args(argv)
    text = reference()
    if args.check:
        current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
        if current != text:
            print(f"{REFERENCE} is stale: run python docs/api/build.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(text, encoding="utf-8")
    print(f"wrote {os.path.relpath(REFERENCE)}")
    if args.html:
        pdoc.render.configure(docformat="markdown", show_source=False, search=False)
        pdoc.pdoc("zslbench", "!zslbench.", output_directory=args.html)
        print(f"wrote {args.html / 'zslbench.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
