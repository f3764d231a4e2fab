"""selfgait_jax.study.report: the table, the paired verdicts and the figures, computed from results files."""

import pathlib
import shutil

import pytest

from selfgait_jax.study import figures, report
from selfgait_jax.study.runs import Runs
from study_fixtures import VIEWS, fake_result

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_report_table_and_verdicts_follow_the_numbers(tmp_path):
    # w/o PT: avg 40 and 42; SG-6: avg 50 and 51 -> +10, +9 seed by seed, clearly higher. SG-2 one seed.
    runs = Runs(tmp_path, tmp_path / "archive")
    fake_result(runs, "wo_pt", 0, 45, 40, 35)
    fake_result(runs, "wo_pt", 1, 47, 42, 37)
    fake_result(runs, "sg6", 0, 55, 50, 45)
    fake_result(runs, "sg6", 1, 56, 51, 46)
    fake_result(runs, "sg2", 0, 30, 20, 25)  # BG lowest here: CL is not the hardest
    doc = tmp_path / "reproduction.md"
    doc.write_text(f"# Study\n\nhand-written\n\n{report.REPORT_BEGIN}\nOLD-GENERATED\n"
                   f"{report.REPORT_END}\n\nmore\n")
    table = report.write_report(runs, doc)
    text = doc.read_text()
    assert "hand-written" in text and "more" in text and "OLD-GENERATED" not in text
    assert "| SG-6 | 2 of 3 | 55.5 ± 0.7 | 50.5 ± 0.7 | 45.5 ± 0.7 | 93.5 / 90.1 / 81.3 |" in text
    assert "| SG-4 | 0 of 2 | not yet run |" in text
    assert "SG-6 − w/o PT = +9.5 (clearly higher; seed by seed +10.0, +9.0)" in text
    assert "SG-2 − w/o PT = -15.0 (lower (one seed: no spread yet))" in text  # paired: seed 0 only
    assert "SG-4 − w/o PT: not yet run" in text
    assert "not decided yet" in text.split("(a)")[1].split("\n")[0]  # SG-4 has not run
    fake_result(runs, "sg4", 0, 50, 45, 40)
    fake_result(runs, "sg4", 1, 50, 45, 40)
    for seed in (1, 2):
        fake_result(runs, "sg2", seed, 30, 20, 25)
    report.write_report(runs, doc)
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
        report.write_report(Runs(tmp_path, tmp_path / "archive"), doc)
    assert doc.read_text() == "# someone's notes\n"


def test_view_gaps_are_row_minus_wo_pt_per_view_seed_by_seed(tmp_path):
    runs = Runs(tmp_path, tmp_path / "archive")
    fake_result(runs, "wo_pt", 0, 50, 40, 30, per_view={"CL": [20, 40, 30]})
    fake_result(runs, "wo_pt", 1, 50, 40, 30, per_view={"CL": [22, 40, 28]})
    fake_result(runs, "wo_pt", 2, 50, 40, 30, per_view={"CL": [90, 90, 90]})  # no SG-6 seed 2
    fake_result(runs, "sg6", 0, 50, 40, 30, per_view={"CL": [30, 35, 25]})
    fake_result(runs, "sg6", 1, 50, 40, 30, per_view={"CL": [32, 41, 29]})
    views, rows, gaps = report.view_gaps(runs)
    assert views == VIEWS and rows == ["sg6"]  # SG-2, SG-4 and the extension have not run
    assert gaps["CL"].tolist() == [[10.0, -2.0, -2.0]]  # (+10, +10), (-5, +1), (-5, +1)
    assert gaps["NM"].tolist() == [[0.0, 0.0, 0.0]]
    assert report.view_gaps(Runs(tmp_path / "empty", tmp_path / "archive")) is None
    assert figures.view_gap_heatmaps(report.view_gaps(runs), tmp_path / "gaps.png")
    assert (tmp_path / "gaps.png").stat().st_size > 0
    assert not figures.view_gap_heatmaps(None, tmp_path / "none.png") and not (tmp_path / "none.png").exists()


def test_rows_are_compared_seed_by_seed():
    """A seed shared by every row (the same labelled 40 %) moves both rows alike; pairing removes it.
    Unpaired, 61/71/91.5 against 60/70/90 is far within the spread (std ≈ 15); paired it is +1 or
    more every seed."""
    table = {"wo_pt": [(s, {c: v for c in ("NM", "BG", "CL")}) for s, v in enumerate((60, 70, 90))],
             "sg6": [(s, {c: v for c in ("NM", "BG", "CL")}) for s, v in enumerate((61, 71, 91.5))]}
    diff, word = report._better(table, "sg6", "wo_pt")
    assert diff == pytest.approx(7 / 6) and word == "clearly higher; seed by seed +1.0, +1.0, +1.5"
    table["sg6"][2] = (2, {c: 88 for c in ("NM", "BG", "CL")})  # +1, +1, -2: mean 0, se 1
    assert report._better(table, "sg6", "wo_pt")[1] == "within the seeds' spread; seed by seed +1.0, +1.0, -2.0"
    table["sg6"] = table["sg6"][:1]
    assert report._better(table, "sg6", "wo_pt") == (1.0, "higher (one seed: no spread yet)")


def test_a_provisional_verdict_follows_the_direction_of_every_difference():
    one_seed, clear = (5.0, "higher (one seed: no spread yet)"), (9.0, "clearly higher; seed by seed +8.0, +10.0")
    assert report._verdict([clear, one_seed], holds=False) == "provisional (one seed): holds so far"
    lower = (-1.0, "lower (one seed: no spread yet)")
    assert report._verdict([clear, lower], holds=False) == "provisional (one seed): does not hold so far"
    assert report._verdict([clear, clear], holds=True) == "holds"
    assert report._verdict([clear, (float("nan"), "not yet run")], holds=False).startswith("not decided")


def test_the_committed_report_is_what_the_archived_runs_give(tmp_path):
    """docs/reproduction.md's generated section, regenerated from docs/reproduction/runs with an empty
    runs folder (as `python tools/reproduce.py --out=runs/study --report` in a fresh checkout), comes
    out byte for byte as committed: the page says what the archive and this code say."""
    doc = tmp_path / "reproduction.md"
    shutil.copyfile(ROOT / "docs" / "reproduction.md", doc)
    archive = tmp_path / "archive"
    shutil.copytree(ROOT / "docs" / "reproduction" / "runs", archive)
    report.write_report(Runs(tmp_path / "study", archive), doc)
    assert doc.read_text() == (ROOT / "docs" / "reproduction.md").read_text()
