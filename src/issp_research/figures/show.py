"""Showing a saved figure in a notebook: the PNG that was written, and its caption."""

from __future__ import annotations

from pathlib import Path


def show(written: list[Path]) -> None:
    """Display the saved PNG and caption, so the notebook shows exactly the thesis file."""
    from IPython.display import Image, Markdown, display

    png = next(path for path in written if path.suffix == ".png")
    caption = next(path for path in written if path.suffix == ".txt")
    display(Image(filename=str(png), width=720))
    display(Markdown(f"*{caption.read_text(encoding='utf-8').strip()}*"))
