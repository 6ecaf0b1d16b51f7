"""The build behind `make`: content-hash stamps, notebook execution, the provenance manifest.

make alone compares modification times, which a fresh clone sets all alike and which a comment
edited in src/ changes without make noticing what matters. So each job (a notebook, or one run of
the sensitivity analysis) gets a fingerprint: the sha256 of the notebook's cells, its parameters,
the library, the lock file and every file under its path parameters (raw data, processed data,
earlier notebooks' outputs). `stamp` rewrites the job's stamp only when the fingerprint changed,
and make reruns the job when its stamp is newer than its executed copy.

Which job wrote which file is recorded in a manifest (analysis/MANIFEST.json, committed and
deterministic), so a notebook's fingerprint can leave out the files that later notebooks write
into a shared folder.

This module is imported on every `make`, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import functools
import hashlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import atomic, paths
from .errors import IsspError

KERNEL = "issp-research"
STAMPS = paths.ROOT / ".make"
MANIFEST = paths.ANALYSIS / "MANIFEST.json"
SENSITIVITY = paths.ANALYSIS / "sensitivity"
LOCK = paths.ROOT / "requirements.lock"
LIBRARY = paths.ROOT / "src" / "issp_research"
PATH_SUFFIXES = ("_dir", "_file", "_path")
#: Packages whose versions the manifest records (all are pinned in requirements.lock).
RECORDED_PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "matplotlib", "seaborn", "pyarrow",
                     "pandera", "papermill", "krippendorff")
SENSITIVITY_KEYS = {"notebook", "worth_definitions", "model_specifications"}


def notebooks() -> list[str]:
    """The notebooks of the compendium, in the order they run (by their number)."""
    return sorted(path.stem for path in paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _unique_key_loader(params_file: Path) -> type:
    """A SafeLoader that refuses a repeated key (PyYAML keeps the last value without a word, so an edit
    to the first of two `reml:` lines would be ignored) and reports every bad scalar as a YAMLError."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
            # a scalar its tag cannot hold (2021-13-45 is read as a date) raises a bare ValueError
            try:
                return super().construct_object(node, deep=deep)
            except ValueError as error:
                kind = node.tag.rpartition(":")[2]
                raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a valid {kind}: {error}",
                                                        node.start_mark) from None

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
            # before the base class inlines merged keys (`<<: *defaults`), which may be overridden
            given = [key for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"]
            mapping = super().construct_mapping(node, deep=deep)
            seen = set()
            for key_node in given:
                key = self.construct_object(key_node, deep=deep)  # built (and checked hashable) just above
                if key in seen:
                    raise IsspError(f"'{key}' is given twice", file=params_file, row=key_node.start_mark.line + 1,
                                    column=str(key), rule="a section or parameter appears once in its mapping",
                                    fix="delete the one you do not mean (YAML would silently keep the last)")
                seen.add(key)
            return mapping

    return UniqueKeyLoader


def _signature(path: Path) -> tuple[int, int] | None:
    """What says a file is unchanged within one process (one `make` step reads the same file often)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def load_params(params_file: Path = paths.PARAMS) -> dict:
    return copy.deepcopy(_load_params(Path(params_file), _signature(Path(params_file))))


@functools.lru_cache(maxsize=8)
def _load_params(params_file: Path, signature: tuple[int, int] | None) -> dict:
    import yaml

    try:
        text = params_file.read_text(encoding="utf-8")
    except OSError as error:
        raise IsspError(f"cannot read the parameters file: {error.strerror}", file=params_file,
                        fix="run from the project folder, or give PARAMS=<file> to make") from None
    except UnicodeDecodeError as error:
        raise IsspError(f"not UTF-8 text (bad byte at offset {error.start})", file=params_file,
                        rule="the parameters file is UTF-8", fix="save it as UTF-8") from None
    try:
        params = yaml.load(text, Loader=_unique_key_loader(params_file))  # a SafeLoader: builds plain data only
    except RecursionError:
        raise IsspError("not valid YAML: nested deeper than Python can read", file=params_file,
                        rule="the parameters file is YAML", fix="remove the extra brackets or indentation") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise IsspError(f"not valid YAML: {getattr(error, 'problem', error)}", file=params_file,
                        row=None if mark is None else mark.line + 1, rule="the parameters file is YAML",
                        fix="correct the YAML syntax (indentation, colons, quotes)") from None
    if params is None:
        params = {}
    if not isinstance(params, dict) or not all(isinstance(v, (dict, type(None))) for v in params.values()):
        raise IsspError("the parameters file must map each notebook name to its parameters", file=params_file,
                        rule="layout: <notebook name>: {parameter: value}", fix="see analysis/params.yaml")
    return params


def declared_params(notebook: Path) -> dict:
    """The defaults in the notebook's cell tagged 'parameters' (plain assignments of literals).

    Read with ast rather than papermill so `make` stays fast; a value that is not a literal is
    refused, because the build could not pass or check it.
    """
    return copy.deepcopy(_declared_params(notebook, _signature(notebook)))


@functools.lru_cache(maxsize=64)
def _declared_params(notebook: Path, signature: tuple[int, int] | None) -> dict:
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        raise IsspError("not a readable notebook", file=paths.relative(notebook),
                        fix="restore it with git, or open and save it in JupyterLab") from None
    tagged = [cell for cell in cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise IsspError("the notebook has no cell tagged 'parameters'", file=paths.relative(notebook),
                        rule="every notebook declares its parameters", fix="tag its first code cell 'parameters'")
    declared = {}
    for statement in ast.parse("".join(tagged[0]["source"])).body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            continue
        name = statement.targets[0].id
        try:
            declared[name] = ast.literal_eval(statement.value)
        except ValueError:
            raise IsspError(f"parameter '{name}' is not a literal value", file=paths.relative(notebook),
                            rule="parameters are numbers, strings, booleans, lists or dicts",
                            fix="compute derived values in a later cell") from None
    return declared


def _same_kind(value: object, default: object) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_section(name: str, section: dict, declared: dict, params_file: Path) -> None:
    """Unknown names or values of the wrong type stop the build (papermill itself only warns)."""
    where = paths.relative(params_file)
    for key, value in section.items():
        if key not in declared:
            raise IsspError(f"unknown parameter '{key}' for notebook {name}", file=where, column=key,
                            rule=f"parameters of {name}: {', '.join(declared)}",
                            fix="correct the name, or declare it in the notebook's parameters cell")
        default = declared[key]
        if not _same_kind(value, default):
            raise IsspError(f"parameter '{key}' of {name} has the wrong type: {type(value).__name__} ({value!r})",
                            file=where, column=key,
                            rule=f"same type as the notebook's default {default!r} ({type(default).__name__})",
                            fix=f"give a {type(default).__name__} value")


def check_params_file(params_file: Path = paths.PARAMS) -> dict:
    """The whole parameters file, checked before any notebook runs."""
    params = load_params(params_file)
    names = notebooks()
    for key, section in params.items():
        if key == "sensitivity":
            _sensitivity_runs(section or {}, params_file)
            continue
        if key not in names:
            raise IsspError(f"'{key}' is not a notebook", file=paths.relative(params_file), column=key,
                            rule=f"sections are notebook names: {', '.join(names)}, or 'sensitivity'",
                            fix="correct the section name")
        check_section(key, section or {}, declared_params(paths.NOTEBOOKS / f"{key}.ipynb"), params_file)
    return params


@dataclass(frozen=True)
class Job:
    """One execution of a notebook: a numbered notebook, or one run of the sensitivity analysis."""

    name: str
    notebook: str
    params: dict
    executed: Path
    stamp: Path
    manifest: Path
    #: Jobs whose outputs this job must not count as its inputs (they run after it).
    later: frozenset[str]


def _sensitivity_runs(section: dict, params_file: Path) -> dict[str, dict]:
    where = paths.relative(params_file)
    unknown = set(section) - SENSITIVITY_KEYS
    if unknown:
        raise IsspError(f"unknown key '{sorted(unknown)[0]}' in the sensitivity section", file=where,
                        column=sorted(unknown)[0], rule=f"keys: {', '.join(sorted(SENSITIVITY_KEYS))}",
                        fix="correct the key")
    notebook = section.get("notebook", "02_worth_models")
    definitions = section.get("worth_definitions") or []
    specifications = section.get("model_specifications") or {}
    if not isinstance(definitions, list) or not isinstance(specifications, dict):
        raise IsspError("worth_definitions must be a list and model_specifications a mapping of name to terms",
                        file=where, column="sensitivity", rule="layout of the sensitivity section",
                        fix="see analysis/params.yaml")
    runs = {}
    for definition in definitions:
        for label, terms in specifications.items():
            runs[f"{definition}-{label}"] = {"worth_definition": definition, "model_terms": terms,
                                             "results_dir": f"analysis/sensitivity/runs/{definition}-{label}"}
    declared = declared_params(paths.NOTEBOOKS / f"{notebook}.ipynb")
    for run, overrides in runs.items():
        check_section(f"{notebook} (sensitivity run {run})", overrides, declared, params_file)
    return runs


def sensitivity_runs(params_file: Path = paths.PARAMS) -> list[str]:
    return list(_sensitivity_runs(load_params(params_file).get("sensitivity") or {}, params_file))


def job(name: str, params_file: Path = paths.PARAMS) -> Job:
    params = load_params(params_file)
    if name.startswith("sensitivity/"):
        run = name.split("/", 1)[1]
        section = params.get("sensitivity") or {}
        runs = _sensitivity_runs(section, params_file)
        if run not in runs:
            raise IsspError(f"no sensitivity run '{run}'", file=paths.relative(params_file),
                            rule=f"runs: {', '.join(runs)}", fix="run `make sensitivity`")
        notebook = section.get("notebook", "02_worth_models")
        overrides = {**(params.get(notebook) or {}), **runs[run]}
        return Job(name, notebook, {**declared_params(paths.NOTEBOOKS / f"{notebook}.ipynb"), **overrides},
                   paths.EXECUTED / "sensitivity" / f"{run}.ipynb", STAMPS / "sensitivity" / f"{run}.stamp",
                   SENSITIVITY / "MANIFEST.json", frozenset())
    order = notebooks()
    if name not in order:
        raise IsspError("no such notebook", file=f"notebooks/{name}.ipynb", fix=f"choose one of: {', '.join(order)}")
    section = params.get(name) or {}
    declared = declared_params(paths.NOTEBOOKS / f"{name}.ipynb")
    check_section(name, section, declared, params_file)
    return Job(name, name, {**declared, **section}, paths.EXECUTED / f"{name}.ipynb", STAMPS / f"{name}.stamp",
               MANIFEST, frozenset(order[order.index(name) + 1:]))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return []


def path_params(params: dict) -> list[Path]:
    return sorted({paths.resolve(value) for key, value in params.items()
                   if key.endswith(PATH_SUFFIXES) and isinstance(value, str)})


def read_manifest(manifest: Path = MANIFEST) -> dict:
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"outputs": {}}
    except ValueError:
        raise IsspError("the provenance manifest is not valid JSON", file=paths.relative(manifest),
                        fix="restore it with `git checkout`, or delete it and run `make all`") from None


def notebook_source(path: Path) -> bytes:
    """What a notebook does: its cells' kinds, sources and tags, not the outputs stored with them.

    The stored outputs are nbval's reference; refreshing them must not count as a change.
    """
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        raise IsspError("not a readable notebook", file=paths.relative(path),
                        fix="restore it with git, or open and save it in JupyterLab") from None
    return json.dumps([(cell["cell_type"], "".join(cell["source"]), cell.get("metadata", {}).get("tags", []))
                       for cell in cells]).encode()


def code_hash(job: Job) -> str:
    """The code that makes a job's outputs: library, notebook, parameters and lock file."""
    sources = [path for path in _files_under(LIBRARY) if "__pycache__" not in path.parts]
    files = tuple((path, _signature(path)) for path in [*sources, LOCK])
    digest = _library_digest(files).copy()
    digest.update(notebook_source(paths.NOTEBOOKS / f"{job.notebook}.ipynb"))
    digest.update(json.dumps(job.params, sort_keys=True).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _library_digest(files: tuple[tuple[Path, tuple[int, int] | None], ...]) -> hashlib._Hash:
    digest = hashlib.sha256()
    for path, _ in files:
        digest.update(paths.relative(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest


def input_files(job: Job, manifest: dict) -> dict[str, str]:
    """Files under the job's path parameters, less those later jobs write: path -> sha256."""
    produced = {path: entry["notebook"] for path, entry in manifest.get("outputs", {}).items()}
    files = {}
    for root in path_params(job.params):
        for path in _files_under(root):
            relative = paths.relative(path)
            if produced.get(relative) not in job.later:
                files[relative] = _sha256(path)
    for relative, producer in produced.items():  # a deleted output of this job is a change too
        if producer == job.name and relative not in files:
            files[relative] = "missing"
    return dict(sorted(files.items()))


def fingerprint(job: Job, manifest: dict) -> str:
    digest = hashlib.sha256(code_hash(job).encode())
    digest.update(json.dumps(input_files(job, manifest), sort_keys=True).encode())
    return digest.hexdigest()


def stamp(name: str, params_file: Path = paths.PARAMS) -> bool:
    """Rewrite the job's stamp if its fingerprint changed; True when it did."""
    this = job(name, params_file)
    value = fingerprint(this, read_manifest(this.manifest))
    if this.stamp.is_file() and this.stamp.read_text(encoding="utf-8").strip() == value:
        return False
    atomic.write_text(this.stamp, value + "\n")
    return True


def stamp_all(params_file: Path = paths.PARAMS) -> None:
    """Check the parameters file, then stamp the notebooks in one process.

    One process instead of one per notebook keeps a `make` with nothing to do fast. It stops at
    the first notebook that must rerun: the ones after it read what it writes (a damaged output it
    will rewrite must not rerun them), so its run stamps them once it has finished.
    """
    check_params_file(params_file)
    for name in notebooks():
        if stamp(name, params_file):
            return


def _package_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in RECORDED_PACKAGES}


def _record_outputs(this: Job, written: list[Path], inputs: dict[str, str]) -> None:
    manifest = read_manifest(this.manifest)
    outputs = manifest.setdefault("outputs", {})
    # An output that is gone (renamed, or its notebook removed) leaves the manifest, whoever made it.
    for relative in [path for path in outputs if not (paths.ROOT / path).is_file()]:
        del outputs[relative]
    own = {paths.relative(path) for path in written}
    entry_inputs = {path: digest for path, digest in inputs.items()
                    if path not in own and outputs.get(path, {}).get("notebook") != this.name}
    code = code_hash(this)
    for path in written:
        outputs[paths.relative(path)] = {
            "sha256": _sha256(path), "notebook": this.name, "parameters": this.params,
            "inputs": entry_inputs, "code_sha256": code,
        }
    manifest["outputs"] = dict(sorted(outputs.items()))
    manifest["packages"] = _package_versions()
    manifest["lock_sha256"] = _sha256(LOCK)
    atomic.write_text(this.manifest, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _start_kernel():
    """Start the project's kernel, to hand to papermill: it boots (0.7 s) while papermill is imported.

    Kernels talk to the build over encrypted sockets (CurveZMQ), which the kernelspec supports:
    over plain TCP ipykernel warns on every start. The arguments are those nbclient gives a kernel
    it starts itself (history in memory, not in the user's ~/.ipython).
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypted(self) -> str:
            return "auto"

        finished = False
        clients: tuple = ()  # nbclient leaves the client of a kernel it did not start open; stop() closes it

        async def _async_interrupt_kernel(self) -> None:
            # jupyter_client interrupts (SIGINT) a kernel before it stops it, even to kill it. After the
            # last cell the kernel is idle and would log "KeyboardInterrupt caught in kernel" as an
            # error, so a finished kernel is not interrupted; one stopped mid-cell (the build cut short)
            # is, so that the cell's unfinished writes delete their temporary files.
            if not self.finished:
                await super()._async_interrupt_kernel()

        def client(self, **kwargs):
            self.clients = (*self.clients, super().client(**kwargs))
            return self.clients[-1]

        def stop(self, finished: bool) -> None:
            """Stop the kernel: at once after the last cell (every output is written and received, and
            a graceful stop only waits, 0.9 s, for Python to tear down the stack the notebook
            imported); otherwise interrupted, then asked to shut down (killed after 5 s)."""
            for client in self.clients:
                client.stop_channels()
            self.clients = ()
            self.finished = finished
            if run_sync(self.is_alive)():
                run_sync(self.shutdown_kernel)(now=finished)

    manager = EncryptedKernelManager(kernel_name=KERNEL)
    run_sync(manager.start_kernel)(cwd=str(paths.ROOT), extra_arguments=["--HistoryManager.hist_file=:memory:"])
    return manager


#: Modules papermill imports but never uses here, each under try/except ImportError, so blocked while
#: it is imported: nbformat's jsonschema imports rfc3987_syntax, which builds a Lark grammar (2 s of
#: papermill's 2.8 s; jsonschema#1428) for the "iri" format, which the notebook schema does not use;
#: papermill.iorw imports pyarrow.fs (and numpy with it, 0.2 s) for hdfs:// paths.
_UNUSED_BY_PAPERMILL = ("rfc3987_syntax", "pyarrow.fs")


def _import_papermill():
    blocked = [name for name in _UNUSED_BY_PAPERMILL if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None
    try:
        import papermill
    finally:  # later imports in this process (pyarrow.fs for Parquet) work as usual
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return papermill


def run(name: str, params_file: Path = paths.PARAMS) -> Path:
    """Execute one job with papermill; nothing looks finished unless it all succeeded."""
    check_params_file(params_file)
    this = job(name, params_file)
    notebook = paths.NOTEBOOKS / f"{this.notebook}.ipynb"
    this.executed.parent.mkdir(parents=True, exist_ok=True)
    failed = this.executed.with_suffix(".failed.ipynb")
    failed.unlink(missing_ok=True)
    kernel = _start_kernel()
    with contextlib.ExitStack() as stack:
        stack.callback(kernel.stop, finished=False)  # a no-op once the kernel has stopped
        papermill = _import_papermill()
        from papermill.exceptions import PapermillExecutionError

        started = time.time_ns()
        tmp = stack.enter_context(atomic.atomic_path(this.executed))
        try:
            # papermill rewrites the whole notebook before and after every cell by default, so that its
            # output file shows progress; ours is a temporary file nobody reads until it is renamed. It
            # still writes the notebook once at the end, and with the failing cell's error on failure.
            # (The figures notebook, its images embedded, spent about 2 s of 19 on those saves.)
            papermill.execute_notebook(str(notebook), str(tmp), parameters=this.params, kernel_name=KERNEL,
                                       cwd=str(paths.ROOT), progress_bar=False, log_output=False,
                                       request_save_on_cell_execute=False, km=kernel)
        except PapermillExecutionError as error:
            os.chmod(tmp, 0o644)  # mkstemp made it private; it is a file to open like the executed copy
            os.replace(tmp, failed)
            raise IsspError(f"cell {error.exec_count} failed: {error.ename}: {error.evalue}",
                            file=paths.relative(notebook), rule="every cell runs",
                            fix=f"open {paths.relative(failed)} to see the failing cell and its traceback") from None
        kernel.stop(finished=True)
        written = sorted({path for root in path_params(this.params) for path in _files_under(root)
                          if path.stat().st_mtime_ns >= started})
        _record_outputs(this, written, input_files(this, read_manifest(this.manifest)))
        atomic.write_text(this.stamp, fingerprint(this, read_manifest(this.manifest)) + "\n")
        os.utime(tmp)  # the executed copy must be newer than its stamp for make to see it done
    for later in sorted(this.later):  # their inputs may be this notebook's outputs
        stamp(later, params_file)
    return this.executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m issp_research.build", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=paths.PARAMS, help="the parameters file (YAML)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the notebooks in build order")
    sub.add_parser("sensitivity-runs", help="the runs of the sensitivity analysis")
    sub.add_parser("stamp-all", help="check the parameters file and stamp every notebook")
    for command in ("stamp", "run"):
        sub.add_parser(command).add_argument("job", help="a notebook name, or sensitivity/<run>")
    args = parser.parse_args(argv)
    # CI runners and `kill` stop a build with SIGTERM, whose default action ends Python without unwinding,
    # so temporary files would stay behind. Raised as KeyboardInterrupt, it unwinds like Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if args.command == "list":
            print(" ".join(notebooks()))
        elif args.command == "sensitivity-runs":
            print(" ".join(sensitivity_runs(args.params)))
        elif args.command == "stamp-all":
            stamp_all(args.params)
        elif args.command == "stamp":
            stamp(args.job, args.params)
        else:
            print(f"executing {args.job}", flush=True)
            run(args.job, args.params)
    except IsspError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run make all again", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
