"""The seeded simulator behind the demonstration dataset.

The real survey and interviews are confidential, so the compendium ships synthetic raw files with
exactly the raw schema, drawn from truths written in ``config/simulation.yaml``. The export carries
the dirt a real survey platform produces, and ``simulation.json`` records what was injected so the
tests can check that cleaning finds exactly that. Draws are vectorised; the two loops left (special
codes and label variants) visit only the dirty rows, on NumPy arrays, and keep the random stream of
the committed demo data. Time and memory grow linearly with ``scale`` (national scale, 100, takes
a few seconds).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import atomic, interviews, paths
from . import dictionary as dd
from .errors import IsspError

FIRST_NAMES = (
    "Amelia Oliver Isla George Ava Noah Mia Arthur Ivy Leo Freya Oscar Lily Harry Florence Jack "
    "Rosie Charlie Grace Theo Alice Henry Evie Archie Sophia Thomas Poppy James Ruby Alfie Esme "
    "Samuel Priya Mohammed Aisha Yusuf Zara Omar Chloe Daniel"
).split()
LAST_NAMES = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Patel Wright Robinson Thompson Evans "
    "Walker White Roberts Green Hall Thomas Clarke Jackson Wood Harris Edwards Turner Martin Cooper "
    "Hill Ward Hughes Moore Clark King Harrison Lewis Baker Lee Allen Morris Khan"
).split()
TOWNS = (
    "Ashford Bramley Carlton Dunmore Eastwood Fairfield Greenhill Hartley Ingleby Kingsbury Langley "
    "Marston Newbury Oakfield Preston Queensbury Redhill Southgate Thornbury Upton Westfield Yardley"
).split()
SCHOOL_KINDS = {
    "independent": ("College", "School", "Grammar School", "Preparatory School"),
    "state": ("Academy", "Primary School", "High School", "Community School", "Free School"),
}


@dataclass(frozen=True)
class Simulation:
    """The raw tables and what was injected into them."""

    tables: dict[str, pd.DataFrame]
    injected: dict[str, dict[str, int]]
    truths: dict
    interviews: dict | None = None


def _read_config(path: Path) -> dict:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise IsspError(f"cannot read the simulation config: {error}", file=path,
                        fix="give a readable YAML file laid out like config/simulation.yaml") from None
    if not isinstance(config, dict):
        raise IsspError("the simulation config is not a mapping of sections", file=path,
                        rule="config layout", fix="copy the layout of config/simulation.yaml")
    return config


def load_config(path: str | Path | None = None) -> dict:
    """The truths; a config of one's own must have every setting the shipped one has."""
    path = Path(path) if path else paths.SIMULATION_CONFIG
    config = _read_config(path)
    for section, settings in _read_config(paths.SIMULATION_CONFIG).items():
        if section not in config:
            raise IsspError(f"the simulation config has no '{section}' section", file=path,
                            rule="config layout", fix="copy the layout of config/simulation.yaml")
        if isinstance(settings, dict):
            given = config[section] if isinstance(config[section], dict) else {}
            missing = [name for name in settings if name not in given]
            if missing:
                raise IsspError(f"the '{section}' section has no '{missing[0]}' setting", file=path,
                                rule="config layout", fix="copy the layout of config/simulation.yaml")
    return config


def _lookup(labels: pd.Series, effects: dict[str, float]) -> np.ndarray:
    """Each label's effect from the truths; 0 for the reference level."""
    return labels.map(effects).fillna(0.0).to_numpy(dtype=float)


def _text(*parts) -> np.ndarray:
    """Strings and arrays joined element-wise (names, emails, postcodes) without a Python loop."""
    return functools.reduce(np.strings.add, [np.asarray(part).astype(str) for part in parts]).astype(object)


def _numbers(count: int, width: int) -> np.ndarray:
    return np.strings.zfill(np.arange(1, count + 1).astype(str), width)


def _ids(prefix: str, count: int, width: int) -> np.ndarray:
    return _text(prefix, _numbers(count, width))


def _choice(rng: np.random.Generator, labels: tuple[str, ...], probabilities, size: int) -> np.ndarray:
    return rng.choice(np.array(labels, dtype=object), size=size, p=probabilities)


def simulate(seed: int = 2021, scale: float = 1, config: dict | None = None) -> Simulation:
    """Draw the raw export of a study of ``scale`` times thesis size (~30 partnerships)."""
    if not 0 < scale < float("inf"):
        raise IsspError(f"scale must be a positive number, got {scale}", rule="scale > 0",
                        fix="use --scale 1 for thesis size, 100 for national size")
    config = config or load_config()
    rng = np.random.default_rng(seed)
    size, truths, items_cfg = config["size"], config["worth"], config["items"]

    # Partnerships.
    n_partnerships = max(1, round(size["partnerships"] * scale))
    partnerships = pd.DataFrame({
        "partnership_id": _ids("P", n_partnerships, 4),
        "model": _choice(rng, dd.MODELS, [.25, .17, .12, .08, .14, .1, .09, .05], n_partnerships),
        "formality": _choice(rng, dd.FORMALITY, [.45, .55], n_partnerships),
        "funding": _choice(rng, dd.FUNDING, [.8, .05, .15], n_partnerships),
        "start_year": rng.integers(1998, config["survey_year"], n_partnerships),
        "region": _choice(rng, dd.REGIONS, None, n_partnerships),
    })
    partnerships.insert(1, "name", _text(_choice(rng, tuple(TOWNS), None, n_partnerships), " Schools Partnership"))
    u_partnership = rng.normal(0, truths["sd_partnership"], n_partnerships)

    # Schools: one lead independent school, sometimes a second, and several state partners.
    low, high = size["state_schools_per_partnership"]
    n_state = rng.integers(low, high + 1, n_partnerships)
    n_indep = 1 + (rng.random(n_partnerships) < size["second_independent_share"])
    per_partnership = n_state + n_indep
    school_partnership = np.repeat(np.arange(n_partnerships), per_partnership)
    position = np.arange(len(school_partnership)) - np.repeat(np.cumsum(per_partnership) - per_partnership,
                                                              per_partnership)
    is_indep = position < np.repeat(n_indep, per_partnership)
    n_schools = len(school_partnership)
    sector = np.where(is_indep, "independent", "state").astype(object)
    state_type = np.where(is_indep, None, _choice(rng, dd.STATE_TYPES, [.45, .45, .10], n_schools))
    phase = np.where(is_indep, _choice(rng, dd.PHASES, [.25, .35, .40], n_schools),
                     _choice(rng, dd.PHASES, [.55, .40, .05], n_schools))
    kind_index = rng.integers(0, [len(SCHOOL_KINDS[s]) for s in sector])  # one draw per school, in order
    kinds = np.empty(n_schools, dtype=object)
    for school_sector, options in SCHOOL_KINDS.items():
        in_sector = sector == school_sector
        kinds[in_sector] = np.array(options, dtype=object)[kind_index[in_sector]]
    towns = _choice(rng, tuple(TOWNS), None, n_schools)
    schools = pd.DataFrame({
        "school_id": _ids("S", n_schools, 5),
        "partnership_id": partnerships["partnership_id"].to_numpy()[school_partnership],
        "name": _text(towns, " ", kinds),
        "urn": (100000 + rng.permutation(899999)[:n_schools]).astype(str),
        "postcode": _text(
            rng.choice(list("ABCDEGHKLMNPRSTW"), n_schools), rng.choice(list("ABDEHLMNRST"), n_schools),
            rng.integers(1, 20, n_schools), " ", rng.integers(1, 10, n_schools),
            rng.choice(list("ABDEFGHJLNPQRSTUWXYZ"), n_schools), rng.choice(list("ABDEFGHJLNPQRSTUWXYZ"), n_schools)),
        "sector": sector,
        "state_type": state_type,
        "phase": phase,
        "pupils": np.where(is_indep, rng.integers(250, 1400, n_schools), rng.integers(120, 1800, n_schools)),
        "fsm_pct": np.where(is_indep, np.nan, np.round(rng.beta(2, 7, n_schools) * 100, 1)),
        "selective": np.where(is_indep, rng.random(n_schools) < .3, rng.random(n_schools) < .03),
        "boarding": is_indep & (rng.random(n_schools) < .25),
        "lead_school": position == 0,
    })
    v_school = rng.normal(0, truths["sd_school"], n_schools)

    # Participants.
    low, high = size["participants_per_school"]
    per_school = rng.integers(low, high + 1, n_schools)
    person_school = np.repeat(np.arange(n_schools), per_school)
    n_people = len(person_school)
    first = _choice(rng, tuple(FIRST_NAMES), None, n_people)
    last = _choice(rng, tuple(LAST_NAMES), None, n_people)
    participant_numbers = _numbers(n_people, 6)
    participant_ids = _text("T", participant_numbers)
    person_school_ids = schools["school_id"].to_numpy(dtype=object)[person_school]
    role = _choice(rng, dd.ROLES, [.30, .17, .38, .15], n_people)
    years = np.minimum(rng.geometric(0.15, n_people) - 1, 40)
    consent = np.where(rng.random(n_people) < config["dirt"]["no_consent"], "no", "yes").astype(object)
    participants = pd.DataFrame({
        "participant_id": participant_ids,
        "school_id": person_school_ids,
        "name": _text(first, " ", last),
        "email": _text(np.strings.lower(first.astype(str)), ".", np.strings.lower(last.astype(str)),
                       participant_numbers, "@", np.strings.lower(person_school_ids.astype(str)), ".example.org"),
        "role": role,
        "years_in_role": years,
        "involvement": rng.integers(1, 6, n_people),
        "interviewed": rng.random(n_people) < size["interviewed_share"],
        "consent": consent,
    })

    # Latent worth from the truths: the mixed model of STUDY.md.
    person_sector = pd.Series(sector[person_school])
    person_role = pd.Series(role)
    interaction = person_sector + ":" + person_role
    person_partnership = school_partnership[person_school]
    worth = (truths["intercept"]
             + _lookup(person_sector, truths["sector"])
             + _lookup(person_role, truths["role"])
             + _lookup(interaction, truths["sector_x_role"])
             + _lookup(pd.Series(phase[person_school]), truths["phase"])
             + _lookup(pd.Series(partnerships["model"].to_numpy()[person_partnership]), truths["model"])
             + truths["years_in_role"] * years
             + u_partnership[person_partnership] + v_school[person_school]
             + rng.normal(0, truths["sd_residual"], n_people))

    responded = rng.random(n_people) < size["response_rate"]
    respondents = np.flatnonzero(responded)
    scores = _item_scores(rng, worth[respondents], items_cfg)
    survey, injected = _survey_export(rng, config, participant_ids[respondents], scores,
                                      consent[respondents] == "yes")

    tables = {"partnerships": partnerships, "schools": schools, "participants": participants, "survey": survey}
    tables, dirt_counts = _add_label_dirt(rng, tables, config["dirt"])
    injected.update(dirt_counts)
    injected["no_consent"] = {"participants": int((consent == "no").sum()),
                              "survey": int((consent[respondents] == "no").sum())}
    coded = interviews.simulate_interviews(tables["participants"], tables["schools"], seed,
                                           survey=tables["survey"])
    truth_record = {"seed": seed, "scale": float(scale), "worth": truths, "interviews": coded["truths"],
                    "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()}
    return Simulation(tables=tables, injected=injected, truths=truth_record, interviews=coded)


def _item_scores(rng: np.random.Generator, worth: np.ndarray, cfg: dict) -> np.ndarray:
    """Likert scores 1..5 for the benefit then cost items of each respondent."""
    style = rng.normal(0, cfg["response_style_sd"], len(worth))
    levels = {"benefit": 3 + worth / 2 + style, "cost": 3 - worth / 2 + style}
    columns = []
    for scale in ("benefit", "cost"):
        offsets, loadings = np.array(cfg[f"{scale}_offsets"]), np.array(cfg[f"{scale}_loadings"])
        latent = offsets + np.outer(levels[scale] - 3, loadings) + 3
        columns.append(latent + rng.normal(0, cfg["noise_sd"], latent.shape))
    return np.clip(np.rint(np.hstack(columns)), dd.LIKERT_MIN, dd.LIKERT_MAX).astype(float)


def _survey_export(rng, config, respondent_ids, scores, consented):
    """The survey as the platform exports it, with what cleaning has to undo, and its record."""
    dirt = config["dirt"]
    n = len(respondent_ids)
    n_items = len(dd.ITEMS)
    start = pd.Timestamp(f"{config['survey_year']}-02-03 08:00:00")
    submitted = start + pd.to_timedelta(np.sort(rng.integers(0, 60 * 24 * 3600, n)), unit="s")
    scores = scores.copy()

    # Kept responses that stopped early: trailing items blank.
    partial = rng.random(n) < dirt["partial"]
    stops = rng.integers(3, n_items - 1, n)
    scores[partial] = np.where(np.arange(n_items) >= stops[partial, None], np.nan, scores[partial])

    # Special codes in answered cells.
    for code, rate in ((dd.NOT_ANSWERED, dirt["not_answered"]), (dd.DONT_KNOW, dirt["dont_know"])):
        rows = np.flatnonzero(rng.random(n) < rate)
        for row in rows:
            answered = np.flatnonzero(~np.isnan(scores[row]) & (scores[row] != dd.NOT_ANSWERED))
            cells = rng.choice(answered, size=min(len(answered), rng.integers(1, 4)), replace=False)
            scores[row, cells] = code
    kept = pd.DataFrame(scores, columns=list(dd.ITEMS))
    kept.insert(0, "submitted_at", submitted)
    kept.insert(0, "participant_id", respondent_ids)
    kept["comment"] = np.where(rng.random(n) < .2, "Happy to talk more - " + kept["participant_id"].str[1:]
                               + "@example.org", "")

    # Duplicate submissions by consenting respondents: an abandoned attempt before the kept
    # complete one, or an accidental partial resubmission after it. Both are partial.
    complete = ~partial
    candidates = np.flatnonzero(consented & complete)
    n_dup = min(len(candidates), round(dirt["duplicate"] * n))
    dup_rows = np.sort(rng.choice(candidates, size=n_dup, replace=False))
    duplicates = kept.iloc[dup_rows].copy()
    cut = rng.integers(2, n_items - 2, n_dup)
    item_values = duplicates[list(dd.ITEMS)].to_numpy()
    duplicates[list(dd.ITEMS)] = np.where(np.arange(n_items) >= cut[:, None], np.nan, item_values)
    before = rng.random(n_dup) < 0.5
    shift = pd.to_timedelta(rng.integers(3600, 5 * 24 * 3600, n_dup), unit="s")
    duplicates["submitted_at"] = np.where(before, duplicates["submitted_at"] - shift,
                                          duplicates["submitted_at"] + shift)
    duplicates["comment"] = ""

    # Submissions from ids that are not on the participant list (typos, test entries).
    n_unknown = max(1, round(dirt["unknown_participant"] * n))
    unknown = kept.iloc[rng.choice(n, size=n_unknown, replace=False)].copy()
    unknown["participant_id"] = _text("T9", np.strings.zfill(
        rng.choice(99999, size=n_unknown, replace=False).astype(str), 5))

    export = pd.concat([kept.assign(_kept=True), duplicates.assign(_kept=False), unknown.assign(_kept=False)],
                       ignore_index=True)
    export = export.sort_values(["submitted_at", "participant_id"], kind="stable").reset_index(drop=True)
    export.insert(0, "response_id", _ids("R", len(export), 6))

    # Mixed date formats, as exported by different platform versions.
    stamps = pd.to_datetime(export["submitted_at"])
    style = rng.random(len(export))
    non_iso = style < dirt["non_iso_date"]
    export["submitted_at"] = np.where(
        ~non_iso, stamps.dt.strftime("%Y-%m-%d %H:%M:%S"),
        np.where(style < dirt["non_iso_date"] / 2, stamps.dt.strftime("%d/%m/%Y %H:%M"),
                 stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")))
    for item in dd.ITEMS:
        export[item] = export[item].astype("Int64")

    consenting = np.isin(export["participant_id"].to_numpy(dtype=str), respondent_ids[consented].astype(str))
    final = export[export["_kept"].to_numpy() & consenting]
    items = final[list(dd.ITEMS)]
    injected = {
        "non_iso_date": {"survey": int(non_iso.sum())},
        "unknown_participant": {"survey": n_unknown},
        "duplicate": {"survey": n_dup},
        "not_answered": {"survey": int((items == dd.NOT_ANSWERED).any(axis=1).sum())},
        "dont_know": {"survey": int((items == dd.DONT_KNOW).any(axis=1).sum())},
        "partial": {"survey": int(items.isna().any(axis=1).sum())},
        "free_text": {"survey": int((final["comment"] != "").sum())},
    }
    return export.drop(columns="_kept"), injected


LABEL_DIRT_COLUMNS = {
    "schools": ("sector", "state_type", "phase"),
    "participants": ("role", "consent"),
}
PADDED_COLUMNS = {
    "partnerships": ("partnership_id", "model", "region"),
    "schools": ("partnership_id", "sector", "phase"),
    "participants": ("school_id", "role"),
    "survey": ("participant_id",),
}


def _add_label_dirt(rng, tables, dirt):
    """Label variants and stray whitespace, counted as rows affected per file.

    The rows are drawn vectorised; the few cells they pick are rewritten in plain object arrays,
    because a cell-by-cell write into an Arrow-backed column copies the whole column each time.
    """
    labelled = [name for name, table in dd.RAW_TABLES.items() if any(c.kind == "label" for c in table.columns)]
    counts: dict[str, dict[str, int]] = {"label_variant": dict.fromkeys(labelled, 0), "whitespace": {}}
    tables = {name: table.copy() for name, table in tables.items()}
    for name, columns in LABEL_DIRT_COLUMNS.items():
        table = tables[name]
        cells = {column: table[column].to_numpy(dtype=object, na_value=None) for column in columns}
        state_type = table["state_type"].to_numpy(dtype=object, na_value=None) if name == "schools" else None
        rows = np.flatnonzero(rng.random(len(table)) < dirt["label_variant"])
        for row in rows:
            options = [c for c in columns if isinstance(cells[c][row], str)]
            column = options[rng.integers(len(options))]
            label = cells[column][row]
            spellings = [v for v in dd.RAW_TABLES[name].column(column).variants[label]
                         if " - " not in v or v.endswith(f"- {state_type[row]}")]
            cells[column][row] = spellings[rng.integers(len(spellings))]
        for column in columns:
            table[column] = cells[column]
        counts["label_variant"][name] = len(rows)
    for name, columns in PADDED_COLUMNS.items():
        table = tables[name]
        rows = np.flatnonzero(rng.random(len(table)) < dirt["whitespace"])
        which = rng.integers(0, len(columns), len(rows))
        pads = rng.integers(0, 3, len(rows))
        for column_index, column in enumerate(columns):
            picked = which == column_index
            values = table[column].astype(str).to_numpy(dtype=object)
            target, pad = rows[picked], pads[picked]
            original = values[target]
            values[target] = np.where(pad == 0, " " + original,
                                      np.where(pad == 1, original + " ", "  " + original + "  "))
            table[column] = values
        counts["whitespace"][name] = len(rows)
    return tables, counts


def write_raw(simulation: Simulation, out_dir: str | Path) -> list[Path]:
    """Write the raw CSV files, simulation.json and SHA256SUMS; returns the paths written."""
    out_dir = Path(out_dir)
    written = []
    for name, table in simulation.tables.items():
        path = out_dir / dd.RAW_FILES[name]
        atomic.write_text(path, table.to_csv(index=False, lineterminator="\n"))
        written.append(path)
    record = {"synthetic": True, "made_by": "issp-research simulate", **simulation.truths,
              "injected": simulation.injected}
    record_path = out_dir / "simulation.json"
    atomic.write_text(record_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    written.append(record_path)
    if simulation.interviews is not None:
        written.append(interviews.write_interviews(simulation.interviews, out_dir))
    write_checksums(out_dir)
    return written + [out_dir / "SHA256SUMS"]


def write_checksums(folder: str | Path) -> Path:
    """SHA256SUMS in ``sha256sum`` format over every data file in the folder."""
    folder = Path(folder)
    lines = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != "SHA256SUMS" and not path.name.startswith(".") \
                and path.suffix in {".csv", ".json", ".qdpx"}:
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    target = folder / "SHA256SUMS"
    atomic.write_text(target, "".join(lines))
    return target
