"""The thesis style and save_figure: same figure, same bytes; nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from issp_research.errors import IsspError
from issp_research.figures import (
    LABELS,
    PNG_DPI,
    ROLE_ORDER,
    SECTOR_COLOURS,
    SECTOR_ORDER,
    STATE_TYPE_ORDER,
    TEXT_WIDTH_IN,
    save_figure,
    thesis_style,
)

CAPTION = "A small test figure.\nSecond line of the caption."


@pytest.fixture(autouse=True)
def style():
    """Apply the thesis style, and give other tests back the rcParams they had."""
    with mpl.rc_context():
        thesis_style()
        yield


def draw():
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH_IN, 2.5))
    for sector, offset in zip(SECTOR_ORDER, (0, 1), strict=True):
        ax.plot([1, 2, 3], [1 + offset, 3 + offset, 2 + offset], marker="o",
                color=SECTOR_COLOURS[sector], label=LABELS[sector])
    ax.set_title("Worth by sector")
    ax.set_xlabel("Year")
    ax.legend()
    return fig


def test_same_figure_gives_identical_files(tmp_path):
    first = save_figure(draw(), tmp_path / "a", "fig", CAPTION)
    second = save_figure(draw(), tmp_path / "b", "fig", CAPTION)
    assert [p.name for p in first] == ["fig.pdf", "fig.png", "fig.txt"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


SCRIPT = textwrap.dedent("""
    import sys
    import matplotlib.pyplot as plt
    from issp_research.figures import save_figure, thesis_style
    thesis_style()
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [2, 1, 3], label="Independent")
    ax.set_title("Across processes")
    ax.legend()
    save_figure(fig, sys.argv[1], "fig", "Caption.")
""")


def test_bytes_do_not_depend_on_date_or_hash_seed(tmp_path):
    """A rebuild on another day, in another process, must not change the thesis figures."""
    runs = {"a": {"SOURCE_DATE_EPOCH": "1700000000", "PYTHONHASHSEED": "1"},
            "b": {"PYTHONHASHSEED": "2"}}
    for folder, extra in runs.items():
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"} | extra
        subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / folder)],
                       env=env, check=True)
    for suffix in ("pdf", "png"):
        data = {folder: (tmp_path / folder / f"fig.{suffix}").read_bytes() for folder in runs}
        assert data["a"] == data["b"], suffix


def test_metadata_names_the_project_not_versions(tmp_path):
    pdf, png, _ = save_figure(draw(), tmp_path, "fig", CAPTION)
    data = pdf.read_bytes()
    assert b"/Creator (issp-research)" in data
    assert b"/Producer (issp-research)" in data
    assert b"CreationDate" not in data
    assert mpl.__version__.encode() not in data
    with Image.open(png) as image:
        assert image.info["Software"] == "issp-research"


def test_png_is_300_dpi_at_text_width(tmp_path):
    _, png, _ = save_figure(draw(), tmp_path, "fig", CAPTION)
    with Image.open(png) as image:
        assert image.size[0] == round(TEXT_WIDTH_IN * PNG_DPI) == 1890
        assert image.size[1] == round(2.5 * PNG_DPI)
        assert image.info["dpi"] == pytest.approx((PNG_DPI, PNG_DPI), abs=0.01)


def test_caption_file_holds_the_caption(tmp_path):
    *_, txt = save_figure(draw(), tmp_path, "fig", CAPTION)
    assert txt.read_bytes() == (CAPTION + "\n").encode("utf-8")


def test_figure_is_closed(tmp_path):
    fig = draw()
    save_figure(fig, tmp_path, "fig", CAPTION)
    assert not plt.fignum_exists(fig.number)


def test_failure_leaves_no_finished_looking_file(tmp_path, monkeypatch):
    """The PNG fails after the PDF succeeded: no new file appears and the old set stays whole."""
    old = {p.name: p.read_bytes() for p in save_figure(draw(), tmp_path, "fig", "Old caption.")}
    fig = draw()

    def failing_print_png(canvas, path, **kwargs):
        Path(path).write_bytes(b"\x89PNG half written")
        raise OSError("disk full")

    monkeypatch.setattr(FigureCanvasAgg, "print_png", failing_print_png)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, tmp_path, "fig", "New caption.")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old
    assert not plt.fignum_exists(fig.number)
    with pytest.raises(OSError):
        save_figure(fig, tmp_path / "fresh", "fig", CAPTION)
    assert list((tmp_path / "fresh").iterdir()) == []


@pytest.mark.parametrize("name", ["", "sub/fig", "..", "."])
def test_name_must_be_a_plain_file_name(tmp_path, name):
    with pytest.raises(IsspError, match="plain file name"):
        save_figure(draw(), tmp_path, name, CAPTION)


def test_style_sets_print_sizes():
    for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
                "ytick.labelsize", "legend.fontsize"):
        assert 8 <= font_manager.FontProperties(size=mpl.rcParams[key]).get_size_in_points() <= 10
    assert mpl.rcParams["svg.hashsalt"] == "issp-research"


def test_codes_have_colours_and_labels():
    assert SECTOR_ORDER == ["independent", "state"]
    assert ROLE_ORDER == ["senior_leader", "coordinator", "teacher", "governor"]
    for code in [*SECTOR_ORDER, *STATE_TYPE_ORDER]:
        assert SECTOR_COLOURS[code].startswith("#")
    assert SECTOR_COLOURS["independent"] != SECTOR_COLOURS["state"]
    assert len({SECTOR_COLOURS[code] for code in STATE_TYPE_ORDER}) == 3
    assert LABELS["senior_leader"] == "Senior leader"
    assert set(LABELS) == {*SECTOR_ORDER, *STATE_TYPE_ORDER, *ROLE_ORDER}
