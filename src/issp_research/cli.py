"""The `issp-research` command line: the library's steps for people who work outside notebooks.

Expected mistakes print one message (where, rule, fix) and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import IsspError


def _simulate(args: argparse.Namespace) -> None:
    from . import simulate

    config = simulate.load_config(args.config) if args.config else None
    written = simulate.write_raw(simulate.simulate(args.seed, args.scale, config), args.out)
    print(f"wrote {len(written)} files to {args.out}")


def _clean(args: argparse.Namespace) -> None:
    from . import clean

    report = args.report or Path(args.out) / "cleaning_report.csv"
    cleaned = clean.clean_folder(args.raw, args.out, report)
    print(cleaned.report.to_string(index=False))
    print(f"wrote {len(cleaned.tables)} tables to {args.out} and the report to {report}")


def _codebook(args: argparse.Namespace) -> None:
    from . import qda

    qda.export_codebook(args.qdc)
    print(f"wrote {args.qdc}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="issp-research", description="ISSP research compendium: data steps.")
    commands = root.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser("simulate", help="write a synthetic raw dataset with known truths")
    simulate.add_argument("--seed", type=int, default=2021)
    simulate.add_argument("--scale", type=float, default=1, help="1 = thesis size (~30 partnerships), 100 = national")
    simulate.add_argument("--config", type=Path, help="truths config (default: the shipped simulation.yaml)")
    simulate.add_argument("--out", type=Path, required=True)
    simulate.set_defaults(run=_simulate)
    clean = commands.add_parser("clean", help="verify, clean, pseudonymise and validate a raw folder")
    clean.add_argument("--raw", type=Path, required=True)
    clean.add_argument("--out", type=Path, required=True)
    clean.add_argument("--report", type=Path, help="cleaning report CSV (default: OUT/cleaning_report.csv)")
    clean.set_defaults(run=_clean)
    codebook = commands.add_parser("codebook", help="export the study's codebook for QDA software")
    codebook.add_argument("--qdc", type=Path, required=True, help="REFI-QDA codebook file to write")
    codebook.set_defaults(run=_codebook)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except IsspError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. an output folder that cannot be written: the person's to fix
        print(f"error: {error.filename}: {error.strerror}\n  fix: check that the folder can be written",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
