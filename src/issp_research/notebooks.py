"""Refreshing the reference outputs that nbval compares against.

nbval runs each notebook in notebooks/ and compares its outputs with the stored ones, so the stored
ones must come from the real build. `refresh` copies each cell's outputs from the executed notebook
(papermill's copy, which has an extra injected-parameters cell) into the source notebook, leaving
the sources as the author wrote them.
"""

from __future__ import annotations

import sys

from . import atomic, paths
from .errors import IsspError

_KEEP_METADATA = ("tags",)


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
    for target, done in zip(source.cells, cells):
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


def main(argv: list[str]) -> int:
    command, *names = argv
    if command != "refresh":
        print("usage: python -m issp_research.notebooks refresh NOTEBOOK...", file=sys.stderr)
        return 2
    try:
        for name in names:
            refresh(name)
            print(f"refreshed notebooks/{name}.ipynb")
    except IsspError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
