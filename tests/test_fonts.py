"""The thesis font: made from matplotlib's DejaVu Sans by the shipped code, and typesetting as it does."""

from __future__ import annotations

import io
import re
import string
import warnings
from pathlib import Path

import matplotlib as mpl
import pytest
from matplotlib import _text_helpers, font_manager
from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from issp_research.figures import fonts, thesis_style

#: Letters, digits and punctuation of the study's texts, with the accents, dashes, quotes and
#: symbols its labels and captions use (a soft hyphen among them: DejaVu kerns it).
CHARACTERS = (string.ascii_letters + string.digits + string.punctuation
              + "\xad£€–—‘’“”…−×±≤≥²°µαβχσáéíóúâêîôûàèäëïöüçñßøæœŵŷ")


@pytest.fixture(autouse=True)
def style():
    with mpl.rc_context():
        thesis_style()
        yield


def test_shipped_fonts_are_what_the_shipped_code_makes_from_dejavu_sans(tmp_path):
    for path in fonts.write_fonts(tmp_path):
        shipped = fonts.FONT_DIR / path.name
        assert path.read_bytes() == shipped.read_bytes(), (
            f"{shipped} is not what write_fonts makes from matplotlib's DejaVu Sans: "
            "rerun .venv/bin/python -m issp_research.figures.fonts (and make all)")


@pytest.mark.parametrize(("thesis", "source"), list(fonts.FONTS.items()))
def test_thesis_font_sets_every_pair_of_characters_as_dejavu_sans(thesis, source):
    """Same glyphs (by name, so ligatures too) at the same positions, kerning included."""
    def typeset(path, text):
        font = FT2Font(str(path))
        font.set_size(9, 300)
        return [(item.char, font.get_glyph_name(item.glyph_index), item.x, item.y)
                for item in _text_helpers.layout(text, font)]

    whole = Path(mpl.get_data_path()) / "fonts" / "ttf" / source
    text = "".join(a + b for a in CHARACTERS for b in CHARACTERS)
    assert typeset(fonts.FONT_DIR / thesis, text) == typeset(whole, text)


def test_style_draws_with_the_thesis_font_in_both_weights():
    for weight, name in (("normal", "DejaVuSansThesis.ttf"), ("bold", "DejaVuSansThesis-Bold.ttf")):
        path = font_manager.findfont(font_manager.FontProperties(weight=weight), fallback_to_default=False)
        assert Path(path) == fonts.FONT_DIR / name


def _embedded_fonts(text: str) -> list[str]:
    fig = Figure(figsize=(2, 1))
    fig.text(0.1, 0.5, text)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when a glyph is missing from every font
        FigureCanvasPdf(fig).print_pdf(buffer)
    return sorted(set(re.findall(rb"/BaseFont /[A-Z]{6}\+([\w-]+)", buffer.getvalue())))


def test_text_is_embedded_from_the_thesis_font():
    assert _embedded_fonts("Worth by sector: £1,200 (−0.4)") == [b"DejaVuSansThesis"]


def test_a_character_beyond_the_thesis_font_comes_from_the_whole_dejavu_sans():
    assert _embedded_fonts("Partnership Ж") == [b"DejaVuSans", b"DejaVuSansThesis"]
