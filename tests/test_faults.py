"""Fault cases through the whole build: interrupted runs, damaged data, bad parameters.

Each case runs `make` in a scratch copy of the project (never in the work tree) and checks what a
person would see: the exit status, one message without a traceback, which notebooks ran, and that
the outputs end byte-identical to the committed ones. Readers' unit-level refusals are tested in
test_io.py, test_clean.py, test_qda.py and test_readers_property.py; this file is about the build.

Time on 2 cores (about 1.5 to 2.5 minutes): one interrupted chain (about two builds), one notebook run
per data fault, two partial runs of the models notebook for the parameter faults found only inside a
notebook; the parameter checks and the other cases take a second or two each. The data faults share
one scratch copy that is marked up to date from the committed outputs rather than built.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from issp_research import build, paths, verify

ROOT = paths.ROOT
NOTEBOOKS = build.notebooks()
pytestmark = pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(),
                                reason="needs the project's .venv (make setup)")

#: Outputs that grow during a build: the manifest gains each notebook's entries as it finishes,
#: and the report is written last. Every other output is written whole or not at all.
GROWING = {"analysis/MANIFEST.json", "analysis/index.html"}
#: How a temporary file of atomic.atomic_path is named: hidden, with ".tmp" before the suffix.
TEMPORARY = re.compile(r"^\..+\.tmp(\.\w+)?$")
TIMEOUT = 600
#: What an output that differs from the committed one may mean, besides the fault case under test.
STALE = ("if `make verify` reports the same files, the committed outputs are out of date with the code, "
         "and the fault case is not the cause")


# ------------------------------------------------------------------------------------------------
# Running make in a scratch copy
# ------------------------------------------------------------------------------------------------

def _executed(stdout: str) -> list[str]:
    return [line.removeprefix("executing ") for line in stdout.splitlines() if line.startswith("executing ")]


def _make(copy: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(["make", "--no-print-directory", *args], cwd=copy, env=verify.scratch_env(copy),
                          capture_output=True, text=True, timeout=TIMEOUT)
    done.executed = _executed(done.stdout)
    return done


def _ok(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.executed


def _snapshot(copy: Path) -> dict[str, bytes]:
    return {path: (copy / path).read_bytes() for path in verify.outputs(copy)}


def _differences(copy: Path, committed: dict[str, bytes]) -> list[str]:
    """Outputs that are not byte-identical to the committed ones (empty when all are)."""
    now = verify.outputs(copy)
    return [f"{verdict} {path}" for verdict, path in verify.compare(
        {path: hashlib.sha256(data).hexdigest() for path, data in committed.items()}, now)
        if verdict != "identical"]


def _pause(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def _processes_of(copy: Path) -> list[int]:
    """Processes started for this copy (make, the build, Jupyter kernels): they carry its ISSP_ROOT."""
    marker = f"ISSP_ROOT={copy}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _end_processes_of(copy: Path) -> None:
    """Stop any process this test started for the copy that outlived it (by pid, one by one)."""
    for pid in _processes_of(copy):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _settle(copy: Path) -> None:
    """Mark every notebook up to date with the outputs now in the copy, as a finished build leaves it.

    Writes each notebook's stamp from its current fingerprint and an executed copy exactly as new as
    the stamp, so `make all` runs nothing until a test changes something (a rewritten stamp is newer).
    Cheaper than a full build, and checked by `test_settled_copy_builds_nothing`.
    """
    subprocess.run([str(copy / ".venv" / "bin" / "python"), "-c",
                    "from issp_research import build\nfor name in build.notebooks(): build.stamp(name)"],
                   cwd=copy, env=verify.scratch_env(copy), check=True, timeout=TIMEOUT)
    executed = copy / "analysis" / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        stamp = (copy / ".make" / f"{name}.stamp").stat().st_mtime_ns
        target = executed / f"{name}.ipynb"
        shutil.copyfile(copy / "notebooks" / f"{name}.ipynb", target)
        os.utime(target, ns=(stamp, stamp))  # not older than its stamp; any later stamp is newer
        (executed / f"{name}.failed.ipynb").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A scratch copy with the committed outputs and every notebook up to date; tests put it back."""
    copy = verify.scratch_copy(tmp_path_factory.mktemp("built") / "project", keep_outputs=True)
    _settle(copy)
    yield copy, _snapshot(copy)
    _end_processes_of(copy)


@pytest.fixture
def settled(built):
    """The shared up-to-date copy; after the test, its outputs are restored and it is settled again."""
    copy, committed = built
    yield copy, committed
    _end_processes_of(copy)
    for path, data in committed.items():
        if not (copy / path).is_file() or (copy / path).read_bytes() != data:
            (copy / path).parent.mkdir(parents=True, exist_ok=True)
            (copy / path).write_bytes(data)
    _settle(copy)


def _refused_before_any_notebook(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode != 0, done.stdout
    assert message in done.stderr, done.stderr
    assert "error: " in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.executed == [], "a notebook ran before the mistake was reported"


def _refused_in_a_cell(copy: Path, done: subprocess.CompletedProcess, notebook: str, message: str) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert re.search(rf"notebooks/{notebook}\.ipynb: cell \d+ failed: IsspError: .*{re.escape(message)}",
                     done.stderr), done.stderr
    failed = f"analysis/executed/{notebook}.failed.ipynb"
    assert failed in done.stderr, "the message says where the failing cell is"
    shown = json.loads((copy / failed).read_text(encoding="utf-8"))
    assert any(output.get("ename") == "IsspError" for cell in shown["cells"] for output in cell.get("outputs", [])), \
        "the failed copy shows the failing cell's error"
    return done.stderr


# ------------------------------------------------------------------------------------------------
# 1. Interrupting make all
# ------------------------------------------------------------------------------------------------

class _Run:
    """`make all` in its own process group, its output read as it comes."""

    def __init__(self, copy: Path) -> None:
        self.copy = copy
        self.started = time.time_ns()
        self.process = subprocess.Popen(["make", "--no-print-directory", "all"], cwd=copy,
                                        env=verify.scratch_env(copy), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    @property
    def executed(self) -> list[str]:
        return _executed("".join(self.out))

    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"make ended before {what}:\n{self.text()}")
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
                pytest.fail(f"no sign of {what} in {TIMEOUT} s:\n{self.text()}")
            time.sleep(0.02)

    def written(self, folder: str, prefix: str = "") -> bool:
        """A file under `folder` (named like an output) was written by this run."""
        for path in (self.copy / folder).glob(f"{prefix}*"):
            try:
                if not path.name.startswith(".") and path.stat().st_mtime_ns >= self.started:
                    return True
            except FileNotFoundError:
                continue
        return False

    def notebook_running(self, name: str) -> bool:
        """papermill has started writing the notebook's (temporary) executed copy: its kernel runs the cells."""
        for path in (self.copy / "analysis" / "executed").glob(f".{name}.*.tmp.ipynb"):
            try:
                if path.stat().st_size > 0 and path.stat().st_mtime_ns >= self.started:
                    return True
            except FileNotFoundError:
                continue
        return False

    def interrupt(self, sig: int) -> None:
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=120)
        for reader in self.readers:  # EOF once every writer is gone, an orphaned kernel included
            reader.join(timeout=120)

    def finish(self) -> None:
        self.process.wait(timeout=TIMEOUT)
        for reader in self.readers:
            reader.join(timeout=120)


def _after_interrupt(copy: Path, run: _Run) -> tuple[str, bool, dict[str, bytes]]:
    """Check that nothing cut short looks finished.

    Returns the notebook that was running, whether it finished, and the outputs that look finished
    (named like an output): each must turn out byte-identical to what the completed build writes.
    """
    assert run.process.returncode != 0, f"make was interrupted but exited 0:\n{run.text()}"
    assert run.executed, f"no notebook had started:\n{run.text()}"
    last = run.executed[-1]
    finished = NOTEBOOKS[:NOTEBOOKS.index(last)]  # in this run or an earlier one
    executed = copy / "analysis" / "executed"
    for name in finished:
        assert (executed / f"{name}.ipynb").is_file(), f"{name} finished before {last} but has no executed copy"
    last_finished = (executed / f"{last}.ipynb").is_file()
    if last_finished:  # the signal came after its executed copy was moved into place: it must be whole
        book = json.loads((executed / f"{last}.ipynb").read_text(encoding="utf-8"))
        assert book["metadata"]["papermill"].get("exception") in (None, False)
    for path in executed.iterdir() if executed.is_dir() else []:
        name = path.name
        assert (TEMPORARY.match(name) or name.removesuffix(".failed.ipynb") in NOTEBOOKS
                or name.removesuffix(".ipynb") in [*finished, *([last] if last_finished else [])]), \
            f"analysis/executed/{name} looks like a finished notebook, but its run was cut"
    looks_finished = {relative: (copy / relative).read_bytes() for relative in verify.outputs(copy)
                      if relative not in GROWING}
    manifest = copy / "analysis" / "MANIFEST.json"
    if manifest.is_file():
        json.loads(manifest.read_text(encoding="utf-8"))  # whole, never half-written
    for folder in (*verify.OUTPUT_DIRS, "analysis/executed", ".make"):
        for path in (copy / folder).rglob(".*"):
            assert TEMPORARY.match(path.name), f"{path}: a hidden file that is not an atomic write's temporary"
    return last, last_finished, looks_finished


def test_interrupted_build_resumes_and_ends_identical(tmp_path):
    """SIGINT (Ctrl-C) and SIGTERM (a CI timeout, a closed terminal) to make's process group, twice in each
    notebook: once while it starts or computes, once while it writes its outputs.

    The moments are found by watching the build rather than by a clock, so they hit the same phase on
    a fast or a loaded machine: 1 s after `executing 01_clean` (imports, kernel start); as soon as a
    processed file is written; when papermill has run the first cells of 02 (model fitting follows); as
    soon as a result file is written; as soon as each of the two figures is written. Each rerun picks up
    where the cut came: it executes the cut notebook first. The outputs start deleted, so a half-written
    file would show: every file named like an output after a cut must be byte-identical to what the
    completed build writes, and the completed build byte-identical to the committed outputs.
    """
    copy = verify.scratch_copy(tmp_path / "project", keep_outputs=True)
    committed = _snapshot(copy)
    for folder in verify.OUTPUT_DIRS:
        shutil.rmtree(copy / folder)
    for name in verify.OUTPUT_FILES:
        (copy / name).unlink()

    cuts = [
        (signal.SIGINT, "1 s after 01_clean starts", lambda run: run.executed == ["01_clean"] and _pause(1.0)),
        (signal.SIGTERM, "a processed file written", lambda run: run.written("data/processed")),
        (signal.SIGINT, "02_worth_models running its cells", lambda run: run.notebook_running("02_worth_models")),
        (signal.SIGTERM, "a result file written", lambda run: run.written("analysis/results")),
        (signal.SIGINT, "the first figure written", lambda run: run.written("analysis/figures", "fig01_")),
        (signal.SIGTERM, "the fifth figure written", lambda run: run.written("analysis/figures", "fig05_")),
    ]
    expected_next = NOTEBOOKS[:1]  # the notebook the next run must execute first (none if all finished)
    history = []
    seen: list[tuple[str, dict[str, bytes]]] = []  # what looked finished after each cut
    try:
        for sig, moment, condition in cuts:
            run = _Run(copy)
            run.wait_for(functools.partial(condition, run), moment)
            run.interrupt(sig)
            assert run.executed[:1] == expected_next, f"the rerun did not start with the cut one:\n{run.text()}"
            last, finished, looks_finished = _after_interrupt(copy, run)
            seen.append((moment, looks_finished))
            left = sorted(path.name for folder in (*verify.OUTPUT_DIRS, "analysis/executed")
                          for path in (copy / folder).glob(".*"))
            history.append(f"{sig.name} at {moment}: ran {run.executed}, {last} {'finished' if finished else 'cut'}"
                           f"{f', temporary files left: {left}' if left else ''}")
            expected_next = NOTEBOOKS[NOTEBOOKS.index(last) + finished:][:1]
        final = _Run(copy)
        final.finish()
        assert final.process.returncode == 0, final.text()
        rest = NOTEBOOKS[NOTEBOOKS.index(expected_next[0]):] if expected_next else []
        assert final.executed == rest, f"{history}\n{final.text()}"
        final_outputs = {relative: (copy / relative).read_bytes() for relative in verify.outputs(copy)}
        for moment, looks_finished in seen:
            for relative, data in looks_finished.items():
                assert relative in final_outputs, f"after the cut at {moment}: {relative} is not an output of the build"
                assert data == final_outputs[relative], \
                    f"after the cut at {moment}, {relative} looked finished but was not: a cut write was left in place"
        assert _differences(copy, committed) == [], \
            f"after {history}: the completed build differs from the committed outputs ({STALE})"
        assert _ok(_make(copy, "all")) == [], "a finished build was not seen as finished"
        print("\n".join(history))
    finally:
        _end_processes_of(copy)


def test_sigterm_leaves_no_temporary_file(tmp_path):
    copy = verify.scratch_copy(tmp_path / "project", keep_outputs=True)
    try:
        run = _Run(copy)
        run.wait_for(lambda: any((copy / "analysis" / "executed").glob(".01_clean.*.tmp.ipynb")),
                     "the temporary executed copy")
        run.interrupt(signal.SIGTERM)
        left = [str(path.relative_to(copy)) for folder in (*verify.OUTPUT_DIRS, "analysis/executed", ".make")
                for path in (copy / folder).rglob(".*.tmp*")]
        assert left == [], "temporary files left behind"
    finally:
        _end_processes_of(copy)


def test_report_ignores_temporary_files_left_by_a_killed_write(settled):
    copy, committed = settled
    (copy / "analysis" / "figures" / ".fig03_worth_by_sector_role.ab12cd34.tmp.png").write_bytes(b"\x89PNG partial")
    (copy / "analysis" / "tables" / ".model_results.ab12cd34.tmp.csv").write_text("term,est")
    try:
        _ok(_make(copy, "report"))
        html = (copy / "analysis" / "index.html").read_text(encoding="utf-8")
        assert ".tmp." not in html, "a temporary file is listed in the report"
    finally:
        for path in copy.glob("analysis/*/.*.tmp.*"):
            path.unlink()


# ------------------------------------------------------------------------------------------------
# 2. Damaged data through the build
# ------------------------------------------------------------------------------------------------

def test_settled_copy_builds_nothing(settled):
    copy, committed = settled
    assert _ok(_make(copy, "all")) == []
    assert _differences(copy, committed) == [], STALE


def test_raw_file_edited_after_its_checksum_stops_the_build(settled):
    copy, committed = settled
    survey = copy / "data" / "raw" / "survey.csv"
    original = survey.read_bytes()
    survey.write_bytes(original.replace(b"\n", b"\r\n", 1))  # an invisible edit: a spreadsheet's line end
    executed = copy / "analysis" / "executed" / "01_clean.ipynb"
    before = executed.read_bytes()
    try:
        done = _make(copy, "all")
        stderr = _refused_in_a_cell(copy, done, "01_clean", "the file changed after its checksum was recorded")
        assert "data/raw/survey.csv" in stderr
        assert done.executed == ["01_clean"]
        assert _differences(copy, committed) == [], "a processed file changed although the raw data were refused"
        assert executed.read_bytes() == before, "the failed run replaced the executed copy"
    finally:
        survey.write_bytes(original)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(("output", "damage", "maker"), [
    ("data/processed/schools.parquet", Path.unlink, "01_clean"),
    ("data/processed/responses.parquet", _truncate, "01_clean"),
    ("analysis/results/marginal_means.parquet", _truncate, "02_worth_models"),
], ids=["processed deleted", "processed truncated", "result truncated"])
def test_damaged_output_is_rebuilt_by_the_notebook_that_makes_it(settled, output, damage, maker):
    copy, committed = settled
    damage(copy / output)
    assert _ok(_make(copy, "all")) == [maker], f"exactly the notebook that makes the file reruns ({STALE})"
    assert (copy / output).read_bytes() == committed[output], STALE
    assert _differences(copy, committed) == [], STALE


def test_manifest_that_is_not_json_is_reported_before_any_notebook(settled):
    copy, _ = settled
    (copy / "analysis" / "MANIFEST.json").write_text('{"outputs": {', encoding="utf-8")
    done = _make(copy, "all")
    _refused_before_any_notebook(done, "the provenance manifest is not valid JSON")
    assert "analysis/MANIFEST.json" in done.stderr


# ------------------------------------------------------------------------------------------------
# 3. Bad parameters: make all PARAMS=<file>
# ------------------------------------------------------------------------------------------------

def _params(copy: Path, tmp_path: Path, edit, name: str = "params.yaml") -> Path:
    path = tmp_path / name
    text = (copy / "analysis" / "params.yaml").read_text(encoding="utf-8")
    edited = edit(text)
    assert edited != text, "the edit did not apply: analysis/params.yaml changed since this test was written"
    path.write_bytes(edited if isinstance(edited, bytes) else edited.encode("utf-8"))
    return path


CHECKED_BY_THE_BUILD = {
    "unknown key": (lambda t: t.replace("  reml: true", "  reml_: true"),
                    "unknown parameter 'reml_' for notebook 02_worth_models"),
    "wrong type": (lambda t: t.replace("  reml: true", "  reml: 'yes'"),
                   "parameter 'reml' of 02_worth_models has the wrong type: str"),
    "wrong type, list": (lambda t: t.replace('model_terms: ["sector * role", "phase", "model", "years_in_role"]',
                                             'model_terms: "sector * role"', 1),
                         "parameter 'model_terms' of 02_worth_models has the wrong type: str"),
    "not YAML": (lambda t: t.replace("  min_cell_count: 5", "  min_cell_count: [5"), "not valid YAML"),
    "section not a notebook": (lambda t: t.replace("04_figures:", "04_figure:"), "'04_figure' is not a notebook"),
    "section not a mapping": (lambda t: t + "\n04_figures_extra: [figures_dir, tables_dir]\n",
                              "the parameters file must map each notebook name to its parameters"),
    "unknown sensitivity key": (lambda t: t.replace("  worth_definitions:", "  worth_definition:"),
                                "unknown key 'worth_definition' in the sensitivity section"),
    "sensitivity run of the wrong type": (lambda t: t.replace("sector_role_only: [\"sector * role\"]",
                                                              "sector_role_only: 5"),
                                          "parameter 'model_terms' of 02_worth_models (sensitivity run"),
}


@pytest.mark.parametrize("case", list(CHECKED_BY_THE_BUILD))
def test_bad_parameters_are_refused_before_any_notebook_runs(settled, tmp_path, case):
    copy, committed = settled
    edit, message = CHECKED_BY_THE_BUILD[case]
    stamps = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in (copy / ".make").glob("*.stamp")}
    done = _make(copy, "all", f"PARAMS={_params(copy, tmp_path, edit)}")
    _refused_before_any_notebook(done, message)
    named = {str(tmp_path / "params.yaml"), str((tmp_path / "params.yaml").resolve())}
    assert any(name in done.stderr for name in named), "the message names the parameters file"
    assert {path.name: (path.read_bytes(), path.stat().st_mtime_ns)
            for path in (copy / ".make").glob("*.stamp")} == stamps, "a stamp changed"
    assert _differences(copy, committed) == []


def test_missing_parameters_file_is_refused(settled, tmp_path):
    copy, _ = settled
    done = _make(copy, "all", f"PARAMS={tmp_path / 'nowhere.yaml'}")
    _refused_before_any_notebook(done, "cannot read the parameters file")


def test_parameters_file_not_utf8_is_refused(settled, tmp_path):
    copy, _ = settled
    path = _params(copy, tmp_path, lambda t: t.replace("worth_definition: difference",
                                                       "worth_definition: différence").encode("latin-1"))
    _refused_before_any_notebook(_make(copy, "all", f"PARAMS={path}"), "UTF-8")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("worth_definition: difference", "worth_definition: net"), "unknown worth definition 'net'"),
    (lambda t: t.replace('"phase", "model", "years_in_role"]', '"phase", "colour"]', 1), "unknown variable 'colour'"),
], ids=["unknown worth definition", "unknown model term"])
def test_bad_parameter_found_inside_a_notebook_names_the_failing_cell(settled, tmp_path, edit, message):
    """Values only the library can judge: the build runs the notebook and reports its failing cell."""
    copy, committed = settled
    executed = copy / "analysis" / "executed" / "02_worth_models.ipynb"
    before = executed.read_bytes()
    done = _make(copy, "all", f"PARAMS={_params(copy, tmp_path, edit)}")
    _refused_in_a_cell(copy, done, "02_worth_models", message)
    assert done.executed == ["02_worth_models"], "01 is unchanged and 03 must not run after a failure"
    assert executed.read_bytes() == before, "the failed run replaced the executed copy"
    assert _differences(copy, committed) == []
