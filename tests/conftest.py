"""Shared fixtures: a freshly simulated demo raw folder, a way to check that bad input is refused, and the
thesis figure style."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest

from issp_research import clean, cli, simulate
from issp_research.errors import IsspError
from issp_research.figures import thesis_style


@pytest.fixture(scope="session")
def demo_raw(tmp_path_factory) -> Path:
    """What `make demo-data` writes (seed 2021, scale 1), in a temporary folder; never modify it."""
    folder = tmp_path_factory.mktemp("demo") / "raw"
    simulate.write_raw(simulate.simulate(2021, 1), folder)
    return folder


@pytest.fixture
def raw_copy(demo_raw, tmp_path) -> Path:
    """A copy of the demo raw folder that a test may damage."""
    return Path(shutil.copytree(demo_raw, tmp_path / "raw"))


@pytest.fixture
def refused(tmp_path, capsys):
    """Clean a raw folder through the library and through the CLI; both must refuse it the same way.

    Returns the library's IsspError. Each way must leave its output folder without a file, and the
    CLI must exit with status 2 and print the one message, without a traceback.
    """
    def check(raw: Path) -> IsspError:
        out = tmp_path / "out_library"
        with pytest.raises(IsspError) as caught:
            clean.clean_folder(raw, out, out / "cleaning_report.csv")
        assert not out.exists() or not any(out.iterdir())
        capsys.readouterr()
        cli_out = tmp_path / "out_cli"
        assert cli.main(["clean", "--raw", str(raw), "--out", str(cli_out)]) == 2
        printed = capsys.readouterr()
        assert printed.err == f"error: {caught.value}\n"
        assert "Traceback" not in printed.err and printed.out == ""
        assert not cli_out.exists() or not any(cli_out.iterdir())
        return caught.value

    return check


@pytest.fixture
def thesis_figures():
    """The thesis style for a test's figures; other tests get their rcParams back and no open figure."""
    with mpl.rc_context():
        thesis_style()
        yield
    plt.close("all")
