"""The command line: the data steps for people who work outside notebooks."""

from __future__ import annotations

import pandas as pd
import pytest

from issp_research import cli
from issp_research import dictionary as dd


def test_clean_writes_tables_and_report(demo_raw, tmp_path, capsys):
    out = tmp_path / "processed"
    assert cli.main(["clean", "--raw", str(demo_raw), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.endswith(f"wrote 4 tables to {out} and the report to {out / 'cleaning_report.csv'}\n")
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [f"{name}.parquet" for name in dd.PROCESSED_TABLES] + ["cleaning_report.csv"])
    report = pd.read_csv(out / "cleaning_report.csv")
    assert report.loc[report["rule"] == "duplicate", "rows_affected"].tolist() == [33]
    assert "no_consent participants.csv             19" in printed


def test_clean_writes_the_report_where_asked(demo_raw, tmp_path):
    assert cli.main(["clean", "--raw", str(demo_raw), "--out", str(tmp_path / "p"),
                     "--report", str(tmp_path / "tables" / "report.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "tables" / "report.csv")) == 16


def test_simulate_reports_what_it_wrote(tmp_path, capsys):
    assert cli.main(["simulate", "--seed", "3", "--scale", "0.2", "--out", str(tmp_path / "raw")]) == 0
    assert capsys.readouterr().out == f"wrote 7 files to {tmp_path / 'raw'}\n"


def test_an_output_folder_that_cannot_be_written(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file, not a folder")
    assert cli.main(["simulate", "--scale", "0.2", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'taken'}") and "Traceback" not in err


def test_a_missing_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["clean", "--raw", "data/raw"])
    assert caught.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err
