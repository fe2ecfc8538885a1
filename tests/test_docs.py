"""The README and docs state numbers and commands; these tests keep them true."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from zslbench.protocol.overlap import protocol_overlap
from zslbench.protocol.spec import load_protocol

REPO = Path(__file__).resolve().parents[1]
COUNT_ROW = re.compile(r"^\| `?(brattoli2020-[a-z0-9-]+)`?[^|\n]*(?:\|[^|\n]*)*?\| (\d+) \| (\d+) \|$", re.MULTILINE)


def test_readme_opens_with_exactly_the_install_and_test_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:bash|sh)\n(.*?)```", text, re.DOTALL).group(1)
    assert block.strip().splitlines() == ['python -m pip install -e ".[dev]"', "python -m pytest"]
    assert "README.md" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("doc", ["README.md", "docs/protocol.md"])
def test_documented_kept_counts_are_what_split_computes(doc):
    rows = COUNT_ROW.findall((REPO / doc).read_text(encoding="utf-8"))
    assert len(rows) == 3, "the kept-class table moved; update this test's pattern"
    for name, _paper, ours in rows:
        protocol = load_protocol(name)
        assert int(ours) == int(protocol_overlap(protocol).kept(protocol.tau).sum()), name


def test_readme_split_output_matches_the_current_fingerprint():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"fingerprint {load_protocol().fingerprint[:12]}" in text


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
NEEDS_DATA = re.compile(r"""Path\(["'](?:runs|data|features)/""")  # files a reader makes first (synth, train)
AFTER = "from zslbench.models import MODELS\nassert 'e2e_r2plus1d' in MODELS, MODELS.names()\n"


def documented_python():
    for doc in ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]:
        blocks = PYTHON_BLOCK.findall((REPO / doc).read_text(encoding="utf-8"))
        for number, code in enumerate(blocks, start=1):
            if "zslbench" in code:
                yield pytest.param(code, id=f"{doc}#{number}")


def imports_of(code: str) -> str:
    import ast

    return "\n".join(
        ast.unparse(node) for node in ast.parse(code).body if isinstance(node, ast.Import | ast.ImportFrom)
    )


@pytest.mark.parametrize("code", list(documented_python()))
def test_documented_python_works_as_the_first_code_of_a_process(code, tmp_path):
    """Each Python example of the README and docs runs in a fresh process (only its imports when it
    reads files a reader makes first), and the model registry answers right after it: a registry
    lookup must never depend on something else having imported the built-ins before."""
    body = imports_of(code) if NEEDS_DATA.search(code) else code
    done = subprocess.run(
        [sys.executable, "-c", body + "\n" + AFTER], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = re.findall(r"^print\(.*\n# (.+)$", code, re.MULTILINE)  # a documented output under its print
    assert done.stdout.splitlines()[: len(printed)] == printed
