"""evaluation/band.py and the quickstart's band: the check's logic on hand-made tables, the band
derived from records, and the quickstart config's band against the runs that measured it."""

import json
import pathlib

import ml_collections
import pytest

import repo_files
from selfgait_jax import main as main_lib
from selfgait_jax.evaluation import band

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "quickstart_band"
BAND = {"NM": (60.0, 70.0), "BG": (40.0, 50.0), "CL": (45.0, 55.0)}


def _results(nm, bg, cl):
    return {"conditions": {"NM": {"mean": nm}, "BG": {"mean": bg}, "CL": {"mean": cl}}}


def test_a_table_inside_the_band_says_so_with_the_band():
    line = band.verdict(_results(65.04, 40.0, 55.0), BAND, "8 seeds")  # the bounds count as inside
    assert line == ("band check: rank-1 NM 65.0, BG 40.0, CL 55.0 is inside the band of 8 seeds "
                    "(NM 60.0-70.0, BG 40.0-50.0, CL 45.0-55.0).")
    assert band.outside(_results(65.0, 40.0, 55.0), BAND) == []


def test_a_table_outside_the_band_names_what_left_it_and_where_to_look():
    results = _results(71.2, 39.3, 50.0)
    assert band.outside(results, BAND) == [("NM", 71.2, 60.0, 70.0), ("BG", 39.3, 40.0, 50.0)]
    line = band.verdict(results, BAND, "8 seeds")
    assert line.startswith("band check: rank-1 NM 71.2, BG 39.3, CL 50.0 is OUTSIDE the band of 8 seeds "
                           "(NM 71.2 above 60.0-70.0; BG 39.3 below 40.0-50.0): look at ")
    assert "finetune/metrics.jsonl" in line and "\n" not in line


def test_a_condition_without_a_number_is_outside():
    results = {"conditions": {"NM": {"mean": 65.0}, "BG": {"mean": None}, "CL": {"mean": 50.0}}}
    assert band.outside(results, BAND) == [("BG", None, 40.0, 50.0)]
    assert "BG - missing from 40.0-50.0" in band.verdict(results, BAND)


def test_the_band_is_the_measured_range_widened_and_rounded_outwards():
    records = [{"seed": 0, "devices": 1, "rank1": {"NM": 61.3, "BG": 44.0}},
               {"seed": 1, "devices": 4, "rank1": {"NM": 66.9, "BG": 41.1}}]
    assert band.band_of(records, margin=2.0) == {"NM": (59.0, 69.0), "BG": (39.0, 46.0)}
    with pytest.raises(ValueError):
        band.band_of([])
    table = band.records_markdown(records)
    assert "1 CPU device, 1 seeds:" in table and "4 CPU devices, 1 seeds:" in table
    assert "| 1 | 66.9 | 41.1 | - |" in table


def test_main_ends_a_run_with_a_band_with_its_line_and_others_with_none():
    config = ml_collections.ConfigDict({"expected_rank1": BAND, "expected_from": "8 seeds"})
    assert main_lib.band_line(config, {"evaluation": _results(65.0, 45.0, 50.0)}).startswith(
        "band check: rank-1 NM 65.0, BG 45.0, CL 50.0 is inside")
    assert main_lib.band_line(config, {"finetune": {}}) is None  # --config.evaluate= : no table
    assert main_lib.band_line(ml_collections.ConfigDict({"stages": "x"}), {"evaluation": _results(1, 2, 3)}) is None


def test_a_band_not_measured_yet_never_says_inside():
    line = band.verdict(_results(65.0, 45.0, 50.0), {}, "tools/quickstart_band.py measures it")
    assert line == ("band check: rank-1 NM 65.0, BG 45.0, CL 50.0; no band is measured for this recipe yet "
                    "(tools/quickstart_band.py measures it).")
    assert "inside" not in line and "OUTSIDE" not in line


def test_the_recipe_digest_ignores_the_band_only():
    config = ml_collections.ConfigDict({"stages": "x", "expected_rank1": BAND, "expected_from": "8 seeds"})
    digest = band.recipe_sha256(config)
    config.expected_rank1.NM = (0.0, 1.0)
    assert band.recipe_sha256(config) == digest
    config.stages = "y"
    assert band.recipe_sha256(config) != digest


def test_the_quickstarts_band_holds_every_measured_run():
    """The band the quickstart checks (and the README states) covers each run recorded in
    docs/quickstart_band/ (tools/quickstart_band.py), on 1 and on 4 devices."""
    config = repo_files.config("quickstart").get_config()
    stated = {cond: tuple(bounds) for cond, bounds in config.expected_rank1.items()}
    records = [json.loads(p.read_text()) for p in sorted(RECORDS.glob("*.json"))]
    for record in records:
        assert record["recipe_sha256"] == band.recipe_sha256(config), record  # the quickstart as it is
        assert not band.outside({"conditions": {c: {"mean": v} for c, v in record["rank1"].items()}},
                                stated), record
