"""The HTML report: every figure with its caption, every table, the executed notebooks, a colophon.

One page an examiner can open without Jupyter. It is rebuilt on every `make all` but rewritten only
when its content changes, and it carries no build time, so it is as byte-stable as the outputs it
shows. Only the standard library is used, so the no-op `make all` stays fast.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from . import atomic, build, paths

_UNESCAPE = {r"\textbackslash{}": "\\", r"\&": "&", r"\%": "%", r"\$": "$", r"\#": "#", r"\_": "_",
             r"\{": "{", r"\}": "}", r"\textasciitilde{}": "~", r"\textasciicircum{}": "^",
             r"\textless{}": "<", r"\textgreater{}": ">", "{[}": "[", "{]}": "]"}
_UNESCAPE_PATTERN = re.compile("|".join(re.escape(key) for key in _UNESCAPE))

# Marks a figure whose image did not load, for readers and for the headless-browser test.
_CHECK_IMAGES = """
window.addEventListener("load", () => {
  const broken = [...document.images].filter((image) => !(image.complete && image.naturalWidth > 0));
  broken.forEach((image) => image.closest("figure").classList.add("broken"));
  document.body.dataset.imagesLoaded = String(document.images.length - broken.length);
  document.body.dataset.imagesBroken = String(broken.length);
});
"""

_STYLE = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
figure { margin: 2rem 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figure.broken::before { content: "This figure's image is missing: run make all."; color: #b00; }
figcaption { font-size: 0.9rem; white-space: pre-line; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 2rem; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; }
th { border-bottom: 2px solid #444; } code { font-size: 0.85rem; }
"""


def _table_caption(tex: Path) -> str:
    if not tex.is_file():
        return ""
    found = re.search(r"\\caption\{(.*)\}", tex.read_text(encoding="utf-8"))
    return _UNESCAPE_PATTERN.sub(lambda m: _UNESCAPE[m.group(0)], found.group(1)) if found else ""


def _table_html(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return "<p>(empty table)</p>"
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in rows[0])
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:])
    return (f"<table data-table=\"{html.escape(path.stem)}\">\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody></table>")


def _visible(files: Iterable[Path]) -> list[Path]:
    """Sorted, without hidden files: a write cut short leaves its temporary copy (.name.xxxx.tmp.png)."""
    return sorted(path for path in files if not path.name.startswith("."))


def colophon(root: Path = paths.ROOT) -> dict:
    """What the outputs were made from: hashes of the code and the raw data, and package versions."""
    code = hashlib.sha256()
    for path in sorted((root / "src" / "issp_research").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            code.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        code.update(build.notebook_source(path))
    for path in (root / "analysis" / "params.yaml", root / "requirements.lock"):
        code.update(path.read_bytes())
    sums = root / "data" / "raw" / "SHA256SUMS"
    manifest = build.read_manifest(root / "analysis" / "MANIFEST.json")
    return {"code_sha256": code.hexdigest(),
            "raw_data_sha256": hashlib.sha256(sums.read_bytes()).hexdigest() if sums.is_file() else "none",
            "packages": manifest.get("packages", {})}


def render(root: Path = paths.ROOT) -> str:
    analysis = root / "analysis"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>ISSP research compendium: thesis figures and tables</title>",
             f"<style>{_STYLE}</style><script>{_CHECK_IMAGES}</script></head><body>",
             "<h1>Independent/state school partnerships: thesis figures and tables</h1>",
             "<p>Built by <code>make all</code> from the raw data in <code>data/raw/</code> (synthetic demonstration "
             "data; the ISC census figures are real published figures). Every file below is committed and "
             "rebuilds byte for byte; <code>make verify</code> checks that.</p>", "<h2>Figures</h2>"]
    for png in _visible((analysis / "figures").glob("*.png")):
        caption_file = png.with_suffix(".txt")
        caption = caption_file.read_text(encoding="utf-8").strip() if caption_file.is_file() else ""
        pdf = png.with_suffix(".pdf")
        link = f' <a href="figures/{html.escape(pdf.name)}">PDF</a>' if pdf.is_file() else ""
        parts.append(f'<figure id="{html.escape(png.stem)}"><img src="figures/{html.escape(png.name)}" '
                     f'alt="{html.escape(caption[:120])}"><figcaption>{html.escape(caption)}{link}</figcaption></figure>')
    parts.append("<h2>Tables</h2>")
    for table in _visible((analysis / "tables").glob("*.csv")):
        caption = _table_caption(table.with_suffix(".tex")) or table.stem.replace("_", " ").capitalize()
        parts.append(f'<h3 id="{html.escape(table.stem)}">{html.escape(caption)}</h3>')
        parts.append(_table_html(table))
    parts.append("<h2>Executed notebooks</h2><ul>")
    for name in build.notebooks():
        parts.append(f'<li><a href="executed/{name}.ipynb">{name}</a> (made by <code>make all</code>; '
                     f"source <code>notebooks/{name}.ipynb</code>)</li>")
    parts.append("</ul>")
    about = colophon(root)
    packages = ", ".join(f"{name} {version}" for name, version in sorted(about["packages"].items()))
    parts.append(f"<h2>Colophon</h2><p>Code sha256 <code>{about['code_sha256']}</code> (library, notebooks, "
                 f"parameters, lock file).<br>Raw data sha256 <code>{about['raw_data_sha256']}</code> (of "
                 f"<code>data/raw/SHA256SUMS</code>).<br>Packages: {html.escape(packages)}.<br>Which notebook made "
                 "each output, from which inputs: <code>analysis/MANIFEST.json</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write(root: Path = paths.ROOT) -> bool:
    """Write analysis/index.html if its content changed; True when it did."""
    target = root / "analysis" / "index.html"
    text = render(root)
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        os.utime(target)  # up to date now: make compares its time with the executed notebooks'
        return False
    atomic.write_text(target, text)
    return True


if __name__ == "__main__":
    if write():
        print("wrote analysis/index.html")
    sys.exit(0)
