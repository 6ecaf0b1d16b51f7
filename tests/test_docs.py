"""The documentation tells the truth: generated pages are current, commands exist, links resolve.

README.md is the entry point for the researcher, examiners and collaborators; each check here fails
with the fix in its message.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from issp_research import datadoc

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINKED = [README, *DOCS]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
RULE = re.compile(r"^([A-Za-z0-9_.%/-]+(?:[ \t]+[A-Za-z0-9_.%/-]+)*)[ \t]*:(?![=:])", re.MULTILINE)


def _code(text: str) -> list[str]:
    """The text of every fenced block and inline code span."""
    blocks = [match.group(0) for match in FENCE.finditer(text)]
    rest = FENCE.sub("", text)
    return blocks + [match.group(2) for match in INLINE_CODE.finditer(rest)]


def _make_targets_mentioned(text: str) -> set[str]:
    """Targets of every `make ...` command in code: options and VAR=value assignments skipped."""
    targets = set()
    for code in _code(text):
        for line in code.splitlines():
            line = re.split(r"\s#", line, maxsplit=1)[0]
            for command in re.split(r"&&|\|\||[;|()]", line):
                try:
                    words = shlex.split(command)
                except ValueError:
                    words = command.split()
                while words and "=" in words[0]:  # VAR=value make ...
                    words.pop(0)
                if not words or words[0] != "make":
                    continue
                for word in words[1:]:
                    if word.startswith((">", "<", "2>")):
                        break
                    if word.startswith("-") or "=" in word:
                        continue
                    targets.add(word)
    return targets


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe_free = "\n".join(line for line in text.splitlines() if not line.startswith("\t"))
    targets = set()
    for match in RULE.finditer(recipe_free):
        targets.update(name for name in match.group(1).split() if "%" not in name and "$" not in name)
    return {name for name in targets if not name.startswith(".")}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"`|\*|_(?=\w)|(?<=\w)_|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, re.MULTILINE):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = INLINE_CODE.sub("", text)
    return [match.group(1) for match in LINK.finditer(text)] + REFERENCE.findall(text)


# ---- (a) the generated data dictionary is current ------------------------------------------------

def test_data_dictionary_page_is_what_datadoc_renders():
    page = ROOT / "docs" / "data-dictionary.md"
    assert page.is_file(), "docs/data-dictionary.md is missing: run `make docs` and commit it"
    assert page.read_text(encoding="utf-8") == datadoc.render(), (
        "docs/data-dictionary.md differs from what src/issp_research/datadoc.py renders from the data "
        "dictionary: run `make docs` and commit the result (never edit the page by hand)")


# ---- (b) every `make <target>` in the README exists ----------------------------------------------

def test_make_target_parser_reads_commands_as_a_shell_would():
    text = ("Run `make all`, `make -j2 sensitivity`, `make notebook NAME=05_x` and `make`.\n\n"
            "```sh\nISSP_PSEUDONYM_KEY_FILE=~/k make all PARAMS=p.yaml   # make nothing\n"
            "rm -rf .venv && make test\n```\n")
    assert _make_targets_mentioned(text) == {"all", "sensitivity", "notebook", "test"}
    assert {"all", "test", "help", "docs", "verify"} <= _makefile_targets()


def test_every_make_target_in_the_readme_is_a_makefile_target():
    mentioned = _make_targets_mentioned(README.read_text(encoding="utf-8"))
    assert {"all", "test", "verify"} <= mentioned, "README.md must give `make all`, `make test` and `make verify`"
    missing = sorted(mentioned - _makefile_targets())
    assert not missing, (
        f"README.md mentions {', '.join(f'`make {name}`' for name in missing)}, not a target of the Makefile: "
        "correct the README, or add the target to the Makefile (with a `## ` help comment)")


def test_every_make_target_in_docs_is_a_makefile_target():
    targets = _makefile_targets()
    problems = [f"{page.relative_to(ROOT)}: `make {name}`" for page in DOCS
                for name in sorted(_make_targets_mentioned(page.read_text(encoding="utf-8")) - targets)]
    assert not problems, ("not Makefile targets: " + "; ".join(problems)
                          + ". Correct the page (docs/data-dictionary.md: in datadoc.py, then `make docs`)")


# ---- (c) every relative link resolves --------------------------------------------------------------

@pytest.mark.parametrize("page", LINKED, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file(page):
    problems = []
    for link in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE):  # https:, mailto:, ...
            continue
        target, _, anchor = link.partition("#")
        path = page if not target else (page.parent / target).resolve()
        if not path.is_relative_to(ROOT):
            problems.append(f"'{link}' leaves the repository (a fresh clone has no {path}): link a file "
                            "inside it, or name the outside document without a link")
        elif not path.exists():
            problems.append(f"'{link}' points to {path.relative_to(ROOT)}, which does not exist: correct the "
                            f"path (relative to {page.parent.relative_to(ROOT) or '.'}/) or create the file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            problems.append(f"'{link}': {path.relative_to(ROOT)} has no heading with anchor '#{anchor}': "
                            "correct the anchor to the heading's (lower case, spaces as hyphens)")
    assert not problems, f"{page.relative_to(ROOT)}: " + "; ".join(problems)


def test_anchor_slugs_follow_github():
    assert _slug("A stale or broken `.venv`") == "a-stale-or-broken-venv"
    assert _slug("For examiners: reproduce and verify") == "for-examiners-reproduce-and-verify"
    assert _slug("How `make` decides what to rebuild") == "how-make-decides-what-to-rebuild"


# ---- (d) CI runs the README's test command --------------------------------------------------------

def test_readme_test_command_is_the_makefile_test_target_and_ci_runs_it():
    readme = README.read_text(encoding="utf-8")
    top = FENCE.search(readme)
    assert top and re.search(r"^make test\b", top.group(0), re.MULTILINE), (
        "README.md's first code block must give the test command `make test`: restore it near the top")

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^test:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.MULTILINE)
    assert recipe, "the Makefile has no `test:` rule with a recipe: restore it (README.md's test command)"
    assert re.search(r"-m pytest tests notebooks .*--nbval\b", recipe.group(1)), (
        "`make test` must run pytest over tests/ and notebooks/ with --nbval, as README.md says: "
        f"fix the recipe or the README (recipe: {recipe.group(1).strip()!r})")

    ci = ROOT / ".ci" / "run"
    assert ci.is_file(), ".ci/run is missing: restore it (CI runs the README's commands from a clean clone)"
    commands = [line.strip() for line in ci.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert "make test" in commands, (
        ".ci/run does not call `make test` (the README's test command) on a line of its own: add it")
    assert any(line.startswith("set -") and "e" in line.split()[1] for line in commands), (
        ".ci/run must stop on the first failure: add `set -euo pipefail` at its top")


def test_the_code_passes_make_lint():
    """`make lint` (ruff, configured in pyproject.toml) is part of the tests, so style cannot drift."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--output-format", "concise", "src", "tests", "notebooks", "scripts",
                           "benchmarks"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"run `make lint` and fix what it lists:\n{done.stdout}{done.stderr}"
