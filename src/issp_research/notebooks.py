"""Notebooks: new ones from the template, and refreshing the reference outputs nbval compares against.

nbval runs each notebook in notebooks/ and compares its outputs with the stored ones, so the stored
ones must come from the real build. `refresh` copies each cell's outputs from the executed notebook
(papermill's copy, which has an extra injected-parameters cell) into the source notebook, leaving
the sources as the author wrote them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import atomic, paths
from .errors import IsspError

_KEEP_METADATA = ("tags",)
TEMPLATE = Path(__file__).resolve().parent / "templates" / "notebook.ipynb"


def refresh(name: str) -> None:
    import nbformat

    source_path = paths.NOTEBOOKS / f"{name}.ipynb"
    executed_path = paths.EXECUTED / f"{name}.ipynb"
    source = nbformat.read(source_path, as_version=4)
    executed = nbformat.read(executed_path, as_version=4)
    cells = [cell for cell in executed.cells if "injected-parameters" not in cell.metadata.get("tags", [])]
    if [cell.source for cell in cells] != [cell.source for cell in source.cells]:
        raise IsspError("the executed notebook does not match the source", file=executed_path,
                        rule="references come from a build of the current notebook", fix="run `make all` first")
    count = 0
    for target, done in zip(source.cells, cells, strict=True):
        target.metadata = {key: value for key, value in target.metadata.items() if key in _KEEP_METADATA}
        if target.cell_type == "code":
            count += 1
            target.execution_count = count
            target.outputs = done.outputs
            for output in target.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
                output.pop("metadata", None) if output.get("output_type") == "stream" else None
    atomic.write_text(source_path, nbformat.writes(source) + "\n")


def new(name: str) -> Path:
    """A new notebook from the template: tagged parameters cell, standard imports, the figure style."""
    import re

    if not re.fullmatch(r"\d\d_[a-z0-9_]+", name):
        raise IsspError(f"'{name}' is not a notebook name", rule="two digits, an underscore, then lower-case words "
                        "joined by underscores (the digits set the build order)", fix="e.g. NAME=05_my_analysis")
    target = paths.NOTEBOOKS / f"{name}.ipynb"
    if target.exists():
        raise IsspError("the notebook exists already", file=paths.relative(target), fix="choose another name")
    number, title = name.split("_", 1)
    text = TEMPLATE.read_text(encoding="utf-8").replace("{number}", number).replace(
        "{title}", title.replace("_", " ").capitalize())
    atomic.write_text(target, text)
    return target


def check(path: Path) -> None:
    """A notebook keeps the outputs of its last build: every code cell was executed, in order.

    Stripping outputs (an editor setting, nbstripout) would leave nbval nothing to compare.
    """
    import nbformat

    book = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in book.cells if cell.cell_type == "code"]
    if None in counts or counts != list(range(1, len(counts) + 1)):
        raise IsspError("the notebook's stored outputs are missing or out of order", file=paths.relative(path),
                        rule="notebooks keep the outputs of their last build (nbval compares them)",
                        fix="run `make refresh-references`")


def main(argv: list[str]) -> int:
    command, *names = argv or [""]
    if command not in ("refresh", "new", "check"):
        print("usage: python -m issp_research.notebooks {refresh|new|check} NOTEBOOK...", file=sys.stderr)
        return 2
    try:
        for name in names:
            if command == "check":
                check(Path(name))
            elif command == "new":
                print(f"created {paths.relative(new(name))}: run `make all`, then `make refresh-references` "
                      "to store its outputs for nbval")
            else:
                refresh(name)
                print(f"refreshed notebooks/{name}.ipynb")
    except IsspError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
