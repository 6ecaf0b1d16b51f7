"""One look for every thesis figure, and one way of saving it so reruns give identical files.

Call :func:`thesis_style` once before drawing (a notebook's first cell, the build's start); every
figure is then drawn with the same fonts, sizes and colours. :func:`save_figure` does not rely on
that call for anything that decides the bytes written: it fixes the metadata, resolution and font
embedding itself, so the same figure always gives the same PDF and PNG.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from issp_research import dictionary as dd
from issp_research.atomic import atomic_path
from issp_research.errors import IsspError
from issp_research.figures import fonts

#: Okabe & Ito (2008) colour-blind-safe palette, in the order seaborn cycles through it.
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish_green": "#009E73",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: Sector colours fixed once, so "independent" is the same blue in every figure. The state types
#: are the warm Okabe-Ito colours, ordered dark to light, so they read as a family around "state"
#: and still differ in lightness for readers who cannot tell red from green.
SECTOR_COLOURS = {
    "independent": OKABE_ITO["blue"],
    "state": OKABE_ITO["orange"],
    "maintained": OKABE_ITO["vermillion"],
    "academy": OKABE_ITO["orange"],
    "free": OKABE_ITO["yellow"],
}

#: Orders of the codes, from the data dictionary (its first label is every model's reference level).
SECTOR_ORDER = list(dd.SECTORS)
STATE_TYPE_ORDER = list(dd.STATE_TYPES)
ROLE_ORDER = list(dd.ROLES)
PHASE_ORDER = list(dd.PHASES)

#: Display labels for the data dictionary's codes; figures and tables show these, never the codes.
LABELS = {
    "independent": "Independent",
    "state": "State",
    "maintained": "LA maintained",
    "academy": "Academy",
    "free": "Free school",
    "senior_leader": "Senior leader",
    "coordinator": "Coordinator",
    "teacher": "Teacher",
    "governor": "Governor",
}

#: Display labels of the other codes that figures and tables name (phases, partnership models) and
#: of the variables themselves. Kept apart from LABELS, whose keys are the sector/role vocabulary.
PHASE_LABELS = {"primary": "Primary", "secondary": "Secondary", "all_through": "All-through"}
MODEL_LABELS = {
    "academic_enrichment": "Academic enrichment",
    "sport": "Sport",
    "music_performing_arts": "Music and performing arts",
    "saturday_school": "Saturday school",
    "joint_professional_development": "Joint professional development",
    "sharing_facilities": "Sharing facilities",
    "university_access_careers": "University access and careers",
    "governance_sponsorship": "Governance and sponsorship",
}
VARIABLE_LABELS = {
    "sector": "Sector",
    "state_type": "State school type",
    "phase": "Phase",
    "role": "Role",
    "model": "Partnership model",
    "formality": "Formality",
    "funding": "Funding",
    "region": "Region",
    "years_in_role": "Years in role",
    "partnership_age": "Partnership age (years)",
    "involvement": "Involvement",
    "pupils": "Pupils on roll",
    "fsm_pct": "Free school meals (%)",
}


def label(code: str) -> str:
    """The display label of a code or variable name; an unknown code is shown as readable words."""
    for labels in (LABELS, PHASE_LABELS, MODEL_LABELS, VARIABLE_LABELS):
        if code in labels:
            return labels[code]
    words = str(code).replace("_", " ").strip()
    return words[:1].upper() + words[1:]

#: Text width of an A4 thesis page with 25 mm margins (160 mm); figures are drawn at print size.
TEXT_WIDTH_IN = 6.3
DEFAULT_HEIGHT_IN = 3.9
PNG_DPI = 300

#: Fixed strings instead of version numbers, so upgrading a library does not change the files.
CREATOR = "issp-research"
PDF_METADATA = {"Creator": CREATOR, "Producer": CREATOR, "CreationDate": None}
PNG_METADATA = {"Software": CREATOR}

#: Settings read when a file is written rather than when the figure is drawn.
_SAVE_RC = {
    "pdf.fonttype": 42,  # embed TrueType, so text in the PDF stays text (searchable, editable)
    "svg.hashsalt": CREATOR,
    "savefig.bbox": None,  # keep the page size exact; constrained layout keeps labels inside
}

_THESIS_RC = {
    **_SAVE_RC,
    # Shipped with the library (cut from the DejaVu Sans that ships with matplotlib): the same
    # glyphs on every machine, quick to embed. matplotlib falls back glyph by glyph only along
    # font.family, so the whole DejaVu Sans is named there, for any character the cut lacks.
    "font.family": [fonts.FAMILY, "DejaVu Sans"],
    "font.sans-serif": [fonts.FAMILY, "DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 9,
    "figure.titlesize": 10,
    "figure.figsize": (TEXT_WIDTH_IN, DEFAULT_HEIGHT_IN),
    "figure.constrained_layout.use": True,
    "savefig.dpi": PNG_DPI,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
}


def thesis_style() -> None:
    """Apply the thesis look globally; calling it again is harmless."""
    fonts.register()
    sns.set_theme(
        context="paper",
        style="ticks",
        palette=list(OKABE_ITO.values()),
        font=fonts.FAMILY,
        rc=_THESIS_RC,
    )


def _print(fig: Figure, print_method, target: Path, **kwargs) -> None:
    """Draw the figure once into ``target`` at the thesis resolution.

    ``Figure.savefig`` draws a figure that has a layout engine twice (a layout pass, then the file,
    which lays it out again as it draws); the canvas's own print method draws it once. The settings
    savefig would add are the defaults here: no bbox cropping, the figure's own face colour.
    """
    canvas, dpi = fig.canvas, fig.dpi
    try:
        fig.dpi = PNG_DPI  # what savefig sets: the PNG's pixels, the PDF's rasterised parts
        print_method(target, **kwargs)
    finally:
        fig.dpi = dpi
        fig.set_canvas(canvas)


def save_figure(
    fig: Figure, out_dir: str | os.PathLike[str], name: str, caption: str
) -> list[Path]:
    """Write ``<name>.pdf``, ``<name>.png`` (300 dpi) and ``<name>.txt`` (caption), then close.

    The three files are renamed into place together only after all three are written, so a
    failure leaves the previous set (or nothing), never a half-written or mismatched file.
    """
    if not name or Path(name).name != name or name in {".", ".."}:
        raise IsspError(
            f"figure name {name!r} is not a plain file name",
            rule="figure names are file names without folders or suffixes",
            fix="pass e.g. name='national_context' and the folder as out_dir",
        )
    out_dir = Path(out_dir)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png", out_dir / f"{name}.txt"]
    try:
        with contextlib.ExitStack() as stack, mpl.rc_context(_SAVE_RC):
            pdf, png, txt = (stack.enter_context(atomic_path(path)) for path in paths)
            _print(fig, FigureCanvasPdf(fig).print_pdf, pdf, metadata=PDF_METADATA)
            # Drawing the PDF laid the figure out; the PNG keeps that layout rather than computing
            # it again, so both files show the same positions.
            fig.set_layout_engine("none")
            _print(fig, FigureCanvasAgg(fig).print_png, png, metadata=PNG_METADATA)
            txt.write_bytes((caption.strip() + "\n").encode("utf-8"))
    finally:
        plt.close(fig)
    return paths
