"""The build behind `make`: content-hash stamps, notebook execution, the provenance manifest.

make alone compares modification times, which a fresh clone sets all alike and which a comment
edited in src/ changes without make noticing what matters. So each notebook gets a fingerprint: the
sha256 of the notebook, its parameters, the library, the lock file and every file under its path
parameters (raw data, processed data, earlier notebooks' outputs). `stamp` rewrites
.make/<notebook>.stamp only when the fingerprint changed, and make reruns the notebook when its stamp
is newer than its executed copy.

Which notebook wrote which file is recorded in analysis/MANIFEST.json (committed, deterministic), so
a notebook's fingerprint can leave out the files that later notebooks write into a shared folder.

This module is imported on every `make`, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from . import atomic, paths
from .errors import IsspError

KERNEL = "issp-research"
STAMPS = paths.ROOT / ".make"
MANIFEST = paths.ANALYSIS / "MANIFEST.json"
LOCK = paths.ROOT / "requirements.lock"
LIBRARY = paths.ROOT / "src" / "issp_research"
PATH_SUFFIXES = ("_dir", "_file", "_path")
#: Packages whose versions the manifest records (all are pinned in requirements.lock).
RECORDED_PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "matplotlib", "seaborn", "pyarrow",
                     "pandera", "papermill", "krippendorff")


def notebooks() -> list[str]:
    """The notebooks of the compendium, in the order they run (by their number)."""
    return sorted(path.stem for path in paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def load_params(params_file: Path = paths.PARAMS) -> dict:
    import yaml

    try:
        text = params_file.read_text(encoding="utf-8")
    except OSError as error:
        raise IsspError(f"cannot read the parameters file: {error.strerror}", file=params_file,
                        fix="run from the project folder, or give PARAMS=<file> to make") from None
    try:
        params = yaml.safe_load(text)
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


def notebook_params(name: str, params_file: Path = paths.PARAMS) -> dict:
    return dict(load_params(params_file).get(name) or {})


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
        raise IsspError("the provenance manifest is not valid JSON", file=manifest,
                        fix="restore it with `git checkout analysis/MANIFEST.json`, or delete it and run `make all`") \
            from None


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


def code_hash(name: str, params: dict) -> str:
    """The code that makes a notebook's outputs: library, notebook, parameters and lock file."""
    digest = hashlib.sha256()
    sources = [path for path in _files_under(LIBRARY) if "__pycache__" not in path.parts]
    for path in [*sources, LOCK]:
        digest.update(paths.relative(path).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(notebook_source(paths.NOTEBOOKS / f"{name}.ipynb"))
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()


def input_files(name: str, params: dict, manifest: dict) -> dict[str, str]:
    """Files under the notebook's path parameters, less those later notebooks write: path -> sha256."""
    order = notebooks()
    position = order.index(name) if name in order else len(order)
    later = set(order[position + 1:])
    produced = {path: entry["notebook"] for path, entry in manifest.get("outputs", {}).items()}
    files = {}
    for root in path_params(params):
        for path in _files_under(root):
            relative = paths.relative(path)
            if produced.get(relative) in later:
                continue
            files[relative] = _sha256(path)
    for relative, producer in produced.items():  # a deleted output of this notebook is a change too
        if producer == name and relative not in files:
            files[relative] = "missing"
    return dict(sorted(files.items()))


def fingerprint(name: str, params: dict, manifest: dict) -> str:
    digest = hashlib.sha256(code_hash(name, params).encode())
    digest.update(json.dumps(input_files(name, params, manifest), sort_keys=True).encode())
    return digest.hexdigest()


def stamp(name: str, params_file: Path = paths.PARAMS) -> bool:
    """Rewrite the notebook's stamp if its fingerprint changed; True when it did."""
    params = notebook_params(name, params_file)
    value = fingerprint(name, params, read_manifest())
    path = STAMPS / f"{name}.stamp"
    if path.is_file() and path.read_text(encoding="utf-8").strip() == value:
        return False
    atomic.write_text(path, value + "\n")
    return True


def validate_params(name: str, params: dict, notebook: Path) -> None:
    """Unknown names or values of the wrong type stop the build (papermill itself only warns)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    if not declared:
        raise IsspError("the notebook has no cell tagged 'parameters'", file=notebook,
                        rule="every notebook declares its parameters", fix="tag its first code cell 'parameters'")
    for key, value in params.items():
        if key not in declared:
            raise IsspError(f"unknown parameter '{key}' for notebook {name}", file=paths.relative(paths.PARAMS),
                            column=key, rule=f"parameters of {name}: {', '.join(declared)}",
                            fix="correct the name, or declare it in the notebook's parameters cell")
        default = declared[key]["default"]
        expected = declared[key]["inferred_type_name"]
        try:
            default_value = json.loads(default) if default not in ("None", "True", "False") else \
                {"None": None, "True": True, "False": False}[default]
        except ValueError:
            default_value = default
        if not _same_kind(value, default_value):
            raise IsspError(f"parameter '{key}' of {name} has the wrong type: {type(value).__name__} "
                            f"({value!r})", file=paths.relative(paths.PARAMS), column=key,
                            rule=f"same type as the notebook's default {default} ({expected})",
                            fix=f"give a {type(default_value).__name__} value")


def _same_kind(value: object, default: object) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, str) and default.startswith(("'", '"')):
        return isinstance(value, str)
    if isinstance(default, str):  # a literal papermill could not decode as JSON, e.g. a tuple
        return True
    return isinstance(value, type(default))


def _package_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in RECORDED_PACKAGES}


def _record_outputs(name: str, params: dict, written: list[Path], inputs: dict[str, str]) -> None:
    manifest = read_manifest()
    outputs = manifest.setdefault("outputs", {})
    for relative in [path for path, entry in outputs.items() if entry["notebook"] == name]:
        if not (paths.ROOT / relative).is_file():
            del outputs[relative]
    own = {paths.relative(path) for path in written}
    entry_inputs = {path: digest for path, digest in inputs.items()
                    if path not in own and outputs.get(path, {}).get("notebook") != name}
    code = code_hash(name, params)
    for path in written:
        outputs[paths.relative(path)] = {
            "sha256": _sha256(path), "notebook": name, "parameters": params,
            "inputs": entry_inputs, "code_sha256": code,
        }
    manifest["outputs"] = dict(sorted(outputs.items()))
    manifest["packages"] = _package_versions()
    manifest["lock_sha256"] = _sha256(LOCK)
    atomic.write_text(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _kernel_manager():
    """Kernels talk to the build over encrypted sockets (CurveZMQ), which the kernelspec supports.

    Unencrypted TCP works too, but ipykernel then warns on every start; encrypting is the fix.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypted(self) -> str:
            return "auto"

    return EncryptedKernelManager


def run(name: str, params_file: Path = paths.PARAMS) -> Path:
    """Execute one notebook with papermill; nothing looks finished unless it all succeeded."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = paths.NOTEBOOKS / f"{name}.ipynb"
    if not notebook.is_file():
        raise IsspError("no such notebook", file=notebook, fix=f"choose one of: {', '.join(notebooks())}")
    params = notebook_params(name, params_file)
    validate_params(name, params, notebook)
    executed = paths.EXECUTED / f"{name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    failed = executed.with_suffix(".failed.ipynb")
    failed.unlink(missing_ok=True)
    started = time.time_ns()
    with atomic.atomic_path(executed) as tmp:
        try:
            papermill.execute_notebook(str(notebook), str(tmp), parameters=params, kernel_name=KERNEL,
                                       cwd=str(paths.ROOT), progress_bar=False, log_output=False,
                                       kernel_manager_class=_kernel_manager())
        except PapermillExecutionError as error:
            os.replace(tmp, failed)
            raise IsspError(f"cell {error.exec_count} failed: {error.ename}: {error.evalue}",
                            file=paths.relative(notebook), rule="every cell runs",
                            fix=f"open {paths.relative(failed)} to see the failing cell and its traceback") from None
        written = sorted({path for root in path_params(params) for path in _files_under(root)
                          if path.stat().st_mtime_ns >= started})
        manifest = read_manifest()
        _record_outputs(name, params, written, input_files(name, params, manifest))
        atomic.write_text(STAMPS / f"{name}.stamp", fingerprint(name, params, read_manifest()) + "\n")
        os.utime(tmp)  # the executed copy must be newer than its stamp for make to see it done
    return executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m issp_research.build", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=paths.PARAMS, help="the parameters file (YAML)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the notebooks in build order")
    for command in ("stamp", "run"):
        sub.add_parser(command).add_argument("notebook")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(" ".join(notebooks()))
        elif args.command == "stamp":
            stamp(args.notebook, args.params)
        else:
            print(f"executing notebooks/{args.notebook}.ipynb", flush=True)
            run(args.notebook, args.params)
    except IsspError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
