import re

import pytest

from zslbench.core.errors import ZslbenchError
from zslbench.reporting.published import load_published_file, published_numbers


def reference_tables(shared_dir):
    """{table title: [numbers]} from the markdown tables of ../shared/reference/brattoli2020.md."""
    text = (shared_dir / "reference" / "brattoli2020.md").read_text()
    tables, current = {}, None
    for line in text.splitlines():
        heading = re.match(r"^(Table \d|Supplementary Table 1)", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
        elif current and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tables[current] += [float(c) for c in cells if re.fullmatch(r"\d+\.\d", c)]
    return tables


def test_every_number_of_the_papers_tables_is_registered(shared_dir):
    by_table = {}
    for number in published_numbers():
        by_table.setdefault(number.table, []).append(number.value)
    found = {
        "Table 1": "Table 1",
        "Table 2": "Table 2",
        "Table 3": "Table 3",
        "Supplementary Table 1": "Supplementary Table 1",
    }
    for title, values in reference_tables(shared_dir).items():
        registered = by_table.get(found[title], []) + (
            by_table["Table 1"] + by_table["Table 2"] if title == "Table 3" else []
        )
        missing = [v for v in values if v not in registered]
        assert not missing, f"{title}: {missing} not in protocols/published"


def test_later_methods_and_protocol_labels():
    numbers = published_numbers()
    later = [n for n in numbers if n.table == "later methods" or n.source.startswith("CLIP-era")]
    assert {n.method for n in later} >= {"ER-ZSAR (ICCV 2021)", "JigsawNet (ECCV 2022)", "FROSTER", "Open-VCLIP"}
    # each names the protocol it was made under (today's papers' protocols ship), or says how it differs
    assert all(n.protocol_note or n.protocol for n in later)
    clip_era = {n.protocol for n in later if n.protocol}
    assert clip_era == {"clip-era-k400-ucf-hmdb", "er-zsar-k400-k600"}
    ours = [n for n in numbers if n.model and n.protocol]
    assert ours and all(n.protocol.startswith(("brattoli2020-", "clip-era-", "er-zsar-")) for n in ours)


GOOD = {"method": "m", "protocol": "brattoli2020-k700-ucf-hmdb", "dataset": "ucf101", "split": "all",
        "metric": "top1", "value": 1, "table": "T"}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metric": None, "metrc": "top1"}, r"x.yaml:4: unknown key 'metrc'.*Did you mean 'metric'"),
        ({"protocol": "nope"}, "unknown protocol 'nope'"),
        ({"protocol": None}, "exactly one of protocol and protocol_note"),
        ({"protocol": None, "protocol_note": "x", "value": 101}, r"value must be a number in \[0.0, 100.0\]"),
        ({"dataset": "kinetics"}, "dataset must be one of"),
    ],
)
def test_published_yaml_mistakes_name_file_line_and_field(tmp_path, changes, message):
    entry = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    flow = "{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}"
    path = tmp_path / "x.yaml"
    path.write_text(f"source: s\nembedding: glove-6b-50d\nnumbers:\n  - {flow}\n")
    with pytest.raises(ZslbenchError, match=message):
        load_published_file(path)
