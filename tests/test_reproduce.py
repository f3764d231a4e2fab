"""tools/reproduce.py: run order, skipping finished runs, and the report computed from results files."""

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT))
import reproduce  # noqa: E402
from configs import study  # noqa: E402


VIEWS = ["000", "090", "180"]


def _fake_result(out, row, seed, nm, bg, cl, step=1000, per_view=None):
    """A results.json whose conditions have these means (and, unless given, that mean in every view)."""
    folder = reproduce.run_dir(out, row, seed) / "finetune" / "eval" / str(step)
    folder.mkdir(parents=True)
    conditions = {c: {"mean": v, "rank1_per_probe_view": (per_view or {}).get(c, [v] * len(VIEWS))}
                  for c, v in zip(("NM", "BG", "CL"), (nm, bg, cl))}
    (folder / "results.json").write_text(json.dumps({"views": VIEWS, "conditions": conditions}))


def test_plan_runs_every_rows_first_seed_before_any_second_seed():
    order = reproduce.plan(list(study.ROWS))
    first = order[:len(study.ROWS)]
    assert first == [(row, 0) for row in study.ROWS]
    assert len(order) == sum(study.seeds(r) for r in study.ROWS)
    assert all(seed < study.seeds(row) for row, seed in order)
    assert reproduce.plan(["sg6", "gaitset"], max_seeds=1) == [("sg6", 0), ("gaitset", 0)]


def test_finished_run_is_skipped_without_running_anything(tmp_path, monkeypatch):
    _fake_result(tmp_path, "sg6", 0, 50, 40, 30)
    monkeypatch.setattr(reproduce.subprocess, "run", lambda *a, **k: pytest.fail("ran a finished run"))
    assert reproduce.run_one(tmp_path, "sg6", 0, tmp_path / "archive")


def test_report_table_and_verdicts_follow_the_numbers(tmp_path):
    # w/o PT: avg 40 and 42; SG-6: avg 50 and 51 -> +10, +9 seed by seed, clearly higher. SG-2 one seed.
    _fake_result(tmp_path, "wo_pt", 0, 45, 40, 35)
    _fake_result(tmp_path, "wo_pt", 1, 47, 42, 37)
    _fake_result(tmp_path, "sg6", 0, 55, 50, 45)
    _fake_result(tmp_path, "sg6", 1, 56, 51, 46)
    _fake_result(tmp_path, "sg2", 0, 30, 20, 25)  # BG lowest here: CL is not the hardest
    doc = tmp_path / "reproduction.md"
    doc.write_text(f"# Study\n\nhand-written\n\n{reproduce.REPORT_BEGIN}\nOLD-GENERATED\n"
                   f"{reproduce.REPORT_END}\n\nmore\n")
    table = reproduce.write_report(tmp_path, doc, tmp_path / "archive")
    text = doc.read_text()
    assert "hand-written" in text and "more" in text and "OLD-GENERATED" not in text
    assert "| SG-6 | 2 of 3 | 55.5 ± 0.7 | 50.5 ± 0.7 | 45.5 ± 0.7 | 93.5 / 90.1 / 81.3 |" in text
    assert "| SG-4 | 0 of 2 | not yet run |" in text
    assert "SG-6 − w/o PT = +9.5 (clearly higher; seed by seed +10.0, +9.0)" in text
    assert "SG-2 − w/o PT = -15.0 (lower (one seed: no spread yet))" in text  # paired: seed 0 only
    assert "SG-4 − w/o PT: not yet run" in text
    assert "not decided yet" in text.split("(a)")[1].split("\n")[0]  # SG-4 has not run
    _fake_result(tmp_path, "sg4", 0, 50, 45, 40)
    _fake_result(tmp_path, "sg4", 1, 50, 45, 40)
    for seed in (1, 2):
        _fake_result(tmp_path, "sg2", seed, 30, 20, 25)
    reproduce.write_report(tmp_path, doc, tmp_path / "archive")
    text = doc.read_text()
    line = text.split("(a)")[1].split("\n")[0]
    assert "does not hold" in line and "SG-2 − w/o PT = -16.0 (clearly lower; seed by seed -15.0, -17.0)" in line
    grows = text.split("The gain grows")[1].split("\n")[0]  # averages: SG-2 25 < SG-4 45 < SG-6 50.5
    assert "holds" in grows and "does not" not in grows
    assert "SG-4 − SG-2 = +20.0 (clearly higher" in grows and "SG-6 − SG-4 = +5.5 (clearly higher" in grows
    assert "| SG-6 w/o PT | 1 | 47.0 | 42.0 | 37.0 | 42.0 |" in text  # every run, listed
    assert "in 3 of 4 rows CL has the lowest" in text  # SG-2: BG
    assert (tmp_path / "images" / "reproduction_bars.png").stat().st_size > 0
    assert set(table) == {"wo_pt", "sg6", "sg2"}


def test_a_report_without_its_markers_is_an_error_not_an_overwrite(tmp_path):
    doc = tmp_path / "reproduction.md"
    doc.write_text("# someone's notes\n")
    with pytest.raises(ValueError, match="study:begin"):
        reproduce.write_report(tmp_path, doc, tmp_path / "archive")
    assert doc.read_text() == "# someone's notes\n"


def test_archived_runs_count_as_finished_in_a_fresh_checkout(tmp_path, monkeypatch):
    # A finished run (with its pretraining curve) is archived by the report ...
    _fake_result(tmp_path / "old", "sg6", 0, 55, 50, 45)
    metrics = reproduce.run_dir(tmp_path / "old", "sg6", 0) / "pretrain" / "metrics.jsonl"
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"step": 50, "loss": 1.0, "projection_std": 0.1}) + "\n")
    doc = tmp_path / "reproduction.md"
    doc.write_text(f"{reproduce.REPORT_BEGIN}\n{reproduce.REPORT_END}\n")
    archive = tmp_path / "archive"
    reproduce.write_report(tmp_path / "old", doc, archive)
    assert (archive / "sg6" / "seed0" / "results.json").is_file()
    assert (archive / "sg6" / "seed0" / "pretrain_metrics.jsonl").read_text() == metrics.read_text()
    # ... and a new session with an empty runs folder neither reruns it nor loses it.
    monkeypatch.setattr(reproduce.subprocess, "run", lambda *a, **k: pytest.fail("reran an archived run"))
    assert reproduce.run_one(tmp_path / "new", "sg6", 0, archive)
    table = reproduce.write_report(tmp_path / "new", doc, archive)
    assert table["sg6"] == [(0, {"NM": 55, "BG": 50, "CL": 45})]
    assert (tmp_path / "images" / "reproduction_curves.png").stat().st_size > 0


def test_view_gaps_are_row_minus_wo_pt_per_view_seed_by_seed(tmp_path):
    _fake_result(tmp_path, "wo_pt", 0, 50, 40, 30, per_view={"CL": [20, 40, 30]})
    _fake_result(tmp_path, "wo_pt", 1, 50, 40, 30, per_view={"CL": [22, 40, 28]})
    _fake_result(tmp_path, "wo_pt", 2, 50, 40, 30, per_view={"CL": [90, 90, 90]})  # no SG-6 seed 2
    _fake_result(tmp_path, "sg6", 0, 50, 40, 30, per_view={"CL": [30, 35, 25]})
    _fake_result(tmp_path, "sg6", 1, 50, 40, 30, per_view={"CL": [32, 41, 29]})
    views, rows, gaps = reproduce.view_gaps(tmp_path, tmp_path / "archive")
    assert views == VIEWS and rows == ["sg6"]  # SG-2, SG-4 and the extension have not run
    assert gaps["CL"].tolist() == [[10.0, -2.0, -2.0]]  # (+10, +10), (-5, +1), (-5, +1)
    assert gaps["NM"].tolist() == [[0.0, 0.0, 0.0]]
    assert reproduce.view_gaps(tmp_path / "empty", tmp_path / "archive") is None
    assert reproduce.view_gap_heatmaps(tmp_path, tmp_path / "gaps.png", tmp_path / "archive")
    assert (tmp_path / "gaps.png").stat().st_size > 0


def test_rows_are_compared_seed_by_seed():
    """A seed shared by every row (the same labelled 40 %) moves both rows alike; pairing removes it.
    Unpaired, 61/71/91.5 against 60/70/90 is far within the spread (std ≈ 15); paired it is +1 or
    more every seed."""
    table = {"wo_pt": [(s, {c: v for c in ("NM", "BG", "CL")}) for s, v in enumerate((60, 70, 90))],
             "sg6": [(s, {c: v for c in ("NM", "BG", "CL")}) for s, v in enumerate((61, 71, 91.5))]}
    diff, word = reproduce._better(table, "sg6", "wo_pt")
    assert diff == pytest.approx(7 / 6) and word == "clearly higher; seed by seed +1.0, +1.0, +1.5"
    table["sg6"][2] = (2, {c: 88 for c in ("NM", "BG", "CL")})  # +1, +1, -2: mean 0, se 1
    assert reproduce._better(table, "sg6", "wo_pt")[1] == "within the seeds' spread; seed by seed +1.0, +1.0, -2.0"
    table["sg6"] = table["sg6"][:1]
    assert reproduce._better(table, "sg6", "wo_pt") == (1.0, "higher (one seed: no spread yet)")


def test_a_provisional_verdict_follows_the_direction_of_every_difference():
    one_seed, clear = (5.0, "higher (one seed: no spread yet)"), (9.0, "clearly higher; seed by seed +8.0, +10.0")
    assert reproduce._verdict([clear, one_seed], holds=False) == "provisional (one seed): holds so far"
    lower = (-1.0, "lower (one seed: no spread yet)")
    assert reproduce._verdict([clear, lower], holds=False) == "provisional (one seed): does not hold so far"
    assert reproduce._verdict([clear, clear], holds=True) == "holds"
    assert reproduce._verdict([clear, (float("nan"), "not yet run")], holds=False).startswith("not decided")
