"""`make bench`: what the pipeline costs against its floor, how rebuilds behave, and national scale.

    .venv/bin/python benchmarks/bench.py [--reps 3] [--budget 900] [--root PROJECT] [--keep]

One run measures (issue 8), each as the median of ``--reps`` repetitions:

``import_seconds``       ``python -c "import pandas, statsmodels.formula.api, seaborn"``: starting the stack.
``floor_seconds``        benchmarks/floor.py: the code of every notebook in one process, no kernels;
                         ``floor_ratio`` = floor / import.
``clean_build_seconds``  ``make clean`` then ``make -j2 all``; ``clean_build_ratio`` = clean build / floor.
``noop_seconds``         ``make all`` again with nothing changed.
``touch_one_figure``     the notebooks ``make -j2 all`` executes after one figure's cell of the figures
                         notebook is edited (a comment added to its code).
``scale``                floor.py with raw data simulated at K = 1, 10, 100 times thesis size: pipeline
                         seconds (simulator and notebooks, without the imports) and peak memory, and
                         ``growth_exponent``, the least-squares slope of log seconds on log K.

Everything runs in scratch copies under /tmp, never in the project: nothing in it is written but
benchmarks/results.json and the table between the bench markers of benchmarks/README.md. The
copies use the venv running this script. Notebooks are found as the Makefile finds them, so the
bench follows renumbered, renamed or added notebooks.

The machine is shared and noisy, so the headline numbers are ratios taken in the same run, with
the repetitions interleaved (import, floor, clean build, then again; then K = 1, 10, 100, then
again): each ratio is the median of the rounds' own ratios, so that a change in load between
rounds hits both sides of a ratio alike. Each round's import is the median of three. Every child
has a time limit and the whole run a budget (``--budget`` seconds): after the first round, a
repetition is taken only if the budget still allows it (K=100's are the first dropped), so it
always stops by itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import floor  # benchmarks/floor.py: the floor itself, and how notebooks are found

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
RESULTS = HERE / "results.json"
README = HERE / "README.md"
BEGIN, END = "<!-- bench:begin (written by benchmarks/bench.py) -->", "<!-- bench:end -->"

IMPORT_STACK = "import " + ", ".join(floor.STACK)
#: Bare imports per repetition of import_seconds (cheap, and the noisiest of the measures).
IMPORTS_PER_ROUND = 3
SCALES = (1, 10, 100)
#: The issue's targets: result key -> (limit, wording). touch_one_figure is checked apart (a set, not a number).
LIMITS = {
    "floor_ratio": (6.0, "floor / import <= 6 (K=1)"),
    "clean_build_ratio": (2.0, "clean make -j2 all / floor <= 2.0"),
    "noop_seconds": (0.3, "no-op make all <= 0.3 s"),
    "k100_seconds": (60.0, "K=100 pipeline <= 60 s"),
    "k100_peak_mib": (2048.0, "K=100 peak memory <= 2 GiB"),
    "growth_exponent": (1.2, "growth exponent (seconds ~ K^b) <= 1.2"),
}
#: What the Makefile exports to its recipes; given to every measured child, the import and floor too:
#: the floor's numerical settings, and what only a new process can take.
MAKE_EXPORTS = floor.MAKE_ENVIRONMENT | {"PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
#: Left out of the children's environment: a parent make's jobserver and flags (under `make bench`,
#: `make -j2` in a copy would otherwise join the parent's jobserver), anything that would point a
#: child at another library or project, and PYTHONDONTWRITEBYTECODE, with which every process would
#: recompile the copy's library from source, as no usual machine does (the venv's packages are
#: compiled already, so bytecode is written into the scratch copy only).
DROPPED = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHONPATH", "ISSP_ROOT",
           "PYTHONDONTWRITEBYTECODE")
#: Not copied into a scratch copy: the venv (linked instead), build state, caches.
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", ".make", "executed", "__pycache__", ".pytest_cache",
                                    ".hypothesis", ".ruff_cache", "*.egg-info", ".ipynb_checkpoints")
#: What `python -m issp_research.build run` prints before executing a notebook.
EXECUTING = re.compile(r"^executing (\S+)\s*$", re.MULTILINE)


class BenchError(Exception):
    pass


@dataclass
class Run:
    seconds: float
    returncode: int
    output: str
    peak_mib: float
    timed_out: bool

    def check(self, what: str) -> Run:
        if self.timed_out:
            raise BenchError(f"{what}: stopped at its time limit after {self.seconds:.0f} s")
        if self.returncode != 0:
            tail = "\n".join(self.output.rstrip().splitlines()[-25:])
            raise BenchError(f"{what}: exit status {self.returncode}\n{tail}")
        return self


def run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> Run:
    """Run a child in its own process group: wall seconds, output, and peak memory of the child (wait4)."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = threading.Event()

        def stop() -> None:  # the whole group: make's kernels must not outlive it
            timed_out.set()
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(max(timeout, 1.0), stop)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        return Run(seconds, child.returncode, output.read().decode(errors="replace"), usage.ru_maxrss / 1024,
                   timed_out.is_set())


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def slope(points: dict[float, float]) -> float | None:
    """Least-squares slope of log(seconds) on log(K)."""
    usable = [(math.log(k), math.log(s)) for k, s in points.items() if s and s > 0]
    if len(usable) < 2:
        return None
    mx = sum(x for x, _ in usable) / len(usable)
    my = sum(y for _, y in usable) / len(usable)
    return sum((x - mx) * (y - my) for x, y in usable) / sum((x - mx) ** 2 for x, _ in usable)


def copy_project(source: Path, target: Path, venv: Path) -> Path:
    """A scratch copy of the working tree (uncommitted edits included) that builds with `venv`."""
    shutil.copytree(source, target, ignore=NOT_COPIED)
    (target / ".venv").symlink_to(venv)
    for name in ("requirements.lock", "pyproject.toml"):  # older than .venv/.installed: make does not reinstall
        os.utime(target / name, (0, 0))
    return target


def figure_cell(copy: Path) -> tuple[Path, int, int]:
    """The figures notebook and its first figure's cell: the edit behind touch_one_figure.

    The figures notebook is the one whose code calls save_figure most often (the later one on a tie),
    and the cell edited is its first code cell that calls save_figure, so the choice follows
    renumbered or renamed notebooks and added figures. Returns the notebook, the cell's index among
    all cells, and its number among the code cells (as in the floor's timings).
    """
    calls = {path: sum(source.count("save_figure(") for source, _ in floor.code_cells(path))
             for path in floor.notebooks(copy)}
    notebook = max(reversed(list(calls)), key=calls.get) if calls else None
    if notebook is None or calls[notebook] == 0:
        raise BenchError("no notebook calls save_figure: no figure to edit")
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"]
    number = next(n for n, i in enumerate(code, 1) if "save_figure(" in "".join(cells[i]["source"]))
    return notebook, code[number - 1], number


class Bench:
    def __init__(self, root: Path, reps: int, budget: float, keep: bool) -> None:
        self.root, self.reps, self.keep = root, reps, keep
        self.started = time.perf_counter()
        self.deadline = self.started + budget
        self.scratch = Path(tempfile.mkdtemp(prefix="issp-bench-"))
        self.python = sys.executable
        self.env = {key: value for key, value in os.environ.items() if key not in DROPPED} | MAKE_EXPORTS
        self.copy = self.scale_root = Path()
        self.samples: dict[str, list] = {}  # measure -> one value per repetition
        self.failed: set[str] = set()  # measures that stopped with an error
        self.stopped: set[str] = set()  # measures that the budget cut short
        self.results: dict = {
            "measured_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_at_start": _load()},
            "repetitions": reps, "notes": [],
        }

    def remaining(self) -> float:
        return self.deadline - time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f} s] {message}", flush=True)

    def note(self, message: str) -> None:
        self.results["notes"].append(message)
        self.log("note: " + message)

    def env_for(self, copy: Path) -> dict[str, str]:
        """As issp_research.verify.scratch_env: the copy imports its own library and is its own root."""
        return self.env | {"PYTHONPATH": str(copy / "src"), "ISSP_ROOT": str(copy)}

    def make(self, copy: Path, *args: str, timeout: float = 600) -> Run:
        return run(["make", "--no-print-directory", *args], cwd=copy, env=self.env_for(copy),
                   timeout=min(timeout, max(self.remaining(), 60)))

    def add(self, measure: str, value: float | dict, what: str) -> None:
        self.samples.setdefault(measure, []).append(value)
        seconds = value["seconds"] if isinstance(value, dict) else value
        self.log(f"{what}: {seconds:.3f} s")

    # --- one repetition of each measure --------------------------------------------------------

    def import_once(self) -> float:
        """The median of IMPORTS_PER_ROUND bare imports: one import takes 2 to 4 s and varies by a
        third from one second to the next on this machine, more than the floor (18 s) does."""
        return median([run([self.python, "-c", IMPORT_STACK], cwd=self.scratch, env=self.env,
                           timeout=180).check("importing the stack").seconds for _ in range(IMPORTS_PER_ROUND)])

    def floor_once(self, copy: Path, scale: int | None = None) -> dict:
        """floor.py in `copy`, from no outputs (as after `make clean`); wall seconds, stages, peak MiB."""
        self.make(copy, "clean", timeout=60).check("make clean")
        timings = self.scratch / "timings.json"
        timings.unlink(missing_ok=True)
        command = [self.python, str(HERE / "floor.py"), str(copy), "--timings", str(timings)]
        if scale is not None:
            command += ["--scale", str(scale)]
        what = "the floor (benchmarks/floor.py)" if scale is None else f"the pipeline at K={scale}"
        result = run(command, cwd=copy, env=self.env_for(copy), timeout=min(600, max(self.remaining(), 90)))
        found = json.loads(timings.read_text(encoding="utf-8")) if timings.is_file() else {}
        if result.timed_out:
            if scale is not None:  # still an answer for the targets: the pipeline took longer than this
                self.results.setdefault("scale_stopped_after_seconds", {})[str(scale)] = result.seconds
            raise BenchError(f"{what}: stopped at its time limit after {result.seconds:.0f} s, "
                             f"stages done: {', '.join(found.get('stages', {})) or 'none'}")
        result.check(what)
        stages = found["stages"]
        return {"seconds": result.seconds, "peak_mib": result.peak_mib, "stages": stages,
                "pipeline_seconds": sum(s for stage, s in stages.items() if stage not in ("imports", "report")),
                "rows": found.get("rows"), "cells": found["cells"]}

    def clean_build_once(self) -> float:
        self.make(self.copy, "clean", timeout=60).check("make clean")
        result = self.make(self.copy, "-j2", "all").check("clean make -j2 all")
        executed = EXECUTING.findall(result.output)
        expected = [path.stem for path in floor.notebooks(self.copy)]
        if sorted(executed) != expected:
            self.note(f"a clean build executed {executed}, not every notebook ({expected})")
        return result.seconds

    # --- the sections ----------------------------------------------------------------------------

    def measure(self, name: str, take, rep: int) -> None:
        """One repetition (take() returns its value), unless it failed before or the budget is short."""
        if name in self.failed or name in self.stopped:
            return
        last = self.samples.get(name)
        if rep > 1 and last:
            needed = last[-1]["seconds"] if isinstance(last[-1], dict) else last[-1]
            if self.remaining() < 1.2 * needed:
                self.stopped.add(name)
                self.note(f"{name}: {len(last)} repetition(s), the budget left no time for more")
                return
        try:
            value = take()
            if value is not None:
                self.add(name, value, f"{name} {rep}")
        except BenchError as error:
            self.failed.add(name)
            self.note(f"{name} failed: {error}")

    def rebuilds(self) -> None:
        """After a clean build: no-op make all, then make -j2 all after one figure's cell is edited."""
        for rep in range(1, self.reps + 1):
            result = self.make(self.copy, "all", timeout=120).check("no-op make all")
            if EXECUTING.findall(result.output):
                self.note(f"no-op make all {rep} executed {EXECUTING.findall(result.output)}")
            self.add("noop", result.seconds, f"noop {rep}")

        notebook, index, number = figure_cell(self.copy)
        original = notebook.read_text(encoding="utf-8")
        content = json.loads(original)
        cell = content["cells"][index]
        source = "".join(cell["source"])
        cell["source"] = source + ("" if source.endswith("\n") else "\n") + "# edited by benchmarks/bench.py"
        notebook.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        try:
            result = self.make(self.copy, "-j2", "all").check(f"make -j2 all after editing {notebook.stem}")
        finally:  # later clean builds measure the notebook as it is in the project
            notebook.write_text(original, encoding="utf-8")
        executed = EXECUTING.findall(result.output)
        self.results["touch_one_figure"] = {
            "edited": f"notebooks/{notebook.name}, code cell {number} (its first save_figure cell): a comment added",
            "notebook": notebook.stem, "executed": executed, "seconds": result.seconds}
        self.log(f"after editing {notebook.stem}: executed {executed} in {result.seconds:.2f} s")

    def run(self) -> dict:
        try:
            self.log(f"scratch copies of {self.root} in {self.scratch}")
            venv = Path(sys.prefix)
            self.copy = copy_project(self.root, self.scratch / "project", venv)
            self.scale_root = copy_project(self.root, self.scratch / "scale", venv)
            self.results["notebooks"] = [path.stem for path in floor.notebooks(self.copy)]
            # Untimed: compile the copies' library once (as any earlier run would have), and read the
            # stack from disk once, so that the first repetition does not pay for a cold cache.
            for copy in (self.copy, self.scale_root):
                run([self.python, "-m", "compileall", "-q", str(copy / "src")], cwd=copy, env=self.env,
                    timeout=120).check("compiling the library")
            self.import_once()
            self.rounds()
        except BenchError as error:
            self.results["error"] = str(error)
            self.log(f"error: {error}")
        finally:
            if self.keep:
                self.log(f"kept {self.scratch}")
            else:
                shutil.rmtree(self.scratch, ignore_errors=True)
        self.summarise()
        return self.results

    def rounds(self) -> None:
        """The measures behind the ratios first, then the scale, each interleaved round by round.

        The ratios need every repetition and cost little; K=100 is the longest part of the bench, so
        its later repetitions are the first the budget drops. The no-op and the edit come right after
        the first clean build, which they need.
        """
        for rep in range(1, self.reps + 1):
            self.measure("import", self.import_once, rep)
            self.measure("floor", lambda: self.floor_once(self.copy), rep)
            self.measure("clean_build", self.clean_build_once, rep)
            if rep == 1 and "clean_build" not in self.failed:
                self.measure("rebuilds", self.rebuilds, rep)
        for rep in range(1, self.reps + 1):
            for k in SCALES:
                self.measure(f"K={k}", lambda k=k: self.floor_once(self.scale_root, k), rep)

    # --- the results -----------------------------------------------------------------------------

    def summarise(self) -> None:
        r, samples = self.results, self.samples
        floors = samples.get("floor", [])
        r["import_seconds"] = median(samples.get("import", []))
        r["floor_seconds"] = median([f["seconds"] for f in floors])
        r["clean_build_seconds"] = median(samples.get("clean_build", []))
        # Each ratio is the median of the rounds' own ratios: a round measures both of its sides within
        # a minute or two, so a change in the machine's load between rounds cancels out. A measure that
        # failed or ran out of budget has no later rounds, so the lists agree up to the shorter one.
        floor_seconds = [f["seconds"] for f in floors]
        paired = {"floor_ratio": zip(floor_seconds, samples.get("import", []), strict=False),
                  "clean_build_ratio": zip(samples.get("clean_build", []), floor_seconds, strict=False)}
        r["ratio_runs"] = {name: [ratio(a, b) for a, b in pairs] for name, pairs in paired.items()}
        r["floor_ratio"] = median(r["ratio_runs"]["floor_ratio"])
        r["clean_build_ratio"] = median(r["ratio_runs"]["clean_build_ratio"])
        r["noop_seconds"] = median(samples.get("noop", []))
        r["runs"] = {"import": samples.get("import", []), "floor": [f["seconds"] for f in floors],
                     "clean_build": samples.get("clean_build", []), "noop": samples.get("noop", [])}
        if floors:
            r["floor_stages"] = {stage: median([f["stages"][stage] for f in floors]) for stage in floors[0]["stages"]}
            r["floor_peak_mib"] = max(f["peak_mib"] for f in floors)
        scale = {}
        for k in SCALES:
            done = samples.get(f"K={k}", [])
            if not done:
                continue
            slowest = max(((notebook, i + 1, s) for notebook, cells in done[0]["cells"].items()
                           for i, s in enumerate(cells)), key=lambda cell: cell[2])
            scale[str(k)] = {
                "repetitions": len(done),
                "seconds": median([d["pipeline_seconds"] for d in done]),
                "runs": [d["pipeline_seconds"] for d in done],
                "wall_seconds": median([d["seconds"] for d in done]),
                "peak_mib": max(d["peak_mib"] for d in done),
                "stages": {stage: median([d["stages"][stage] for d in done]) for stage in done[0]["stages"]},
                "rows": done[0]["rows"],
                "slowest_cell": {"notebook": slowest[0], "code_cell": slowest[1], "seconds": slowest[2]},
            }
        r["scale"] = scale
        seconds = {k: scale[str(k)]["seconds"] for k in SCALES if str(k) in scale}
        r["growth_exponent"] = slope(seconds) if len(seconds) == len(SCALES) else None
        if 10 in seconds and 100 in seconds:
            r["growth_exponent_10_100"] = slope({10: seconds[10], 100: seconds[100]})
            r["growth_exponent_10_100_by_stage"] = {
                stage: slope({10: scale["10"]["stages"][stage], 100: scale["100"]["stages"][stage]})
                for stage in scale["100"]["stages"] if stage in scale["10"]["stages"] and stage != "imports"}
        r["machine"]["load_average_at_end"] = _load()
        r["total_seconds"] = time.perf_counter() - self.started
        r["targets"] = targets(r)
        r["failed"] = sorted(self.failed)


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def targets(results: dict) -> dict:
    scale100 = results.get("scale", {}).get("100", {})
    values = {key: results.get(key) for key in LIMITS}
    values["k100_seconds"], values["k100_peak_mib"] = scale100.get("seconds"), scale100.get("peak_mib")
    checked = {key: {"target": wording, "value": values[key],
                     "met": None if values[key] is None else values[key] <= limit}
               for key, (limit, wording) in LIMITS.items()}
    stopped = results.get("scale_stopped_after_seconds", {}).get("100")
    if values["k100_seconds"] is None and stopped and stopped > LIMITS["k100_seconds"][0]:
        checked["k100_seconds"].update(value=f"> {stopped:.0f} (stopped)", met=False)
    touch = results.get("touch_one_figure")
    checked["touch_one_figure"] = {
        "target": "editing the figures notebook reruns only the figures notebook",
        "value": touch and touch["executed"], "met": touch and touch["executed"] == [touch["notebook"]]}
    return checked


# --- writing -------------------------------------------------------------------------------------


def rounded(value):
    """Results as written: 3 decimals, so that results.json does not carry the timer's noise digits."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def table(results: dict) -> str:
    """The README block: ratios and targets first, then the seconds behind them."""
    r, scale, checked = results, results.get("scale", {}), results["targets"]

    def met(key: str) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[checked[key]["met"]]

    touch = r.get("touch_one_figure") or {}
    k100 = scale.get("100", {})
    rows = [
        ("floor_ratio = floor / import", "<= 6", _fmt(r.get("floor_ratio"), 3), met("floor_ratio")),
        ("clean_build_ratio = clean make -j2 all / floor", "<= 2.0", _fmt(r.get("clean_build_ratio"), 3),
         met("clean_build_ratio")),
        ("noop_seconds (no-op make all)", "<= 0.3 s", _fmt(r.get("noop_seconds"), 3), met("noop_seconds")),
        (f"touch_one_figure: executed after editing {touch.get('notebook', 'the figures notebook')}",
         "that notebook only", _fmt(touch.get("executed")), met("touch_one_figure")),
        ("K=100 pipeline seconds", "<= 60 s", _fmt(checked["k100_seconds"]["value"], 1), met("k100_seconds")),
        ("K=100 peak memory (MiB)", "<= 2048", _fmt(k100.get("peak_mib"), 0), met("k100_peak_mib")),
        ("growth_exponent (K = 1, 10, 100)", "<= 1.2", _fmt(r.get("growth_exponent")), met("growth_exponent")),
    ]
    lines = ["| measure | target | measured | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]

    seconds = [("import", r.get("import_seconds")), ("floor", r.get("floor_seconds")),
               ("clean build", r.get("clean_build_seconds")), ("edit one figure, rebuild", touch.get("seconds"))]
    lines += ["", "Seconds behind the ratios (medians; they vary with the machine's load): "
              + ", ".join(f"{name} {_fmt(value)}" for name, value in seconds) + "."]
    if r.get("ratio_runs"):
        lines.append("The ratios round by round: " + "; ".join(
            f"{name} {', '.join(_fmt(value) for value in values)}" for name, values in r["ratio_runs"].items()) + ".")
    if r.get("floor_stages"):
        lines.append("Floor by stage (s): " + ", ".join(f"{s} {v:.2f}" for s, v in r["floor_stages"].items()) + ".")
    lines += ["", "| K | survey rows | pipeline s | peak MiB | repetitions | slowest cell |",
              "|---|---|---|---|---|---|"]
    for k in SCALES:
        entry = scale.get(str(k))
        if entry:
            slowest = entry["slowest_cell"]
            respondents = (entry.get("rows") or {}).get("survey", "")
            lines.append(f"| {k} | {respondents} | {entry['seconds']:.1f} | {entry['peak_mib']:.0f} | "
                         f"{entry['repetitions']} | {slowest['notebook']} code cell {slowest['code_cell']}, "
                         f"{slowest['seconds']:.1f} s |")
        else:
            lines.append(f"| {k} | | not measured | | 0 | |")
    if r.get("growth_exponent_10_100") is not None:
        lines += ["", f"Growth exponent K = 10 to 100: {r['growth_exponent_10_100']:.2f}; by stage: "
                  + ", ".join(f"{s} {v:.2f}" for s, v in r["growth_exponent_10_100_by_stage"].items()
                              if v is not None) + "."]
    machine = r["machine"]
    lines += ["", f"Measured {r['measured_at']} on {machine['cpus']} CPUs, Python {machine['python']}, load "
              f"average {_fmt(machine.get('load_average_at_start'))} at the start and "
              f"{_fmt(machine.get('load_average_at_end'))} at the end; median of up to {r['repetitions']} "
              f"repetitions; notebooks {_fmt(r.get('notebooks'))}; {r['total_seconds']:.0f} s in all."]
    lines += [f"Note: {note.splitlines()[0]}" for note in r.get("notes", [])]
    if r.get("error"):
        lines.append(f"Error: {r['error'].splitlines()[0]}")
    return "\n".join(lines)


def write(results: dict, results_file: Path, readme: Path) -> None:
    results = rounded(results)
    tmp = results_file.with_name(results_file.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, results_file)
    block = f"{BEGIN}\n{table(results)}\n{END}"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n## Latest run of `make bench`\n\n" + block + "\n"
    tmp = readme.with_name(readme.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measure (median; default 3)")
    parser.add_argument("--budget", type=float, default=900, help="seconds for the whole run (default 900)")
    parser.add_argument("--root", type=Path, default=PROJECT, help="the project to copy and measure (default: this)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the results (JSON)")
    parser.add_argument("--readme", type=Path, default=README, help="README whose bench table is rewritten")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies (to look at the builds)")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    results = Bench(args.root.resolve(), args.reps, args.budget, args.keep).run()
    write(results, args.results, args.readme)
    print(table(rounded(results)))
    return 1 if results.get("error") or results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
