"""Thesis figures: one style, one way of saving, one module per figure.

========================  ==========================================================
Figure                    Module and functions (figure, caption)
========================  ==========================================================
1 sample composition      ``sample.plot_sample_composition``, ``sample_composition_caption``
2 benefit and cost items  ``items.plot_item_responses``, ``item_responses_caption``
3 worth by sector, role   ``worth.plot_worth_by_sector_role``, ``worth_caption``
4 model coefficients      ``models.plot_coefficients``, ``coefficients_caption``
5 marginal means          ``models.plot_marginal_means``, ``marginal_means_caption``
6 reciprocity             ``reciprocity.plot_reciprocity``, ``reciprocity_caption``
8 national context        ``national.plot_national_context``, ``national_context_caption``
========================  ==========================================================
"""

from issp_research.figures.show import show
from issp_research.figures.style import (
    DEFAULT_HEIGHT_IN,
    LABELS,
    OKABE_ITO,
    PHASE_ORDER,
    PNG_DPI,
    ROLE_ORDER,
    SECTOR_COLOURS,
    SECTOR_ORDER,
    STATE_TYPE_ORDER,
    TEXT_WIDTH_IN,
    label,
    save_figure,
    thesis_style,
)

__all__ = [
    "DEFAULT_HEIGHT_IN",
    "LABELS",
    "OKABE_ITO",
    "PHASE_ORDER",
    "PNG_DPI",
    "ROLE_ORDER",
    "SECTOR_COLOURS",
    "SECTOR_ORDER",
    "STATE_TYPE_ORDER",
    "TEXT_WIDTH_IN",
    "label",
    "save_figure",
    "show",
    "thesis_style",
]
