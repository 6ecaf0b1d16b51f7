"""Thesis figures: one style, one way of saving, one module per figure."""

from issp_research.figures.show import show
from issp_research.figures.style import (
    DEFAULT_HEIGHT_IN,
    LABELS,
    OKABE_ITO,
    PNG_DPI,
    ROLE_ORDER,
    SECTOR_COLOURS,
    SECTOR_ORDER,
    STATE_TYPE_ORDER,
    TEXT_WIDTH_IN,
    save_figure,
    thesis_style,
)

__all__ = [
    "DEFAULT_HEIGHT_IN",
    "LABELS",
    "OKABE_ITO",
    "PNG_DPI",
    "ROLE_ORDER",
    "SECTOR_COLOURS",
    "SECTOR_ORDER",
    "STATE_TYPE_ORDER",
    "TEXT_WIDTH_IN",
    "save_figure",
    "show",
    "thesis_style",
]
