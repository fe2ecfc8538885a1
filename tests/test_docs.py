"""The README and docs state numbers and commands; these tests keep them true."""

import re
from pathlib import Path

import pytest

from zslbench.overlap import protocol_overlap
from zslbench.protocol import load_protocol

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
