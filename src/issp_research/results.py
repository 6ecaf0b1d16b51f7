"""Tidy results handed from one notebook to the next, as Parquet files in a results folder.

The models notebook saves its tables here and the figures notebook reads them back, so a figure can
be redrawn without refitting a model, and every number in a figure has a file behind it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import atomic
from .errors import IsspError

#: Results are stored to this many decimals: BLAS kernels differ in the last bits between CPUs,
#: and rounding keeps the stored files (and the figures drawn from them) identical across machines.
DECIMALS = 9


def save(folder: str | Path, **frames: pd.DataFrame) -> list[Path]:
    written = []
    for name, frame in frames.items():
        path = Path(folder) / f"{name}.parquet"
        floats = frame.select_dtypes("float").columns
        frame = frame.assign(**{column: frame[column].round(DECIMALS) for column in floats})
        with atomic.atomic_path(path) as tmp:
            frame.reset_index(drop=True).to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
        written.append(path)
    return written


def load(folder: str | Path, *names: str) -> dict[str, pd.DataFrame]:
    frames = {}
    for name in names:
        path = Path(folder) / f"{name}.parquet"
        try:
            frames[name] = pd.read_parquet(path, engine="pyarrow")
        except FileNotFoundError:
            raise IsspError("result not found", file=path, rule="the notebook that makes it runs first",
                            fix="run `make all`") from None
        except Exception as error:  # pyarrow raises several unrelated types for a damaged file
            raise IsspError(f"not a readable Parquet file ({type(error).__name__})", file=path,
                            fix="delete it and run `make all`") from None
    return frames
