"""Tables and heatmaps from a results dictionary; the comparison table with the paper's rows."""

import csv
import io

import numpy as np
from PIL import Image

import repo_files
from selfgait_jax.evaluation import tables

RESULTS = {
    "dataset": "synthgait_b",
    "metric": "euclidean",
    "views": ["000", "090"],
    "conditions": {
        "NM": {"matrix": [[None, 100.0], [200 / 3, None]], "rank1_per_probe_view": [100.0, 200 / 3],
               "mean": 250 / 3, "rank5_mean": 100.0, "mAP": 90.0, "num_probes": 6,
               "probes_without_gallery": 0},
        "CL": {"matrix": [[None, 50.0], [None, None]], "rank1_per_probe_view": [50.0, None],
               "mean": 50.0, "rank5_mean": None, "mAP": 40.0, "num_probes": 2,
               "probes_without_gallery": 1},
    },
    "num_probes": 8,
    "num_gallery": 6,
    "checkpoint": {"workdir": "w", "step": 12},
}


def test_markdown_has_a_row_per_condition_with_views_and_mean():
    text = tables.results_markdown(RESULTS)
    assert "| Probe | 000 | 090 | Mean |" in text
    assert "| NM | 100.0 | 66.7 | 83.3 |" in text
    assert "| CL | 50.0 | - | 50.0 |" in text  # a probe view without numbers shows '-'
    assert "step 12" in text


def test_csv_round_trips_full_precision():
    rows = list(csv.reader(io.StringIO(tables.results_csv(RESULTS))))
    assert rows[0] == ["condition", "000", "090", "mean", "rank5_mean", "mAP"]
    assert rows[1][0] == "NM" and float(rows[1][2]) == 200 / 3 and float(rows[1][3]) == 250 / 3
    assert rows[2][2] == "" and rows[2][4] == ""


def test_heatmap_is_a_picture(tmp_path):
    path = tmp_path / "heatmap_NM.png"
    tables.write_heatmap(RESULTS["conditions"]["NM"], RESULTS["views"], "NM", path)
    image = np.asarray(Image.open(path))
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0


def test_comparison_rows_and_published_rows_are_labelled():
    other = {**RESULTS, "conditions": {"NM": {**RESULTS["conditions"]["NM"], "mean": 10.0}}}
    header, rows = tables.comparison_rows([("A", RESULTS), ("B", other)], paper=True)
    assert header[:6] == ["Method", "Dataset", "Source", "NM", "BG", "CL"]
    assert rows[0][:6] == ["A", "synthgait_b", "measured", 250 / 3, None, 50.0]
    assert rows[0][6] == 100.0 and rows[0][7] == 65.0  # rank-5 / mAP averaged over conditions
    assert rows[1][3] == 10.0 and rows[1][5] is None
    published = {(r[0], r[1]): r for r in rows if r[2] == "published"}
    assert published[("SG-6", "CASIA-B")][3:6] == [93.5, 90.1, 81.3]
    assert published[("SG-2", "OU-MVLP")][3:6] == [89.9, None, None]
    assert len(published) == 11
    text = tables.comparison_markdown([("A", RESULTS)], paper=True)
    assert "not comparable" in text and "| GaitPart | CASIA-B | published | 96.2 | 91.5 | 78.7 |" in text
    assert "not comparable" not in tables.comparison_markdown([("A", RESULTS)])
    csv_rows = list(csv.reader(io.StringIO(tables.comparison_csv([("A", RESULTS)]))))
    assert csv_rows[1][:3] == ["A", "synthgait_b", "measured"]


def test_compare_tool_reads_eval_folders(tmp_path, capsys):
    import json

    compare = repo_files.tool("compare")

    first = tmp_path / "selfgait" / "eval" / "12"
    first.mkdir(parents=True)
    (first / "results.json").write_text(json.dumps(RESULTS))
    second = tmp_path / "gaitset.json"
    second.write_text(json.dumps({**RESULTS, "dataset": "synthgait_mv"}))
    out_csv = tmp_path / "table.csv"
    assert compare.main([str(first), str(second), "--paper", f"--csv={out_csv}"]) == 0
    text = capsys.readouterr().out
    assert "| selfgait | synthgait_b | measured | 83.3 | - | 50.0 | 100.0 | 65.0 |" in text
    assert "not comparable" in text
    rows = list(csv.reader(io.StringIO(out_csv.read_text())))
    assert [r[0] for r in rows[1:3]] == ["selfgait", "gaitset"]
    assert compare.main([str(first), str(second), "--names=A,B"]) == 0
    assert "| B | synthgait_mv | measured |" in capsys.readouterr().out
    assert compare.main([str(tmp_path / "missing")]) == 1
    assert str(tmp_path / "missing") in capsys.readouterr().err
    assert compare.main([str(first), "--names=A,B"]) == 1


def test_results_state_the_protocol_and_the_table_with_missing_gallery_as_misses():
    """Subject 006 has no gallery at view 090: its view-000 probes are dropped from the (000, 090)
    pair in the main table and count as misses in the other one."""
    import ml_collections

    from selfgait_jax.data import sources, splits
    from selfgait_jax.data.sequence import CASIA_B_TYPES, SequenceMeta
    from selfgait_jax.evaluation import api

    metas = [SequenceMeta(f"{s:03d}", t, v) for s in range(1, 7) for t in CASIA_B_TYPES
             for v in ("000", "090") if not (s == 6 and v == "090" and t.startswith("nm-0") and t <= "nm-04")]
    source = sources.ArraySource("synthgait_b", metas, [np.zeros((1, 64, 44), np.uint8)] * len(metas))
    config = ml_collections.ConfigDict({"data": sources.data_config("synthgait_b", "tiny"),
                                        "eval": {"max_length": 0, "metric": "euclidean", "batch_size": 0,
                                                 "drop_missing_gallery": True}})
    evaluator = api.PeriodicEvaluator(config, None, source=source)
    evaluator.max_length = 40
    subjects = np.array([int(metas[i].subject) for i in evaluator.indices], np.float32)
    embeddings = np.repeat(subjects[:, None, None], 2, axis=1) * np.ones((1, 1, 3), np.float32)
    results = evaluator.results(embeddings)
    p = results["protocol"]
    assert p["name"] == "casia_b" and p["split"] == "default" and p["partition"] is None
    assert p["train_subjects"]["count"] == 4 and p["test_subjects"]["ids"] == ["005", "006"]
    assert p["test_subjects"]["sha256"] == splits.subjects_digest(["006", "005"])
    assert p["gallery_types"] == ["nm-01", "nm-02", "nm-03", "nm-04"] and p["probe_types"]["NM"] == ["nm-05", "nm-06"]
    assert p["views"] == ["000", "090"] and p["max_length"] == 40 and "first 40" in p["frames_used"]
    assert p["probes_without_gallery"]["per_condition"] == {"NM": 2, "BG": 2, "CL": 2}
    assert p["probes_without_gallery"]["rule"].startswith("dropped")
    assert results["conditions"]["NM"]["mean"] == 100.0
    misses = results["with_missing_as_misses"]["NM"]
    assert misses["rank1_per_probe_view"] == [50.0, 100.0] and misses["mean"] == 75.0
    text = tables.results_markdown({**results, "checkpoint": {"step": 3, "config_sha256": "ab" * 32}})
    assert "### Protocol" in text and "test subjects: 2 (sha256" in text and "config sha256 abab" in text
    assert "With those probes counted as misses" in text and "| NM | 75.0 |" in text
    assert "6 (NM 2, BG 2, CL 2), dropped" in text


def test_a_choice_of_views_evaluates_those_views_only():
    """The cheaper probe (docs/evaluation.md): the test sequences of the chosen views, their pairs."""
    import ml_collections

    from selfgait_jax.data import sources
    from selfgait_jax.evaluation import api

    data = sources.named_data_config("synthgait_b:tiny", views=["000", "090", "180"])
    config = ml_collections.ConfigDict({"data": data, "eval": {"max_length": 0, "metric": "euclidean", "batch_size": 0,
                                                               "drop_missing_gallery": True}})
    evaluator = api.PeriodicEvaluator(config, None)
    metas = [evaluator.source.metas[i] for i in evaluator.indices]
    assert {m.view for m in metas} == {"000", "090", "180"} and len(metas) == 2 * 10 * 3  # 2 test subjects
    subjects = np.array([int(m.subject) for m in metas], np.float32)
    results = evaluator.results(np.repeat(subjects[:, None, None], 2, axis=1))
    assert results["views"] == ["000", "090", "180"]
    assert results["conditions"]["NM"]["mean"] == 100.0  # each subject's own embedding: always found
