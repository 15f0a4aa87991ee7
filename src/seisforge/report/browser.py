"""Open a report in headless Chromium (Playwright driving the system browser) and collect what a user sees.

Used by the report tests; usable on its own to check a report on a machine with Chromium:
``python -m seisforge.report.browser REPORT_DIR/index.html SCREENSHOT.png``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

#: flags for a quiet, offline headless run (no sandbox: containers run as root)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def find_chromium() -> str | None:
    """The system Chromium (``$CHROMIUM``, then ``chromium``/``chromium-browser``/``google-chrome`` on PATH)."""
    env = os.environ.get("CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def inspect_report(index: str | Path, screenshot: str | Path | None = None, executable: str | None = None,
                   click_sort: str | None = None) -> dict[str, Any]:
    """Load ``index`` and return console errors, requests, image sizes, table row counts.

    Every request is routed: ``file:`` and ``data:`` URLs go through, anything else is aborted and
    listed in ``blocked``. With ``click_sort`` (a table id) the first numeric column header of that
    table is clicked and the column's values before and after are returned.
    """
    from playwright.sync_api import sync_playwright

    exe = executable or find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium found (install the 'chromium' package or set $CHROMIUM)")
    out: dict[str, Any] = {"console_errors": [], "page_errors": [], "requests": [], "blocked": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: out["console_errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: out["page_errors"].append(str(e)))

            def route(r):
                url = r.request.url
                out["requests"].append(url[:80])
                if url.startswith(("file:", "data:")):
                    r.continue_()
                else:
                    out["blocked"].append(url)
                    r.abort()

            page.route("**/*", route)
            page.goto(Path(index).resolve().as_uri(), wait_until="load")
            out["images"] = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
            out["tables"] = page.eval_on_selector_all(
                "table[id]", "els => Object.fromEntries(els.map(t => [t.id, t.tBodies[0].rows.length]))")
            if click_sort:
                out["sort"] = _click_sort(page, click_sort)
            if screenshot:
                page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    return out


def _click_sort(page, table_id: str) -> dict[str, Any]:
    """Click the header of the first column with numeric sort values; column values before/after."""
    col = page.evaluate("""id => { const t = document.getElementById(id); const r = t.tBodies[0].rows[0];
        for (let i = 0; i < r.cells.length; i++) { const v = r.cells[i].getAttribute('data-v');
          if (v !== null && v !== '' && !isNaN(parseFloat(v))) return i; } return -1; }""", table_id)
    values = """([id, c]) => Array.from(document.getElementById(id).tBodies[0].rows)
        .map(r => parseFloat(r.cells[c].getAttribute('data-v')))"""
    before = page.evaluate(values, [table_id, col])
    page.click(f"#{table_id} thead th:nth-child({col + 1})")
    asc = page.evaluate(values, [table_id, col])
    page.click(f"#{table_id} thead th:nth-child({col + 1})")
    desc = page.evaluate(values, [table_id, col])
    return {"column": col, "before": before, "asc": asc, "desc": desc}


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(inspect_report(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None,
                                    click_sort="leaderboard"), indent=2)[:4000])
