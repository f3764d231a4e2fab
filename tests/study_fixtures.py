"""Fake finished study runs: the results.json an evaluation writes, in the folder a run writes it to."""

import json

from selfgait_jax.study.rows import Row

VIEWS = ["000", "090", "180"]


def results_json(folder, nm, bg, cl, per_view=None, matrix=None):
    """Writes folder/results.json whose conditions have these means (and, unless given, that mean in
    every view; with ``matrix``, every condition's probe × gallery view matrix)."""
    folder.mkdir(parents=True)
    conditions = {c: {"mean": v, "rank1_per_probe_view": (per_view or {}).get(c, [v] * len(VIEWS))}
                  for c, v in zip(("NM", "BG", "CL"), (nm, bg, cl))}
    if matrix is not None:
        for condition in conditions.values():
            condition["matrix"] = matrix
    (folder / "results.json").write_text(json.dumps({"views": VIEWS, "conditions": conditions}))


def fake_result(runs, row, seed, nm, bg, cl, step=1000, per_view=None):
    """A reproduction run's results.json, as its fine-tuning stage writes it."""
    results_json(runs.workdir(Row(row, seed)) / "finetune" / "eval" / str(step), nm, bg, cl, per_view)


def fake_fine_tuning(runs, run, nm, bg, cl, step=1000):
    """A label-study fine-tuning run's test table, as its chain's evaluation writes it."""
    results_json(runs.workdir(run) / "finetune" / "eval" / str(step), nm, bg, cl)


def fake_pretraining(runs, run, validation=None, test=None, matrix=None):
    """A label-study pretraining run: its last checkpoint, a metrics.jsonl, and the zero-shot tables
    given (each (NM, BG, CL); ``matrix``: every table's view matrix)."""
    (runs.workdir(run) / "checkpoints" / str(run.steps)).mkdir(parents=True, exist_ok=True)
    (runs.workdir(run) / "metrics.jsonl").write_text(json.dumps({"step": run.steps, "loss": 1.0}) + "\n")
    for split, means in (("validation", validation), ("test", test)):
        if means is not None:
            results_json(runs.zero_shot_folder(run, split), *means, matrix=matrix)
