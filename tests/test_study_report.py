"""selfgait_jax.study.report: the table, the paired verdicts and the figures, computed from results files."""

import pathlib
import shutil

import pytest

import repo_files
from selfgait_jax.study import figures, label_rows, report
from selfgait_jax.study.runs import Runs
from study_fixtures import VIEWS, fake_result, results_json

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


# --- the same study on CASIA-B -------------------------------------------------------------------

def _casia_b_archive(archive, values):
    """An archive as the label study on CASIA-B writes it (docs/casia_b/runs): row -> seed -> mean,
    each run's results.json at its literal folder."""
    folders = {"wo_pt": "finetune/wo_pt/0.4", "paper": "finetune/paper/0.4",
               "no_hpm": "finetune/paper_no_hpm/0.4", "no_mtb": "finetune/paper_no_mtb/0.4",
               "gaitset": "finetune/gaitset/1", "gaitpart": "finetune/gaitpart/1"}
    for row, seeds in values.items():
        for seed, v in seeds.items():
            results_json(archive / folders[row] / f"seed{seed}", v + 5, v, v - 5)


def test_on_casia_b_the_rows_are_the_label_plans_runs_read_from_its_archive_as_it_is(tmp_path):
    """The CASIA-B rows are fine-tuning runs of the label study's CASIA-B plan (its w/o PT and
    `paper` rows at 40 %, and the rows it appends); their results are read from the archive's folders
    as the running label study writes them, and the table stands beside the published numbers."""
    plan = label_rows.plan(data=label_rows.CASIA_B)
    assert all(run in plan for run in report.CASIA_B.plan())
    _casia_b_archive(tmp_path / "archive", {"wo_pt": {0: 40, 1: 41}, "paper": {0: 43, 1: 45}, "no_hpm": {0: 38, 1: 40},
                                            "no_mtb": {0: 42}, "gaitset": {0: 50, 1: 52}, "gaitpart": {0: 53, 1: 54}})
    doc = tmp_path / "casia_b.md"
    doc.write_text(f"# CASIA-B\n\n{report.REPORT_BEGIN}\n{report.REPORT_END}\n")
    table = report.write_report(Runs(tmp_path / "runs", tmp_path / "archive"), doc, report.CASIA_B)
    text = doc.read_text()
    assert "*Generated by `python tools/reproduce.py --data=casia_b --out=runs`: 11 of 14 runs finished.*" in text
    assert "| SelfGait w/o PT | 2 of 3 | 45.5 ± 0.7 | 40.5 ± 0.7 | 35.5 ± 0.7 | 85.5 / 79.8 / 73.6 |" in text
    assert "| GaitSet (100 % labels) | 2 of 2 | 56.0 ± 1.4 | 51.0 ± 1.4 | 46.0 ± 1.4 | 95.0 / 87.2 / 70.4 |" in text
    assert "| SelfGait w/o MTB | 1 of 2 | 47.0 | 42.0 | 37.0 | 81.6 / 68.4 / 52.7 |" in text
    assert ("- **(a) Pretraining beats w/o PT at 40 % labels:** holds. SelfGait − w/o PT = +3.5 (clearly higher; "
            "seed by seed +3.0, +4.0)") in text
    assert ("- **(b) Removing HPM or MTB hurts:** provisional (one seed): holds so far. SelfGait − SelfGait w/o HPM "
            "= +5.0 (clearly higher; seed by seed +5.0, +5.0); SelfGait − SelfGait w/o MTB = +1.0 (higher (one seed: "
            "no spread yet)).") in text
    assert "- **GaitPart beats GaitSet (the paper's order):** " in text
    assert "in 6 of 6 rows CL has the lowest" in text
    # GaitSet: 51.0 mean over its seeds against the paper's 84.2, 33.2 below: not within 15 points.
    assert ("- **GaitSet (100 % labels) within 15 points of the paper's mean (84.2):** no: 51.0, 33.2 below "
            "(2 of 2 seeds).") in text
    for figure in ("bars", "view_gaps"):
        assert f"images/casia_b_reproduction_{figure}.png" in text
        assert (tmp_path / "images" / f"casia_b_reproduction_{figure}.png").is_file()
    assert table["gaitpart"] == [(0, {"NM": 58, "BG": 53, "CL": 48}), (1, {"NM": 59, "BG": 54, "CL": 49})]


def test_the_reproduction_tool_reports_either_dataset_into_its_own_doc(tmp_path, capsys):
    tool = repo_files.tool("reproduce")
    doc = tmp_path / "casia_b.md"
    assert tool.main(["--data=casia_b", f"--out={tmp_path / 'runs'}", f"--doc={doc}",
                      f"--archive={tmp_path / 'archive'}", "--report"]) == 0
    assert "0 of 14 runs finished" in doc.read_text() and "| GaitPart (100 % labels) | 0 of 2 |" in doc.read_text()
    assert tool.main(["--data=casia_b", f"--out={tmp_path / 'runs'}", f"--doc={doc}"]) == 2
    assert "--data=casia_b needs --data_root" in capsys.readouterr().err
    assert tool.main([f"--out={tmp_path / 'runs'}", "--rows=sg6,no_hpm", "--report"]) == 2
    assert "unknown rows ['no_hpm']" in capsys.readouterr().err
