"""The simulator: determinism, linear scaling, the recorded truths and the fake identifiers."""

from __future__ import annotations

import json

import pytest
import yaml

from issp_research import cli, paths, simulate
from issp_research import dictionary as dd
from issp_research.errors import IsspError

SIMULATED = [*dd.RAW_FILES.values(), "simulation.json", "interviews.qdpx"]


def test_same_seed_and_config_give_byte_identical_files(tmp_path, demo_raw):
    assert cli.main(["simulate", "--seed", "2021", "--scale", "1", "--out", str(tmp_path / "a")]) == 0
    for name in [*SIMULATED, "SHA256SUMS"]:
        assert (tmp_path / "a" / name).read_bytes() == (demo_raw / name).read_bytes(), name
    simulate.write_raw(simulate.simulate(2022, 1), tmp_path / "b")
    assert (tmp_path / "b" / "survey.csv").read_bytes() != (demo_raw / "survey.csv").read_bytes()


def test_the_committed_demo_data_are_what_make_demo_data_writes(demo_raw):
    """`make demo-data` on a fresh clone changes nothing; if this fails, run it and commit data/raw."""
    for name in SIMULATED:
        assert (paths.RAW / name).read_bytes() == (demo_raw / name).read_bytes(), name
    committed = (paths.RAW / "SHA256SUMS").read_text().splitlines()
    assert set((demo_raw / "SHA256SUMS").read_text().splitlines()) <= set(committed)


@pytest.mark.parametrize("seed", [1, 2021])
def test_rows_grow_linearly_with_scale(seed):
    """Partnerships scale exactly. The other counts are sums of ~125 (schools) or ~620 (people)
    random sizes at K=1, so the K=4/K=1 ratio has a relative SD of about 4-5%; 4 +- 15% is 3 SDs."""
    one, four = simulate.simulate(seed, 1).tables, simulate.simulate(seed, 4).tables
    assert (len(one["partnerships"]), len(four["partnerships"])) == (30, 120)
    for name in ("schools", "participants", "survey"):
        assert 4 * 0.85 <= len(four[name]) / len(one[name]) <= 4 * 1.15, name


def test_demo_scale_is_thesis_scale(demo_raw):
    sizes = {name: sum(1 for _ in (demo_raw / file).open()) - 1 for name, file in dd.RAW_FILES.items()}
    assert sizes == {"partnerships": 30, "schools": 129, "participants": 629, "survey": 587}


def test_truths_and_dirt_are_recorded(demo_raw):
    record = json.loads((demo_raw / "simulation.json").read_text())
    config = simulate.load_config()
    assert (record["synthetic"], record["seed"], record["scale"], record["worth"]) == (True, 2021, 1.0, config["worth"])
    assert set(record["injected"]) == set(config["dirt"]) | {"free_text"}


def test_reference_levels_have_no_effect_in_the_truths():
    """The config's effects are relative to each factor's first label in the data dictionary."""
    worth = simulate.load_config()["worth"]
    for factor in ("sector", "role", "phase", "model"):
        assert dd.FACTORS[factor][0] not in worth[factor]
        assert set(worth[factor]) <= set(dd.FACTORS[factor])


def test_identifiers_are_fake_and_unique(demo_raw):
    simulation = simulate.simulate(2021, 1)
    schools, people = simulation.tables["schools"], simulation.tables["participants"]
    assert people["email"].str.endswith(".example.org").all() and people["email"].is_unique
    assert schools["urn"].str.fullmatch(r"[1-9]\d{5}").all() and schools["urn"].is_unique
    assert schools["postcode"].str.fullmatch(r"[A-Z]{2}\d{1,2} \d[A-Z]{2}").all()
    assert people.loc[0, ["name", "email"]].tolist() == ["Chloe Robinson", "chloe.robinson000001@s00001.example.org"]


def write_config(tmp_path, change) -> str:
    config = simulate.load_config()
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_a_config_of_ones_own_changes_the_truths(tmp_path):
    path = write_config(tmp_path, lambda config: config["worth"].update(intercept=1.5))
    assert cli.main(["simulate", "--config", path, "--scale", "0.2", "--out", str(tmp_path / "raw")]) == 0
    assert json.loads((tmp_path / "raw" / "simulation.json").read_text())["worth"]["intercept"] == 1.5


@pytest.mark.parametrize("change, message", [
    (lambda config: config.pop("dirt"), "the simulation config has no 'dirt' section"),
    (lambda config: config["size"].pop("response_rate"), "the 'size' section has no 'response_rate' setting"),
    (lambda config: config.update(items=[1, 2]), "the 'items' section has no 'response_style_sd' setting"),
])
def test_an_incomplete_config_is_refused(tmp_path, capsys, change, message):
    path = write_config(tmp_path, change)
    with pytest.raises(IsspError, match=message):
        simulate.load_config(path)
    assert cli.main(["simulate", "--config", path, "--out", str(tmp_path / "raw")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: {message}")
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf"])
def test_scale_must_be_a_positive_number(tmp_path, capsys, scale):
    assert cli.main(["simulate", "--scale", scale, "--out", str(tmp_path / "raw")]) == 2
    assert capsys.readouterr().err == (f"error: scale must be a positive number, got {float(scale)} [rule: scale > 0]\n"
                                       "  fix: use --scale 1 for thesis size, 100 for national size\n")
    assert not (tmp_path / "raw").exists()
