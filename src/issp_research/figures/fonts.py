"""The thesis font: DejaVu Sans cut down to the scripts the figures write, shipped with the library.

Every PDF figure embeds the subset of its font that it uses (``pdf.fonttype: 42``), and
matplotlib makes that subset with fontTools from the whole font file, once per figure and weight
(twice when the figure sets a ligature). For DejaVu Sans (6,000 glyphs, layout tables for dozens
of scripts) that was the largest single cost of the figures notebook: its nine figures took
about 7 s, 1.5 s less with these fonts. They hold DejaVu Sans's glyphs, metrics, hinting,
kerning and ligatures for Latin, Greek, punctuation, arrows and mathematical operators (about
1,500 glyphs), so the figures' pixels and the PDFs' pages are unchanged (only the embedded font
programs differ), and a character they lack is drawn from the whole DejaVu Sans, which
:mod:`issp_research.figures.style` names after them.

The files are made from the DejaVu Sans that ships with matplotlib; a test checks that they are
exactly what :func:`write_fonts` makes from it. After upgrading matplotlib or fontTools, rerun

    .venv/bin/python -m issp_research.figures.fonts
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
from matplotlib import font_manager

FAMILY = "DejaVu Sans Thesis"
FONT_DIR = Path(__file__).resolve().parent / "ttf"
#: Shipped file and the matplotlib font it is cut from.
FONTS = {
    "DejaVuSansThesis.ttf": "DejaVuSans.ttf",
    "DejaVuSansThesis-Bold.ttf": "DejaVuSans-Bold.ttf",
}
#: The characters kept (first, last): names and statistics in Latin-script languages and Greek;
#: everything else (Cyrillic, for one) falls back to the whole font.
UNICODE_BLOCKS = {
    "Basic Latin": (0x0020, 0x007E),
    "Latin-1 Supplement": (0x00A0, 0x00FF),
    "Latin Extended-A": (0x0100, 0x017F),
    "Latin Extended-B": (0x0180, 0x024F),
    "Spacing Modifier Letters": (0x02B0, 0x02FF),
    "Combining Diacritical Marks": (0x0300, 0x036F),
    "Greek and Coptic": (0x0370, 0x03FF),
    "General Punctuation": (0x2000, 0x206F),
    "Superscripts and Subscripts": (0x2070, 0x209F),
    "Currency Symbols": (0x20A0, 0x20CF),
    "Arrows": (0x2190, 0x21FF),
    "Mathematical Operators": (0x2200, 0x22FF),
    "Alphabetic Presentation Forms (ligatures)": (0xFB00, 0xFB06),
}


def _source(name: str) -> Path:
    return Path(mpl.get_data_path()) / "fonts" / "ttf" / name


def write_fonts(out_dir: Path = FONT_DIR) -> list[Path]:
    """Cut the shipped fonts from matplotlib's DejaVu Sans into ``out_dir``; the same bytes every time."""
    # fontTools' subsetter is what matplotlib itself uses; only the choice of characters and the
    # new name are ours. recalcTimestamp=False keeps the source's dates, so the bytes are stable.
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options(
        layout_features=["*"], name_IDs=["*"], name_languages=["*"], glyph_names=True,
        legacy_kern=True, notdef_outline=True, recommended_glyphs=True, hinting=True,
    )
    options.drop_tables += ["FFTM"]  # FontForge's timestamp, which fontTools cannot subset
    unicodes = [code for first, last in UNICODE_BLOCKS.values() for code in range(first, last + 1)]
    written = []
    for target, source in FONTS.items():
        font = TTFont(_source(source), recalcTimestamp=False)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(font)
        for record in font["name"].names:
            # The Bitstream Vera licence asks that a modified font be renamed: family, full name,
            # unique and PostScript names say it is the thesis cut.
            text = record.toUnicode()
            record.string = text.replace("DejaVu Sans", FAMILY).replace("DejaVuSans", "DejaVuSansThesis")
        path = Path(out_dir) / target
        font.save(path)
        written.append(path)
    return written


def register() -> None:
    """Make the shipped fonts known to matplotlib (what installing them would do), once per process."""
    known = {Path(entry.fname) for entry in font_manager.fontManager.ttflist}
    for name in FONTS:
        if FONT_DIR / name not in known:
            font_manager.fontManager.addfont(FONT_DIR / name)


if __name__ == "__main__":
    for path in write_fonts():
        print(f"wrote {path}")
