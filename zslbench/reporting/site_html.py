"""The HTML pieces of the results page (`zslbench report`): escaping, tables, inline images, the page.

Every string that comes from a record (a model label, a class name, a protocol note) reaches the page
through `esc` or `table`, which escape it (`html.escape`); only `Html` values, made here from escaped
parts, pass as they are. The page is one self-contained file: its style and its one script are inline,
its images are base64 PNG data URIs, and its Content-Security-Policy loads nothing from anywhere and
runs no script but its own (the script's sha256 is in the policy), so a string that escaped escaping
still could not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class Html(str):
    """Markup that is already safe: made by this module from escaped parts, never from a record as is."""


def esc(value: object) -> Html:
    """`value` as text, with &, <, >, " and ' escaped; None reads as an empty cell."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object]) -> Html:
    """`parts` one after another, each escaped unless `Html` (`Html + Html` is a plain str: join instead)."""
    return Html("".join(esc(part) for part in parts))


def badge(text: str, kind: str) -> Html:
    """`text` in a coloured label; `kind` (e.g. `pass`, `not_compliant`) picks the colour in the CSS."""
    css = re.sub(r"[^a-z0-9_-]", "", kind.lower())
    return Html(f'<span class="badge b-{css}">{esc(text)}</span>')


def table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Collection[int] = ()) -> Html:
    """A sortable table (a click on a header sorts by that column): `header` and every cell escaped
    unless `Html`; the columns at indices `numeric` right-aligned. Written here rather than by
    pandas' `to_html` for one header row the script can sort on and one escaping path."""

    def cells(tag: str, values: Sequence[object]) -> str:
        return "".join(
            f'<{tag} class="num">{esc(v)}</{tag}>' if i in numeric else f"<{tag}>{esc(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    head = f"<thead><tr>{cells('th', header)}</tr></thead>"
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return Html(f'<div class="scroll"><table class="sortable">{head}<tbody>{body}</tbody></table></div>')


def frame_table(frame: pd.DataFrame, verdicts: Mapping[str, str] | None = None) -> Html:
    """A table of `reporting.tables.build_table`'s DataFrame: its index (the model) first, then its
    columns; the numbers' columns (all but protocol, compliance and card) right-aligned; a compliance
    cell found in `verdicts` (words -> verdict) as a badge of that verdict."""
    header = [frame.index.name or "", *map(str, frame.columns)]
    words = {i + 1 for i, c in enumerate(frame.columns) if c in ("protocol", "compliance", "card")}
    rows = [[str(i), *map(str, row)] for i, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    if "compliance" in frame.columns and verdicts:
        at = header.index("compliance")
        for row in rows:
            row[at] = badge(row[at], verdicts[row[at]]) if row[at] in verdicts else row[at]
    return table(header, rows, numeric=set(range(1, len(header))) - words)


def image(png: bytes, alt: str) -> Html:
    """An inline PNG (a data URI: the page loads no file)."""
    data = base64.b64encode(png).decode("ascii")
    return Html(f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">')


def figure(png: bytes, caption: str) -> Html:
    """An inline PNG with its caption; figures side by side wrap (`figures`)."""
    return Html(f"<figure>{image(png, caption)}<figcaption>{esc(caption)}</figcaption></figure>")


def figures(items: Iterable[Html]) -> Html:
    """Figures in a row that wraps to the page's width."""
    return Html(f'<div class="figures">{join(items)}</div>')


def details(summary: str, body: str) -> Html:
    """A collapsed block: `summary` (escaped) shown, `body` (Html) on a click."""
    return Html(f"<details><summary>{esc(summary)}</summary>{esc(body)}</details>")


def paragraph(text: str, css: str = "") -> Html:
    """`text` (escaped) as a paragraph, of CSS class `css` (e.g. `note`) when given."""
    return Html(f'<p class="{esc(css)}">{esc(text)}</p>' if css else f"<p>{esc(text)}</p>")


@dataclass(frozen=True)
class Section:
    """One part of the page: its anchor `id`, its heading, and its body (Html)."""

    id: str
    heading: str
    body: str


# Sorts a table by the clicked header (numbers as numbers, empty cells last); then marks the page as
# scripted, so a browser test can see that the script ran under the page's policy.
SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var text = cell.textContent.trim();
    var number = parseFloat(text.replace(/^\\u00b1/, ""));
    return isNaN(number) ? text.toLowerCase() : number;
  }
  function order(a, b) {
    if (typeof a === typeof b) { return a < b ? -1 : a > b ? 1 : 0; }
    return typeof a === "number" ? -1 : 1;
  }
  function sortBy(table, column, th) {
    var up = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = key(r.cells[column]), b = key(s.cells[column]);
      if (a === "" || b === "") { return (a === "") - (b === ""); }
      return up ? order(a, b) : order(b, a);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", up ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, column, th); });
    });
  });
  document.documentElement.setAttribute("data-js", "ready");
})();
"""

STYLE = """
:root { --fg: #1d2330; --muted: #5b6475; --bg: #f6f7f9; --card: #fff; --line: #dfe3ea; --head: #eef1f6;
  --accent: #2f5bd3; --ok: #1b7f3a; --bad: #b42318; --warn: #9a6700; --info: #0e7490; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e8ee; --muted: #9aa3b5; --bg: #12151b; --card: #1b1f27; --line: #2c3340; --head: #232936;
    --accent: #7ea2ff; --ok: #4cc27a; --bad: #ff6b5e; --warn: #e3b341; --info: #38bdf8; }
  img { background: #fff; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); }
header { padding: 24px 32px 8px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 4px 0; color: var(--muted); }
nav { position: sticky; top: 0; z-index: 2; padding: 8px 32px; background: var(--bg);
  border-bottom: 1px solid var(--line); }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; white-space: nowrap; }
main { padding: 8px 32px 48px; }
section { margin: 20px 0; padding: 16px 20px; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; }
section h2 { margin: 0 0 8px; font-size: 18px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
h4 { font-size: 14px; margin: 12px 0 4px; color: var(--muted); }
.note { color: var(--muted); }
.scroll { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--head); cursor: pointer; user-select: none; position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: var(--head); }
img { max-width: min(100%, 900px); height: auto; border: 1px solid var(--line); border-radius: 4px; margin: 8px 0; }
details { margin: 8px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; flex: 0 1 560px; min-width: 280px; }
figure img { width: 100%; max-width: 100%; }
figcaption { color: var(--muted); font-size: 13px; }
summary { cursor: pointer; color: var(--accent); }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-weight: 600; white-space: nowrap;
  border: 1px solid currentColor; }
.b-pass, .b-compliant { color: var(--ok); }
.b-fail, .b-incomplete, .b-not_compliant { color: var(--bad); }
.b-missing, .b-stale, .b-unknown { color: var(--warn); }
.b-other_card, .b-finetuning_compliant, .b-published { color: var(--info); }
footer { padding: 0 32px 32px; color: var(--muted); }
"""


def policy() -> str:
    """The page's Content-Security-Policy: nothing loaded from anywhere, images only inline, styles
    inline, and no script but `SCRIPT` (by its sha256)."""
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def page(title: str, lines: Sequence[str], sections: Sequence[Section], footer: str) -> str:
    """The whole document: `title`, a header of `lines` (text), a link to each section, the sections,
    a `footer` line; the style and the script inline."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.heading)}</a>' for s in sections)
    parts = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.heading)}</h2>{esc(s.body)}</section>' for s in sections)
    intro = "".join(f"<p>{esc(line)}</p>" for line in lines)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy())}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1>{intro}</header>\n<nav>{nav}</nav>\n<main>\n{parts}\n</main>\n"
        f"<footer>{esc(footer)}</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
