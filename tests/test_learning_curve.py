"""tools/learning_curve.py: the validation probe's records against the step, as a table and a picture."""

import json

import repo_files


def _metrics(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_probe_records_are_read_by_step_and_a_resumed_runs_later_record_wins(tmp_path):
    tool = repo_files.tool("learning_curve")
    metrics = tmp_path / "run" / "metrics.jsonl"
    _metrics(metrics, [
        {"step": 50, "loss": 0.2},  # a training record: not a probe
        {"step": 1000, "probe/NM_rank1": 60.0, "probe/BG_rank1": 50.0, "probe/CL_rank1": 31.0},
        {"step": 500, "probe/NM_rank1": 40.0, "probe/BG_rank1": 30.0, "probe/CL_rank1": 20.0},
        {"step": 1000, "probe/NM_rank1": 61.0, "probe/BG_rank1": 51.0, "probe/CL_rank1": 32.0},  # resumed
        {"step": 1500, "probe/NM_rank1": 70.0},  # incomplete: left out
    ])
    points = tool.probe_points(metrics)
    assert points == [(500, {"NM": 40.0, "BG": 30.0, "CL": 20.0}), (1000, {"NM": 61.0, "BG": 51.0, "CL": 32.0})]
    assert tool.table("w32", points).splitlines()[-1] == "| 1000 | 61.0 | 51.0 | 32.0 | 48.0 |"


def test_the_tool_prints_each_runs_table_and_draws_them(tmp_path, capsys):
    tool = repo_files.tool("learning_curve")
    for name, nm in (("a", 10.0), ("b", 20.0)):
        _metrics(tmp_path / name / "metrics.jsonl",
                 [{"step": 100, "probe/NM_rank1": nm, "probe/BG_rank1": nm, "probe/CL_rank1": nm}])
    out = tmp_path / "curve.png"
    assert tool.main([str(tmp_path / "a"), str(tmp_path / "b" / "metrics.jsonl"), "--names=A,B",
                      f"--out={out}"]) == 0
    printed = capsys.readouterr().out
    assert "| 100 | 10.0 | 10.0 | 10.0 | 10.0 |" in printed and "| 100 | 20.0 | 20.0 | 20.0 | 20.0 |" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_without_a_probe_is_one_clear_error(tmp_path, capsys):
    tool = repo_files.tool("learning_curve")
    _metrics(tmp_path / "run" / "metrics.jsonl", [{"step": 50, "loss": 0.2}])
    assert tool.main([str(tmp_path / "run")]) == 1
    assert "no validation probe logged" in capsys.readouterr().err
    assert tool.main([str(tmp_path / "none")]) == 1
    assert tool.main([str(tmp_path / "run"), "--names=a,b"]) == 2
