"""Interviews (question 6): the synthetic demo transcripts, and the tidy tables the thesis reports.

Two halves:

* :func:`simulate_interviews` and :func:`write_interviews` make the demonstration interviews: about 40
  plainly synthetic transcripts at thesis scale, assembled from the sentence bank in
  ``config/interviews.yaml``, coded by coder ``A`` throughout and by coder ``B`` on a fifth of them,
  and written as a REFI-QDA project (``interviews.qdpx``) that QDA software opens. The truths (the
  configured agreement, which transcripts are double-coded, each interviewee's dominant
  policy-actor type) are returned for the caller to record in ``simulation.json``.
* :func:`coded_segments` turns any coded project (:func:`issp_research.qda.read_qdpx`) into one tidy
  table of pseudonymised segments, from which :func:`theme_frequency`, :func:`code_cooccurrence`,
  :func:`interview_worth`, :func:`policy_actor_types` and :func:`coder_agreement` compute what the
  thesis reports.

Units of analysis
-----------------
``segment``
    one coded passage: a code that one coder applied to one span of one transcript.
``interview``
    one transcript (a REFI-QDA source); every interview belongs to one participant (its case).
    Theme frequencies count interviews *mentioning* a code (at least one segment), because one
    talkative person should not weigh more than several who each mention a theme once.
``participant``
    a person; worth and policy-actor types are per participant (over all their interviews).
``agreement unit``
    one coded span (interview, start, end) of a double-coded interview. Cohen's kappa per code
    compares, over these units, whether each coder applied the code (present/absent); Krippendorff's
    alpha compares the code each coder gave the unit (nominal).

The analysis coding is coder ``A``'s (``coder="A"`` everywhere); coder ``B`` serves only the
agreement check. Outputs carry keyed pseudonyms (``PT-`` participants, ``IV-`` interviews), never
case names, source names, transcripts or quotations, because those can name people.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import dictionary as dd
from . import io, paths, pseudonym, qda, tables
from .errors import IsspError
from .reliability import cohen_kappa, krippendorff_alpha

__all__ = [
    "ANALYSIS_CODER",
    "QDPX_NAME",
    "actor_types_by",
    "agreement_table",
    "code_cooccurrence",
    "coded_segments",
    "coder_agreement",
    "compare_with_survey",
    "interview_worth",
    "load_config",
    "policy_actor_types",
    "read_coded",
    "simulate_interviews",
    "theme_frequency",
    "worth_by_actor_type",
    "write_interviews",
]

CONFIG_PATH = paths.CONFIG / "interviews.yaml"
QDPX_NAME = "interviews.qdpx"
PROJECT_NAME = "ISSP interviews (synthetic demonstration)"
ANALYSIS_CODER = "A"
INTERVIEW_PREFIX = "IV-"
SYNTHETIC_NOTICE = ("SYNTHETIC DEMONSTRATION TRANSCRIPT made by issp-research from a seeded simulator: "
                    "not a real interview, and no sentence is a real quotation.")
#: The interviews draw from their own random stream, so adding them changes none of the survey's draws.
_STREAM = 6

SEGMENT_COLUMNS = ["interview", "participant", "sector", "role", "coder", "start", "end",
                   "code", "kind", "tangible", "item"]
FREQUENCY_UNIT = ("interview: 'interviews' counts the interviews in which coder A applied the code at least "
                  "once, 'interviews_total' the interviews of the group, 'share' their ratio; "
                  "'segments' counts coded segments")
COOCCURRENCE_UNIT = "interview: the number of interviews in which coder A applied both codes (diagonal: the code)"
AGREEMENT_UNIT = ("coded span (interview, start, end) of a double-coded interview; kappa per code compares "
                  "whether each coder applied the code to the span (present/absent), alpha the code each "
                  "coder gave the span (nominal)")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

def load_config(path: str | os.PathLike[str] | None = None,
                codebook: pd.DataFrame | None = None) -> dict:
    """The interview truths and sentence bank, checked against the codebook.

    Every code without children needs at least one sentence, and every name (code, sector, role,
    actor type) must be one the codebook or the data dictionary knows, so a typo cannot silently
    leave a theme out of the demo data.
    """
    path = CONFIG_PATH if path is None else Path(path)
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise IsspError(f"cannot read the interview config: {error}", file=path,
                        fix="give a readable YAML file laid out like config/interviews.yaml") from None
    _check_config(config, qda.load_codebook() if codebook is None else codebook, path)
    return config


def _check_config(config: object, codebook: pd.DataFrame, where: object) -> None:
    def fail(message: str, setting: str, fix: str) -> None:
        raise IsspError(message, file=where, column=setting, rule="interview config layout", fix=fix)

    if not isinstance(config, dict):
        fail("the config is not a mapping of sections", "(top)", "copy the layout of config/interviews.yaml")
    for section in ("coding", "segments", "exchange", "actor_types", "partner", "questions", "sentences"):
        if not isinstance(config.get(section), dict):
            fail(f"no '{section}' section", section, "copy the layout of config/interviews.yaml")
    coding = config["coding"]
    coders = coding.get("coders")
    if not (isinstance(coders, list) and len(coders) == 2 and len(set(map(str, coders))) == 2):
        fail("coding.coders must name two different coders", "coding.coders", "write e.g. [A, B]")
    for name in ("double_coded_share", "agreement"):
        value = coding.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            fail(f"coding.{name} is {value!r}, not a probability", f"coding.{name}", "give a number from 0 to 1")
    for kind in ("exchange", "power", "enactment"):
        bounds = config["segments"].get(kind)
        low_ok = 2 if kind == "enactment" else 0
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
                and low_ok <= bounds[0] <= bounds[1]):
            fail(f"segments.{kind} is {bounds!r}", f"segments.{kind}",
                 f"give [low, high] whole numbers with {low_ok} <= low <= high")
    for name in ("intercept", "slope"):
        if not isinstance(config["exchange"].get(name), (int, float)):
            fail(f"exchange.{name} is not a number", f"exchange.{name}", "give a number")
    for sector, factors in (config.get("themes") or {}).items():
        if sector not in dd.SECTORS:
            fail(f"unknown sector '{sector}'", "themes", "use " + ", ".join(dd.SECTORS))
        for code, value in (factors or {}).items():
            if code not in _leaf_codes(codebook) or codebook.set_index("code").at[code, "kind"] == "enactment" \
                    or isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                fail(f"'{code}: {value}' is not a benefit, cost or power code with a weight >= 0",
                     f"themes.{sector}", "use codes of the codebook (enactment codes follow actor_types)")

    leaves = _leaf_codes(codebook)
    kinds = dict(zip(codebook["code"], codebook["kind"], strict=True))
    types = _actor_types(codebook)
    actor = config["actor_types"]
    weights = actor.get("base")
    if not isinstance(weights, dict) or set(weights) != set(types):
        fail("actor_types.base must give a weight to each policy-actor type", "actor_types.base",
             "list " + ", ".join(types))
    factor_keys = {"sector": set(dd.SECTORS), "role": set(dd.ROLES),
                   "sector_x_role": {f"{s}:{r}" for s in dd.SECTORS for r in dd.ROLES}}
    for section, allowed in factor_keys.items():
        for key, factors in (actor.get(section) or {}).items():
            if key not in allowed:
                fail(f"unknown {section} '{key}'", f"actor_types.{section}", "use " + ", ".join(sorted(allowed)))
            for name, value in (factors or {}).items():
                if name not in types or isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    fail(f"'{name}: {value}' is not a policy-actor type with a weight >= 0",
                         f"actor_types.{section}.{key}", "use " + ", ".join(types))
    for sector in dd.SECTORS:
        if not isinstance(config["partner"].get(sector), str):
            fail(f"no partner phrase for {sector} speakers", "partner", "give one phrase per sector")
    for kind in qda.KINDS:
        if not (isinstance(config["questions"].get(kind), list) and config["questions"][kind]):
            fail(f"no interviewer questions for {kind} codes", f"questions.{kind}", "list one question or more")
    bank = config["sentences"]
    for code in bank:
        if code not in kinds:
            fail(f"sentences for unknown code '{code}'", "sentences", "use a code of the codebook")
        if code not in leaves:
            fail(f"sentences for '{code}', which groups other codes", "sentences", "give sentences to its children")
    for code in leaves:
        sentences = bank.get(code)
        if not (isinstance(sentences, list) and sentences and all(isinstance(s, str) and s.strip()
                                                                  for s in sentences)):
            fail(f"no sentences for code '{code}'", f"sentences.{code}", "write one sentence or more")
        for sentence in sentences:
            try:
                sentence.format(partner="x")
            except (KeyError, IndexError, ValueError):
                fail(f"sentence {sentence[:40]!r} has a placeholder other than {{partner}}", f"sentences.{code}",
                     "use only {partner}")


def _leaf_codes(codebook: pd.DataFrame) -> list[str]:
    """Codes a coder applies for a theme: those that group no other code, in codebook order."""
    parents = set(codebook["parent"].dropna())
    return [code for code in codebook["code"] if code not in parents]


def _actor_types(codebook: pd.DataFrame) -> list[str]:
    """The policy-actor types: enactment codes that group no other code, in codebook order."""
    kinds = dict(zip(codebook["code"], codebook["kind"], strict=True))
    return [code for code in _leaf_codes(codebook) if kinds[code] == "enactment"]


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------

def _spellings(table: str, column: str) -> dict[str, str]:
    spec = dd.RAW_TABLES[table].column(column)
    spelling = {label: label for label in spec.labels}
    for label, variants in spec.variants.items():
        spelling.update({" ".join(variant.lower().split()): label for variant in variants})
    return spelling


def _canonical(values: pd.Series, table: str, column: str) -> pd.Series:
    """Raw labels ("SLT", " Teacher ") as the dictionary's labels; an unknown spelling is refused."""
    text = values.astype("object").astype(str)
    keys = text.str.strip().str.lower().str.split().str.join(" ")
    mapped = keys.map(_spellings(table, column))
    if mapped.isna().any():
        row = mapped.index[mapped.isna()][0]
        raise IsspError(f"unknown label '{text[row]}'", file=dd.RAW_FILES[table], row=row, column=column,
                        rule="labels of the data dictionary", fix="pass the raw table as simulate() gives it")
    return mapped.astype("object")


def _flags(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    return values.astype("object").astype(str).str.strip().str.lower().isin({"true", "1", "yes", "y"})


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str, fix: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise IsspError(f"the {name} table is a {type(frame).__name__}, not a DataFrame", fix=fix)
    for column in columns:
        if column not in frame.columns:
            raise IsspError(f"the {name} table has no column '{column}'", column=column,
                            rule=f"the {name} table has the columns " + ", ".join(columns), fix=fix)


def _survey_worth(survey: pd.DataFrame | None) -> dict[str, float]:
    """Each respondent's mean answered benefit item less mean answered cost item in the raw export.

    A rough version of the worth index (no cleaning rules): special codes and blanks are ignored and
    a person's several submissions are averaged. It only steers the simulation.
    """
    if survey is None:
        return {}
    _require_columns(survey, ["participant_id", *dd.ITEMS], "survey",
                     "pass simulate(...).tables['survey'] or the raw survey.csv as read")
    scores = survey[list(dd.ITEMS)].apply(lambda column: pd.to_numeric(column, errors="coerce")).astype(float)
    scores = scores.where((scores >= dd.LIKERT_MIN) & (scores <= dd.LIKERT_MAX))
    worth = scores[list(dd.BENEFITS)].mean(axis=1) - scores[list(dd.COSTS)].mean(axis=1)
    ids = survey["participant_id"].astype("object").astype(str).str.strip()
    per_person = worth.groupby(ids).mean().dropna()
    return {str(person): float(value) for person, value in per_person.items()}


def _type_probabilities(config: dict, types: list[str], sector: str, role: str) -> np.ndarray:
    actor = config["actor_types"]
    weights = np.array([float(actor["base"][t]) for t in types])
    for factors in ((actor.get("sector") or {}).get(sector), (actor.get("role") or {}).get(role),
                    (actor.get("sector_x_role") or {}).get(f"{sector}:{role}")):
        weights = weights * np.array([float((factors or {}).get(t, 1.0)) for t in types])
    if weights.sum() <= 0:
        raise IsspError(f"every policy-actor type has weight 0 for {sector} {role}s", file=CONFIG_PATH,
                        column="actor_types", fix="give at least one type a positive weight")
    return weights / weights.sum()


def _theme_weights(config: dict, codes: list[str], sector: str) -> np.ndarray:
    factors = (config.get("themes") or {}).get(sector) or {}
    weights = np.array([float(factors.get(code, 1.0)) for code in codes])
    return weights / weights.sum()


def actor_type_probabilities(config: dict | None = None, codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """The configured chance of each dominant policy-actor type in every sector x role cell (the truth)."""
    codebook = qda.load_codebook() if codebook is None else codebook
    config = load_config(codebook=codebook) if config is None else config
    types = _actor_types(codebook)
    rows = [{"sector": s, "role": r, "actor_type": t, "probability": p}
            for s in dd.SECTORS for r in dd.ROLES
            for t, p in zip(types, _type_probabilities(config, types, s, r), strict=True)]
    return pd.DataFrame(rows)


def simulate_interviews(participants: pd.DataFrame, schools: pd.DataFrame, seed: int = 2021,
                        config: dict | None = None, *, survey: pd.DataFrame | None = None,
                        codebook: pd.DataFrame | None = None) -> dict[str, Any]:
    """Draw the synthetic coded interviews of everyone interviewed who consented.

    ``participants`` and ``schools`` are the raw tables as :func:`issp_research.simulate.simulate`
    gives them (or as read from the raw CSVs: labels may be platform variants, cells padded); the
    number of interviews follows them (about 40 at thesis scale). Given the raw ``survey`` too, the
    balance of benefit and cost talk follows each person's survey answers (``exchange`` in the
    config), so interview worth and survey worth agree to a known degree.

    Returns a dict with what :func:`write_interviews` writes (``codebook``, ``sources``, ``cases``,
    ``users``, ``codings``) and ``truths``: what the analysis should recover. The same inputs and
    seed give the same dict, and the same ``interviews.qdpx`` bytes.
    """
    codebook = qda.load_codebook() if codebook is None else codebook
    config = load_config(codebook=codebook) if config is None else config
    _check_config(config, codebook, "config")
    fix = "pass simulate(...).tables['participants'] and ['schools'] (raw tables)"
    _require_columns(participants, ["participant_id", "school_id", "role", "interviewed", "consent"],
                     "participants", fix)
    _require_columns(schools, ["school_id", "sector"], "schools", fix)

    people = pd.DataFrame({
        "participant_id": participants["participant_id"].astype("object").astype(str).str.strip(),
        "school_id": participants["school_id"].astype("object").astype(str).str.strip(),
        "role": _canonical(participants["role"], "participants", "role"),
        "interviewed": _flags(participants["interviewed"]),
        "consent": _canonical(participants["consent"], "participants", "consent"),
    })
    sector_of = dict(zip(schools["school_id"].astype("object").astype(str).str.strip(),
                         _canonical(schools["sector"], "schools", "sector"), strict=True))
    people = people[people["interviewed"] & (people["consent"] == "yes")]
    people = people.sort_values("participant_id", kind="stable").reset_index(drop=True)
    unknown = ~people["school_id"].isin(list(sector_of))
    if unknown.any():
        raise IsspError(f"school '{people.loc[unknown.idxmax(), 'school_id']}' is not in schools.csv",
                        file=dd.RAW_FILES["participants"], column="school_id",
                        rule="every participant belongs to a listed school", fix=fix)
    people["sector"] = people["school_id"].map(sector_of)
    if people.empty:
        raise IsspError("nobody was interviewed with consent", file=dd.RAW_FILES["participants"],
                        column="interviewed", rule="the demo interviews need interviewees",
                        fix="simulate a larger sample (scale) or raise size.interviewed_share")

    kinds = dict(zip(codebook["code"], codebook["kind"], strict=True))
    leaves = _leaf_codes(codebook)
    by_kind = {kind: [c for c in leaves if kinds[c] == kind] for kind in qda.KINDS}
    types = _actor_types(codebook)
    worth = _survey_worth(survey)
    coder_a, coder_b = (str(c) for c in config["coding"]["coders"])
    agreement = float(config["coding"]["agreement"])
    seeds = np.random.SeedSequence([int(seed), _STREAM]).spawn(3)
    rng_people, rng_double, rng_b = (np.random.default_rng(s) for s in seeds)

    n = len(people)
    names = [f"INT-{i:03d}" for i in range(1, n + 1)]
    n_double = min(n, round(config["coding"]["double_coded_share"] * n))
    double = set(rng_double.choice(n, size=n_double, replace=False).tolist()) if n_double else set()

    sources, codings, cases = [], [], {}
    actor_truth: dict[str, str] = {}
    agreed = double_units = 0
    bounds = config["segments"]
    exchange = config["exchange"]
    for index, person in enumerate(people.itertuples(index=False)):
        dominant = str(rng_people.choice(types, p=_type_probabilities(config, types, person.sector, person.role)))
        actor_truth[person.participant_id] = dominant
        p_benefit = 1 / (1 + math.exp(-(exchange["intercept"] + exchange["slope"]
                                        * worth.get(person.participant_id, 0.0))))
        n_exchange = int(rng_people.integers(bounds["exchange"][0], bounds["exchange"][1] + 1))
        n_power = int(rng_people.integers(bounds["power"][0], bounds["power"][1] + 1))
        n_enactment = int(rng_people.integers(bounds["enactment"][0], bounds["enactment"][1] + 1))
        weights = {kind: _theme_weights(config, by_kind[kind], person.sector) for kind in ("benefit", "cost", "power")}
        codes = []
        for _ in range(n_exchange):
            kind = "benefit" if rng_people.random() < p_benefit else "cost"
            codes.append(str(rng_people.choice(by_kind[kind], p=weights[kind])))
        codes += [str(c) for c in rng_people.choice(by_kind["power"], size=n_power, p=weights["power"])]
        n_other = int(rng_people.integers(0, n_enactment - 1))  # 0 .. n-2: the dominant type keeps >= 2
        others = rng_people.choice([t for t in types if t != dominant], size=n_other, replace=False)
        codes += [dominant] * (n_enactment - n_other) + [str(t) for t in others]
        codes = [codes[i] for i in rng_people.permutation(len(codes))]

        text, spans = _transcript(rng_people, config, codes, kinds, names[index], person)
        sources.append((names[index], text, person.participant_id))
        cases[person.participant_id] = {"role": person.role, "sector": person.sector}
        for code, (start, end) in zip(codes, spans, strict=True):
            codings.append({"source": names[index], "start": start, "end": end, "code": code, "coder": coder_a})
            if index in double:
                same = rng_b.random() < agreement
                alternatives = [c for c in by_kind[kinds[code]] if c != code]
                code_b = code if same or not alternatives else str(rng_b.choice(alternatives))
                codings.append({"source": names[index], "start": start, "end": end, "code": code_b,
                                "coder": coder_b})
                agreed += code_b == code
                double_units += 1

    truths = {
        "seed": int(seed),
        "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "interviews": n,
        "segments": sum(c["coder"] == coder_a for c in codings),
        "coders": [coder_a, coder_b],
        "analysis_coder": coder_a,
        "agreement": agreement,
        "double_coded": [names[i] for i in sorted(double)],
        "double_coded_segments": double_units,
        "observed_agreement": agreed / double_units if double_units else None,
        "actor_types": actor_truth,
        "exchange": {"intercept": exchange["intercept"], "slope": exchange["slope"],
                     "linked_to_survey": survey is not None},
    }
    return {"codebook": codebook, "sources": sources, "cases": cases, "users": [coder_a, coder_b],
            "codings": codings, "truths": truths}


def _transcript(rng: np.random.Generator, config: dict, codes: list[str], kinds: dict[str, str],
                name: str, person: Any) -> tuple[str, list[tuple[int, int]]]:
    """The transcript text and each answer's span (code points, end exclusive)."""
    partner = config["partner"][person.sector]
    parts = [SYNTHETIC_NOTICE, "\n",
             f"{name}. Interviewee: {person.role.replace('_', ' ')}, {person.sector} school.", "\n\n"]
    position = sum(len(p) for p in parts)
    used: dict[str, set[int]] = {}
    spans = []
    for code in codes:
        questions = config["questions"][kinds[code]]
        question = f"Interviewer: {questions[int(rng.integers(len(questions)))]}\nRespondent: "
        bank = config["sentences"][code]
        fresh = [i for i in range(len(bank)) if i not in used.setdefault(code, set())] or list(range(len(bank)))
        choice = fresh[int(rng.integers(len(fresh)))]
        used[code].add(choice)
        answer = bank[choice].format(partner=partner)
        answer = answer[:1].upper() + answer[1:]
        start = position + len(question)
        spans.append((start, start + len(answer)))
        parts += [question, answer, "\n\n"]
        position = start + len(answer) + 2
    return "".join(parts), spans


def write_interviews(result: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the simulated interviews as REFI-QDA: ``path`` is a ``.qdpx`` file or a folder for ``interviews.qdpx``.

    Same result, same bytes. The truths are not written: the caller records them in simulation.json.
    """
    target = Path(path)
    if target.suffix.lower() != ".qdpx":
        target = target / QDPX_NAME
    missing = [key for key in ("codebook", "sources", "cases", "users", "codings") if key not in result]
    if missing:
        raise IsspError(f"the interviews lack {', '.join(missing)}", file=target,
                        rule="write what simulate_interviews() returns", fix="pass simulate_interviews(...)")
    return qda.write_qdpx(target, codebook=result["codebook"], sources=result["sources"], cases=result["cases"],
                          users=result["users"], codings=result["codings"], name=PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Coded segments
# --------------------------------------------------------------------------------------------

def read_coded(path: str | os.PathLike[str], codebook: pd.DataFrame | None = None) -> qda.QdaProject:
    """The coded interviews, whichever route they came by: a REFI-QDA export or a segments CSV.

    A ``.csv`` is read as coded segments typed into a spreadsheet (:func:`qda.read_segments_csv`,
    checked against the codebook); anything else as a REFI-QDA project (``.qdpx`` or ``.qde``).
    Like the survey export, the file is raw data: it is refused unless the ``SHA256SUMS`` beside it
    records exactly these bytes.
    """
    path = Path(path)
    io.read_verified(path.parent, path.name, io.read_checksums(path.parent))
    if path.suffix.lower() == ".csv":
        return qda.read_segments_csv(path, qda.load_codebook() if codebook is None else codebook)
    return qda.read_qdpx(path)


def interview_pseudonym(source: pd.Series, key: bytes) -> pd.Series:
    """Keyed pseudonyms of interview (source) names: source names can carry a person's name."""
    mapping = {value: INTERVIEW_PREFIX + hmac.new(key, f"interview:{value}".encode(), hashlib.sha256)
               .hexdigest()[:pseudonym.DIGITS] for value in pd.unique(source.dropna())}
    return source.map(mapping)


def _checked_codes(segments: pd.DataFrame, codebook: pd.DataFrame, where: str) -> None:
    known = set(codebook["code"])
    codes = segments["code"].astype("object")
    bad = segments[codes.isna() | ~codes.isin(known)]  # only the bad rows are looked at one by one
    for row in bad.itertuples(index=False):
        if row.code is None or (isinstance(row.code, float) and math.isnan(row.code)):
            raise IsspError(f"a coding in interview '{row.source}' refers to a code the project does not define",
                            file=where, rule="every coding names a code of the project's codebook",
                            fix="export the project again from the QDA software")
        if row.code not in known:
            raise IsspError(f"unknown code '{row.code}' in interview '{row.source}'", file=where, column="code",
                            rule="codes come from the study codebook (config/codebook.yaml)",
                            fix="rename the code in the QDA software to a codebook code, or add it to the codebook")


def _code_categories(used: Sequence[str], codebook: pd.DataFrame) -> list[str]:
    """Codes that can be a theme (codebook leaves) plus grouping codes someone applied, in codebook order."""
    leaves, used = set(_leaf_codes(codebook)), set(used)
    return [code for code in codebook["code"] if code in leaves or code in used]


def coded_segments(project: qda.QdaProject, participants: pd.DataFrame, key: bytes,
                   codebook: pd.DataFrame | None = None, schools: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per coded segment, pseudonymised, with the speaker's sector and role and the code's kind.

    ``participants`` is the processed participants table (``participant`` pseudonym, ``school``,
    ``role``); the sector comes from its own ``sector`` column or, failing that, from the processed
    ``schools`` table. Each project case (the raw participant_id) becomes its keyed pseudonym with
    ``key``, the same key cleaning used. Columns: interview (``IV-`` pseudonym), participant,
    sector, role, coder, start, end, code (Categorical in codebook order, holding every theme code
    even if unused), kind, tangible, item. Source names, case names and quoted texts are left out.

    A code that is not in the codebook, a segment without a case and a case that is not a consenting
    participant each stop with an :class:`IsspError` naming the interview.
    """
    if not isinstance(project, qda.QdaProject):
        raise IsspError(f"project is a {type(project).__name__}", rule="a coded project as qda.read_qdpx gives it",
                        fix="pass qda.read_qdpx(path) or qda.read_segments_csv(path)")
    codebook = qda.load_codebook() if codebook is None else codebook
    fix = "pass clean.read_processed(...)['participants'] and schools=...['schools']"
    _require_columns(participants, ["participant", "role"], "participants", fix)
    where = f"interview project ({project.origin or 'unknown origin'})"
    segments = project.segments
    _checked_codes(segments, codebook, where)
    if "sector" not in participants:
        if schools is None:
            raise IsspError("the participants table has no 'sector' and no schools table was given",
                            column="sector", rule="sector comes from the processed schools table", fix=fix)
        _require_columns(participants, ["school"], "participants", fix)
        _require_columns(schools, ["school", "sector"], "schools", fix)
    people = participants[["participant", "role", *(["sector"] if "sector" in participants else ["school"])]]
    people = people.astype({"participant": "object"})
    if "sector" not in people:
        people = people.astype({"school": "object"}).merge(
            schools[["school", "sector"]].astype({"school": "object"}), on="school", how="left", validate="many_to_one")

    no_case = segments["case"].isna()
    if no_case.any():
        raise IsspError(f"interview '{segments.loc[no_case.idxmax(), 'source']}' belongs to no case",
                        file=where, column="case", rule="every interview is linked to its participant as a case",
                        fix="in the QDA software, add the transcript to the case named by the participant_id")
    frame = pd.DataFrame({
        "interview": interview_pseudonym(segments["source"].astype("object"), key),
        "participant": pseudonym.pseudonymise(segments["case"].astype("object").str.strip(), "participant", key),
        "coder": segments["coder"].astype("object"),
        "start": segments["start"], "end": segments["end"],
        "code": segments["code"].astype("object"),
    })
    frame = frame.merge(people, on="participant", how="left", validate="many_to_one")
    unmatched = frame["role"].isna()
    if unmatched.any():
        source = segments["source"].iloc[int(np.flatnonzero(unmatched.to_numpy())[0])]
        raise IsspError(f"interview '{source}' belongs to a case that is not a consenting participant",
                        file=where, column="case",
                        rule="case names are participant_ids of participants.csv, and only consenting people's "
                             "interviews are analysed",
                        fix="rename the case to the participant_id, or remove the interview of a person who did "
                            "not consent")
    book = codebook.set_index("code")
    frame["kind"] = pd.Categorical(frame["code"].map(book["kind"]), categories=list(qda.KINDS))
    frame["tangible"] = frame["code"].map(book["tangible"]).astype("boolean")
    frame["item"] = frame["code"].map(book["item"]).astype("object")
    frame["code"] = pd.Categorical(frame["code"], categories=_code_categories(frame["code"], codebook))
    frame["sector"] = pd.Categorical(frame["sector"].astype("object"), categories=list(dd.SECTORS))
    frame["role"] = pd.Categorical(frame["role"].astype("object"), categories=list(dd.ROLES))
    for column in ("interview", "participant", "coder"):
        frame[column] = frame[column].astype("object")
    frame = frame[SEGMENT_COLUMNS].sort_values(["interview", "start", "end", "coder", "code"], kind="stable")
    return frame.reset_index(drop=True)


def _analysis(segments: pd.DataFrame, coder: str, function: str) -> pd.DataFrame:
    _require_columns(segments, ["interview", "participant", "coder", "code", "kind"], "segments",
                     "pass coded_segments(...)")
    coded = segments[segments["coder"] == coder]
    if coded.empty:
        coders = ", ".join(sorted(map(str, segments["coder"].dropna().unique()))) or "none"
        raise IsspError(f"{function}: no segments by coder '{coder}' (coders: {coders})", column="coder",
                        rule="the analysis coding is one coder's", fix="pass coder= one of the coders listed")
    return coded


def _codes_of(segments: pd.DataFrame) -> list[str]:
    if isinstance(segments["code"].dtype, pd.CategoricalDtype):
        return list(segments["code"].cat.categories)
    return list(dict.fromkeys(segments["code"].dropna()))


def _kinds_of(segments: pd.DataFrame, codes: Sequence[str], codebook: pd.DataFrame | None) -> dict[str, str]:
    kinds = dict(zip(segments["code"].astype("object"), segments["kind"].astype("object"), strict=True))
    missing = [code for code in codes if code not in kinds]
    if missing:
        book = qda.load_codebook() if codebook is None else codebook
        kinds.update({code: kind for code, kind in zip(book["code"], book["kind"], strict=True) if code in missing})
    return kinds


def _levels(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    return sorted(values.dropna().unique())


# --------------------------------------------------------------------------------------------
# Themes
# --------------------------------------------------------------------------------------------

def theme_frequency(segments: pd.DataFrame, by: Sequence[str] = ("sector",), coder: str = ANALYSIS_CODER,
                    codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """How often each code occurs in coder A's coding, per group: the unit is the interview.

    One row per code and group (every code of the segments' categories, every level of ``by``; zeros
    kept): ``segments`` (coded segments), ``interviews`` (interviews mentioning the code at least
    once), ``interviews_total`` (the group's interviews with any coding) and ``share``
    (interviews / interviews_total). ``by=()`` gives one row per code over all interviews.
    """
    by = list(by)
    coded = _analysis(segments, coder, "theme_frequency")
    _require_columns(segments, by, "segments", "group by columns of coded_segments(): sector, role")
    codes = _codes_of(segments)
    kinds = _kinds_of(segments, codes, codebook)
    groups = list(pd.MultiIndex.from_product([_levels(segments[c]) for c in by], names=by)) if by else [()]
    interviews = coded.drop_duplicates("interview")
    rows = []
    for group in groups:
        group = group if isinstance(group, tuple) else (group,)
        mask = np.ones(len(coded), dtype=bool)
        total_mask = np.ones(len(interviews), dtype=bool)
        for column, level in zip(by, group, strict=True):
            mask &= (coded[column] == level).to_numpy()
            total_mask &= (interviews[column] == level).to_numpy()
        in_group = coded[mask]
        total = int(total_mask.sum())
        counts = in_group.groupby(in_group["code"].astype("object"))["interview"].agg(["size", "nunique"])
        for code in codes:
            n_segments, n_interviews = (counts.loc[code].tolist() if code in counts.index else (0, 0))
            rows.append({"code": code, "kind": kinds[code], **dict(zip(by, group, strict=True)),
                         "segments": int(n_segments), "interviews": int(n_interviews), "interviews_total": total,
                         "share": n_interviews / total if total else np.nan})
    frame = pd.DataFrame(rows, columns=["code", "kind", *by, "segments", "interviews", "interviews_total", "share"])
    frame["code"] = pd.Categorical(frame["code"], categories=codes)
    frame["kind"] = pd.Categorical(frame["kind"], categories=list(qda.KINDS))
    for column in by:
        frame[column] = pd.Categorical(frame[column], categories=_levels(segments[column]))
    frame = frame.sort_values(["kind", "code", *by], kind="stable").reset_index(drop=True)
    frame.attrs.update(unit=FREQUENCY_UNIT, coder=coder)
    return frame


def code_cooccurrence(segments: pd.DataFrame, coder: str = ANALYSIS_CODER, square: bool = False,
                      codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """In how many interviews coder A applied both codes of each pair: the unit is the interview.

    Long form (default): one row per unordered pair in code order, ``code_a`` before or equal to
    ``code_b``, with ``kind_a``, ``kind_b`` and ``interviews``; the diagonal (``code_a == code_b``)
    counts the interviews mentioning the code. ``square=True`` gives the symmetric code x code
    table instead.
    """
    coded = _analysis(segments, coder, "code_cooccurrence")
    codes = _codes_of(segments)
    kinds = _kinds_of(segments, codes, codebook)
    present = pd.crosstab(coded["interview"], coded["code"].astype("object")).reindex(columns=codes, fill_value=0)
    incidence = (present > 0).astype("int64")
    matrix = incidence.T @ incidence
    matrix.index.name, matrix.columns.name = "code_a", "code_b"
    if square:
        matrix.attrs.update(unit=COOCCURRENCE_UNIT, coder=coder)
        return matrix
    rows = [{"code_a": a, "code_b": b, "kind_a": kinds[a], "kind_b": kinds[b], "interviews": int(matrix.at[a, b])}
            for i, a in enumerate(codes) for b in codes[i:]]
    frame = pd.DataFrame(rows, columns=["code_a", "code_b", "kind_a", "kind_b", "interviews"])
    for column in ("code_a", "code_b"):
        frame[column] = pd.Categorical(frame[column], categories=codes)
    for column in ("kind_a", "kind_b"):
        frame[column] = pd.Categorical(frame[column], categories=list(qda.KINDS))
    frame.attrs.update(unit=COOCCURRENCE_UNIT, coder=coder)
    return frame


# --------------------------------------------------------------------------------------------
# Worth and policy-actor types, per participant
# --------------------------------------------------------------------------------------------

def _people(coded: pd.DataFrame) -> pd.DataFrame:
    columns = ["participant"] + [c for c in ("sector", "role") if c in coded.columns]
    return coded[columns].drop_duplicates("participant").sort_values("participant").reset_index(drop=True)


def interview_worth(segments: pd.DataFrame, coder: str = ANALYSIS_CODER) -> pd.DataFrame:
    """Worth as the interviews tell it, per participant (social exchange: benefits less costs).

    Over all of a participant's interviews in coder A's coding: ``benefit_segments``,
    ``cost_segments``, ``segments`` (every coded segment), ``worth`` = benefit less cost segments,
    ``worth_per_segment`` = worth / segments (so a long interview does not count more), and
    ``balance`` = worth / (benefit + cost segments), from -1 (only costs) to +1 (only benefits),
    missing when the person spoke of neither.
    """
    coded = _analysis(segments, coder, "interview_worth")
    kind = coded["kind"].astype("object")
    counts = pd.DataFrame({
        "participant": coded["participant"],
        "interviews": coded["interview"],
        "benefit_segments": (kind == "benefit").astype("int64"),
        "cost_segments": (kind == "cost").astype("int64"),
        "segments": 1,
    }).groupby("participant").agg(interviews=("interviews", "nunique"), benefit_segments=("benefit_segments", "sum"),
                                  cost_segments=("cost_segments", "sum"), segments=("segments", "sum"))
    frame = _people(coded).merge(counts.reset_index(), on="participant", how="left")
    frame["worth"] = frame["benefit_segments"] - frame["cost_segments"]
    frame["worth_per_segment"] = frame["worth"] / frame["segments"]
    exchange = frame["benefit_segments"] + frame["cost_segments"]
    frame["balance"] = (frame["worth"] / exchange.where(exchange > 0)).astype("float64")
    frame.attrs.update(unit="participant", coder=coder)
    return frame


def compare_with_survey(interview_worth: pd.DataFrame, survey_worth: pd.DataFrame,
                        interview_column: str = "balance", survey_column: str = "worth",
                        ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Interview worth beside survey worth for the people who gave both, and how closely they agree.

    ``survey_worth`` has one row per respondent with ``participant`` and ``survey_column`` (e.g.
    ``worth.respondent_scores(worth.analysis_frame(tables))``). Returns the joined table
    (participant, sector, role, ``interview_<column>``, ``survey_worth``) and a dict with ``n``,
    Pearson's r and Spearman's rho with their two-sided p-values (nan below 3 people or without
    variation), and how many interviewees had no survey worth.
    """
    from scipy import stats

    _require_columns(interview_worth, ["participant", interview_column], "interview worth",
                     "pass interview_worth(segments)")
    _require_columns(survey_worth, ["participant", survey_column], "survey worth",
                     "pass worth.respondent_scores(worth.analysis_frame(tables))")
    if survey_worth["participant"].duplicated().any():
        raise IsspError("a participant has more than one survey worth", column="participant",
                        rule="one survey worth per respondent", fix="pass one row per respondent")
    left = interview_worth[["participant", *[c for c in ("sector", "role") if c in interview_worth],
                            interview_column]].rename(columns={interview_column: f"interview_{interview_column}"})
    right = survey_worth[["participant", survey_column]].rename(columns={survey_column: "survey_worth"})
    joined = left.astype({"participant": "object"}).merge(right.astype({"participant": "object"}),
                                                          on="participant", how="inner", validate="one_to_one")
    x = joined[f"interview_{interview_column}"].astype("float64")
    y = joined["survey_worth"].astype("float64")
    usable = x.notna() & y.notna()
    joined = joined.sort_values("participant").reset_index(drop=True)
    result: dict[str, Any] = {
        "interview_measure": interview_column, "survey_measure": survey_column, "n": int(usable.sum()),
        "interviewees_without_survey_worth": int(len(interview_worth) - usable.sum()),
        "pearson_r": np.nan, "pearson_p": np.nan, "spearman_rho": np.nan, "spearman_p": np.nan,
    }
    if usable.sum() >= 3 and x[usable].nunique() > 1 and y[usable].nunique() > 1:
        pearson = stats.pearsonr(x[usable], y[usable])
        spearman = stats.spearmanr(x[usable], y[usable])
        result.update(pearson_r=float(pearson.statistic), pearson_p=float(pearson.pvalue),
                      spearman_rho=float(spearman.statistic), spearman_p=float(spearman.pvalue))
    return joined, result


def policy_actor_types(segments: pd.DataFrame, coder: str = ANALYSIS_CODER,
                       codebook: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each participant's dominant policy-actor type: the enactment code coder A applied most often.

    Only the eight types count (the grouping code ``policy_enactment`` names no type). Ties go to
    the tied type mentioned first, in interview order (by pseudonym) then position in the
    transcript, and at the very same span to the type listed first in the codebook; ``tied`` says
    when a tie was broken. A participant without enactment segments has no type (missing).
    Columns: participant, sector, role, actor_type, type_segments, enactment_segments, tied.
    """
    coded = _analysis(segments, coder, "policy_actor_types")
    types = _actor_types(qda.load_codebook() if codebook is None else codebook)
    rank = {t: i for i, t in enumerate(types)}
    enact = coded[coded["code"].astype("object").isin(types)].copy()
    enact["code"] = enact["code"].astype("object")
    enact["rank"] = enact["code"].map(rank)
    enact["participant"] = enact["participant"].astype("object")
    enact = enact.sort_values(["participant", "interview", "start", "end", "rank"], kind="stable")
    # Grouped counts rather than a loop over people: the loop took seconds per thousand interviewees.
    per_type = (enact.assign(order=np.arange(len(enact)))
                .groupby(["participant", "code"], sort=False)["order"].agg(["size", "min"]).reset_index())
    per_person = per_type.groupby("participant")["size"]
    per_type["best"], per_type["total"] = per_person.transform("max"), per_person.transform("sum")
    top = per_type[per_type["size"] == per_type["best"]]
    chosen = top.sort_values("min").drop_duplicates("participant")  # the first mention among the tied
    typed = pd.DataFrame({
        "participant": chosen["participant"], "actor_type": chosen["code"],
        "type_segments": chosen["size"].astype("int64"), "enactment_segments": chosen["total"].astype("int64"),
        "tied": chosen["participant"].map(top["participant"].value_counts()).gt(1),
    }).sort_values("participant").reset_index(drop=True)
    frame = _people(coded).merge(typed, on="participant", how="left")
    frame["actor_type"] = pd.Categorical(frame["actor_type"], categories=types)
    frame[["type_segments", "enactment_segments"]] = frame[["type_segments", "enactment_segments"]].fillna(0).astype(
        "int64")
    frame["tied"] = frame["tied"].astype("boolean").fillna(False).astype(bool)
    frame.attrs.update(unit="participant", coder=coder)
    return frame


def actor_types_by(participant_types: pd.DataFrame, by: Sequence[str] = ("sector", "role")) -> pd.DataFrame:
    """People of each policy-actor type per group: every group and type, zeros kept (column ``people``).

    People without a type are not counted; how many there were is in ``attrs['untyped']``.
    Publish it through :func:`issp_research.tables.suppress_small_cells` (counts of people).
    """
    by = list(by)
    _require_columns(participant_types, ["participant", "actor_type", *by], "participant types",
                     "pass policy_actor_types(segments)")
    typed = participant_types[participant_types["actor_type"].notna()]
    types = _levels(participant_types["actor_type"])
    levels = [_levels(participant_types[c]) for c in by] + [types]
    grid = pd.MultiIndex.from_product(levels, names=[*by, "actor_type"])
    counts = typed.groupby([*by, "actor_type"], observed=True).size()
    frame = counts.reindex(grid, fill_value=0).rename("people").astype("int64").reset_index()
    for column, values in zip([*by, "actor_type"], levels, strict=True):
        frame[column] = pd.Categorical(frame[column], categories=values)
    frame.attrs.update(unit="participant", untyped=int(len(participant_types) - len(typed)),
                       coder=participant_types.attrs.get("coder", ANALYSIS_CODER))
    return frame


def actor_types_panels(counts: pd.DataFrame,
                       panels: Sequence[str | Sequence[str]]) -> list[tuple[list[str], pd.DataFrame]]:
    """One types x groups table per panel (figure 9's heatmaps): its grouping columns and the counts.

    ``counts`` is :func:`actor_types_by`; each panel sums it over the other grouping columns.
    """
    _require_columns(counts, ["actor_type", "people"], "policy-actor type counts", "pass actor_types_by(types)")
    types = (list(counts["actor_type"].cat.categories) if isinstance(counts["actor_type"].dtype, pd.CategoricalDtype)
             else list(dict.fromkeys(counts["actor_type"])))
    out = []
    groupings = [{panel} if isinstance(panel, str) else set(panel) for panel in panels]
    for i, one in enumerate(groupings):
        for other in groupings[i + 1:]:
            if one <= other or other <= one:
                raise IsspError(f"panels {sorted(one)} and {sorted(other)} nest: one sums the other's cells",
                                rule="figure 9 draws either the margins (sector, role) or the joint cells, not both, "
                                     "so that a hidden cell cannot be worked out from another panel",
                                fix="pass panels=('sector', 'role') or panels=[('sector', 'role')]")
    for panel in panels:
        columns = [panel] if isinstance(panel, str) else list(panel)
        _require_columns(counts, columns, "policy-actor type counts", "count with actor_types_by(types, by=...) first")
        table = counts.pivot_table(index="actor_type", columns=columns, values="people", aggfunc="sum",
                                   observed=False, fill_value=0)
        out.append((columns, table.reindex(index=types, fill_value=0).astype("int64")))
    return out


def actor_types_table(counts: pd.DataFrame, panels: Sequence[str | Sequence[str]] = ("sector", "role"),
                      k: int = 5) -> pd.DataFrame:
    """Figure 9 as a table: the numbers it prints, "<k" and "[c]" where it hides them.

    One column per group, under its panel's name; the same :func:`issp_research.tables.disclosure`
    as the figure, so a notebook showing both discloses nothing the figure does not. Kept here rather
    than with the figure so that the interviews notebook needs no plotting library.
    """
    grouped = actor_types_panels(counts, panels)
    shown = {}
    for (columns, table), status in zip(grouped, tables.disclosure([table for _, table in grouped], k),
                                        strict=True):
        cells = np.where(status == "small", f"<{k}", np.where(status == "complementary", tables.DERIVED_MARKER,
                                                              table.to_numpy().astype(object)))
        shown[" x ".join(columns)] = pd.DataFrame(cells, index=table.index, columns=table.columns)
    return pd.concat(shown, axis=1)


def worth_by_actor_type(participant_types: pd.DataFrame, survey_worth: pd.DataFrame,
                        survey_column: str = "worth") -> pd.DataFrame:
    """Survey worth of the interviewees of each policy-actor type (question 5: do types relate to worth?).

    One row per type (every type, zeros kept): ``people`` (typed interviewees with a survey worth),
    ``mean_worth`` and ``sd_worth``. Publish it through :func:`issp_research.tables.suppress_small_cells`
    with the mean and SD derived from ``people``: a mean over one or two people discloses them.
    """
    _require_columns(participant_types, ["participant", "actor_type"], "participant types",
                     "pass policy_actor_types(segments)")
    _require_columns(survey_worth, ["participant", survey_column], "survey worth",
                     "pass worth.respondent_scores(worth.analysis_frame(tables))")
    joined = (participant_types[["participant", "actor_type"]].astype({"participant": "object"})
              .merge(survey_worth[["participant", survey_column]].astype({"participant": "object"}),
                     on="participant", how="inner", validate="one_to_one")
              .dropna(subset=["actor_type", survey_column]))
    types = _levels(participant_types["actor_type"])
    grouped = joined.groupby(joined["actor_type"].astype("object"))[survey_column]
    frame = pd.DataFrame({"people": grouped.size(), "mean_worth": grouped.mean(), "sd_worth": grouped.std()})
    frame = frame.reindex(types).rename_axis("actor_type").reset_index()
    frame["people"] = frame["people"].fillna(0).astype("int64")
    frame["actor_type"] = pd.Categorical(frame["actor_type"], categories=types)
    return frame


# --------------------------------------------------------------------------------------------
# Agreement between coders
# --------------------------------------------------------------------------------------------

def coder_agreement(data: qda.QdaProject | pd.DataFrame, coders: Sequence[str] = ("A", "B"),
                    codebook: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """How reliably two coders apply the codebook, over the interviews both coded.

    The unit of analysis is the coded span: each (interview, start, end) that either coder coded in
    an interview both coders coded. A span one coder left uncoded counts as "code absent" for that
    coder in kappa and as a missing value in alpha. Per code: Cohen's kappa of present/absent over
    all units, percent agreement, and how many units each coder (and both) gave the code (codes
    neither coder used in these interviews are left out). Overall: Krippendorff's alpha (nominal;
    the value is the code a coder gave the span, several codes on one span being one combined
    value) and the share of units both coders coded alike. ``data`` is a :class:`QdaProject` or
    :func:`coded_segments`' table; a code outside the codebook stops with an :class:`IsspError`.
    """
    codebook = qda.load_codebook() if codebook is None else codebook
    if isinstance(data, qda.QdaProject):
        raw = data.segments
        _checked_codes(raw, codebook, f"interview project ({data.origin or 'unknown origin'})")
        frame = pd.DataFrame({"interview": raw["source"], "coder": raw["coder"], "start": raw["start"],
                              "end": raw["end"], "code": raw["code"].astype("object")})
    else:
        _require_columns(data, ["interview", "coder", "start", "end", "code"], "segments",
                         "pass coded_segments(...) or a qda.QdaProject")
        frame = data[["interview", "coder", "start", "end", "code"]].astype({"code": "object"})
        _checked_codes(frame.rename(columns={"interview": "source"}), codebook, "segments")
    if len(coders) != 2 or coders[0] == coders[1]:
        raise IsspError(f"coders={list(coders)!r}", rule="agreement compares two different coders",
                        fix="pass coders=('A', 'B')")
    available = sorted(map(str, frame["coder"].dropna().unique()))
    for coder in coders:
        if coder not in available:
            raise IsspError(f"coder_agreement: no segments by coder '{coder}' (coders: {', '.join(available)})",
                            column="coder", rule="both coders have coded", fix="pass two of the coders listed")
    first, second = coders
    frame = frame[frame["coder"].isin(coders)]
    by_coder = frame.groupby("interview")["coder"].nunique()
    double = sorted(by_coder.index[by_coder == 2])
    if not double:
        raise IsspError(f"no interview was coded by both '{first}' and '{second}'", column="coder",
                        rule="agreement is computed over double-coded interviews",
                        fix="have the second coder code some of the interviews")
    frame = frame[frame["interview"].isin(double)]
    if frame[["start", "end"]].isna().any().any():
        raise IsspError("some segments of the double-coded interviews have no positions", column="start",
                        rule="agreement compares what two coders did with the same span of text",
                        fix="give start and end for every segment (export from QDA software)")
    frame = frame.astype({"start": "int64", "end": "int64"})
    sets = frame.groupby(["interview", "start", "end", "coder"])["code"].agg(frozenset).unstack("coder")
    units = sets.index
    empty: frozenset[str] = frozenset()
    given = {coder: [s if isinstance(s, frozenset) else empty for s in sets.get(coder, pd.Series(index=units))]
             for coder in coders}
    order = {code: i for i, code in enumerate(codebook["code"])}
    kinds = dict(zip(codebook["code"], codebook["kind"], strict=True))
    used = sorted(set().union(*given[first], *given[second]), key=order.__getitem__)

    rows = []
    for code in used:
        a = np.array([code in s for s in given[first]])
        b = np.array([code in s for s in given[second]])
        rows.append({"code": code, "kind": kinds[code], "kappa": cohen_kappa(a, b),
                     "percent_agreement": float((a == b).mean()), "n_units": len(units),
                     f"coder_{first}": int(a.sum()), f"coder_{second}": int(b.sum()), "both": int((a & b).sum())})
    per_code = pd.DataFrame(rows, columns=["code", "kind", "kappa", "percent_agreement", "n_units",
                                           f"coder_{first}", f"coder_{second}", "both"])
    per_code["kind"] = pd.Categorical(per_code["kind"], categories=list(qda.KINDS))
    per_code.attrs.update(unit=AGREEMENT_UNIT, coders=list(coders))

    def value(codes: frozenset[str]) -> object:
        return "+".join(sorted(codes, key=order.__getitem__)) if codes else np.nan

    table = pd.DataFrame([[value(s) for s in given[first]], [value(s) for s in given[second]]],
                         index=list(coders), dtype=object)
    both = table.notna().all(axis=0)
    overall = {
        "krippendorff_alpha": krippendorff_alpha(table, "nominal"),
        "percent_agreement": float((table.loc[first, both] == table.loc[second, both]).mean()),
        "n_units": len(units),
        "n_units_both_coded": int(both.sum()),
        "n_interviews": len(double),
        "coders": list(coders),
        "unit": AGREEMENT_UNIT,
    }
    return per_code, overall


def _display(code: object) -> str:
    words = str(code).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def agreement_table(per_code: pd.DataFrame, overall: Mapping[str, Any]) -> pd.DataFrame:
    """The inter-coder agreement table of the thesis, one row per code and a last row for all codes.

    Counts are coded spans, not people, so no small-cell suppression applies. ``Coefficient`` is
    Cohen's kappa for a code and Krippendorff's alpha (nominal) in the "All codes" row, as the
    caption (:func:`agreement_caption`) says.
    """
    _require_columns(per_code, ["code", "kind", "kappa", "percent_agreement"], "per-code agreement",
                     "pass coder_agreement(...)[0]")
    first, second = overall.get("coders", ["A", "B"])
    count_columns = [f"coder_{first}", f"coder_{second}", "both"]
    _require_columns(per_code, count_columns, "per-code agreement", "pass coder_agreement(...)[0]")
    table = pd.DataFrame({
        "Code": [_display(c) for c in per_code["code"]],
        "Kind": [_display(k) for k in per_code["kind"]],
        f"Coder {first}": per_code[f"coder_{first}"].astype("int64").tolist(),
        f"Coder {second}": per_code[f"coder_{second}"].astype("int64").tolist(),
        "Both": per_code["both"].astype("int64").tolist(),
        "Agreement (%)": (100 * per_code["percent_agreement"]).tolist(),
        "Coefficient": per_code["kappa"].astype("float64").tolist(),
    })
    total = pd.DataFrame([{"Code": "All codes", "Kind": "", f"Coder {first}": overall["n_units"],
                           f"Coder {second}": overall["n_units"], "Both": overall["n_units_both_coded"],
                           "Agreement (%)": 100 * overall["percent_agreement"],
                           "Coefficient": overall["krippendorff_alpha"]}])
    return pd.concat([table, total], ignore_index=True)


def agreement_caption(per_code: pd.DataFrame, overall: Mapping[str, Any]) -> str:
    """The agreement table's caption, with the numbers it rests on."""
    first, second = overall.get("coders", ["A", "B"])
    kappas = per_code["kappa"].dropna()
    median = f" (median kappa {kappas.median():.2f} over {len(kappas)} codes)" if len(kappas) else ""
    return (f"Inter-coder agreement over the {overall['n_interviews']} interviews coded by both coder {first} and "
            f"coder {second}: {overall['n_units']} coded spans, {overall['n_units_both_coded']} coded by both. "
            f"Coder columns count the spans each coder gave the code. Coefficient: Cohen's kappa of the code's "
            f"presence on each span{median}; in the last row Krippendorff's alpha (nominal) over the code each "
            f"coder gave each span, {overall['krippendorff_alpha']:.2f}. Agreement: share of spans on which the "
            f"coders agreed ({100 * overall['percent_agreement']:.0f}% overall).")
