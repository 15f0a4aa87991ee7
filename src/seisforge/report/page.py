"""HTML building blocks of the report: embedded figures, sortable tables, the page itself.

Everything is inline (PNG as ``data:`` URLs, CSS and a few lines of JavaScript), so ``index.html``
opens offline from disk and makes no request. Written by hand because it is ~100 lines of string
assembly; a templating dependency would add more than it saves.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

from seisforge.report.core import Section, esc

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#0072B2;color:#fff;padding:14px 24px}header h1{margin:0;font-size:1.4em}
nav{padding:6px 24px;background:#e8eef4}nav a{margin-right:14px;color:#0072B2}
main{padding:8px 24px 40px}section{background:#fff;border:1px solid #ddd;border-radius:6px;
padding:8px 18px 18px;margin:18px 0}h2{border-bottom:2px solid #56B4E9;padding-bottom:4px}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.9em;color:#444;
max-width:1000px}table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f0f0f0;text-align:center}
td:first-child,th:first-child,td[data-v=""]{text-align:left}table.sortable th{cursor:pointer}
table.sortable th[data-dir="asc"]::after{content:" \\25B2"}table.sortable th[data-dir="desc"]::after{content:" \\25BC"}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:360px;font-size:.8em}
.note{color:#555;font-size:.9em}.sources{color:#777;font-size:.8em}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.gallery figure{width:480px}
"""

# Sort a table by a header click: numeric when the cells carry data-v numbers, else text.
JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,col){
    th.addEventListener('click',function(){
      var dir=th.getAttribute('data-dir')==='asc'?'desc':'asc';
      t.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir');});
      th.setAttribute('data-dir',dir);
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      function key(r){var c=r.cells[col];var v=c.getAttribute('data-v');
        if(v!==null&&v!==''&&!isNaN(parseFloat(v)))return parseFloat(v);return c.textContent;}
      rows.sort(function(a,b){var x=key(a),y=key(b);
        if(typeof x==='number'&&typeof y==='number')return dir==='asc'?x-y:y-x;
        if(typeof x==='number')return -1;if(typeof y==='number')return 1;
        return dir==='asc'?String(x).localeCompare(y):String(y).localeCompare(x);});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""


def png_data_url(source: Any, dpi: int = 100) -> str:
    """A ``data:image/png;base64`` URL from a PNG file path or a matplotlib figure (closed after)."""
    if isinstance(source, (str, Path)):
        data = Path(source).read_bytes()
    else:
        buf = io.BytesIO()
        source.savefig(buf, format="png", dpi=dpi)
        import matplotlib.pyplot as plt

        plt.close(source)
        data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure(source: Any, caption: str, alt: str | None = None) -> str:
    """An embedded figure with its caption."""
    return (f'<figure><img src="{png_data_url(source)}" alt="{esc(alt or caption[:80])}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _cell(v: Any) -> tuple[str, str]:
    """(display text, sort value) of a table cell."""
    if isinstance(v, tuple) and len(v) == 2:  # (display, sort value) given by the caller
        return str(v[0]), "" if v[1] is None else str(v[1])
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a", ""
    if isinstance(v, float):
        return f"{v:.4g}", repr(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v), str(v)
    return str(v), ""


def table(header: list[str], rows: list[list[Any]], sortable: bool = True, table_id: str | None = None,
          caption: str | None = None) -> str:
    """An HTML table; cells may be ``(display, sort_value)`` pairs (e.g. a value with its CI)."""
    cls = ' class="sortable"' if sortable else ""
    tid = f' id="{esc(table_id)}"' if table_id else ""
    out = [f"<table{cls}{tid}>"]
    if caption:
        out.append(f"<caption class=note>{caption}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead><tbody>")
    for row in rows:
        cells = []
        for v in row:
            text, key = _cell(v)
            cells.append(f'<td data-v="{esc(key)}">{esc(text)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def key_values(d: dict[str, Any], table_id: str | None = None) -> str:
    """A two-column table of a flat dict (nested values as compact JSON)."""
    rows = [[k, v if isinstance(v, (int, float, str)) or v is None else json.dumps(v, default=str)]
            for k, v in d.items()]
    return table(["key", "value"], rows, sortable=False, table_id=table_id)


def pre(text: str, summary: str) -> str:
    """A collapsible preformatted block."""
    return f"<details><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details>"


def note(text: str) -> str:
    return f"<p class=note>{text}</p>"


def heading(text: str) -> str:
    return f"<h3>{esc(text)}</h3>"


def assemble(title: str, sections: list[Section], unknown: list[Path]) -> str:
    """The whole page."""
    nav = "".join(f'<a href="#{esc(s.kind)}">{esc(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        src = "".join(f"<li>{esc(p)}</li>" for p in s.sources)
        body.append(f'<section id="{esc(s.kind)}"><h2>{esc(s.title)}</h2>' + "".join(s.parts)
                    + f"<details class=sources><summary>inputs</summary><ul>{src}</ul></details></section>")
    if unknown:
        body.append(note("Not recognised (no section): " + ", ".join(esc(p) for p in unknown)))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        # no fetch of any kind: a CSP that only allows inline content and data: images
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1></header><nav>{nav}</nav><main>{''.join(body)}</main>"
        f"<script>{JS}</script></body></html>"
    )
