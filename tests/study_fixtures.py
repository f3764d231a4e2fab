"""Fake finished study runs: a results.json in a run's workdir, as the fine-tuning stage writes it."""

import json

VIEWS = ["000", "090", "180"]


def fake_result(runs, row, seed, nm, bg, cl, step=1000, per_view=None):
    """A results.json whose conditions have these means (and, unless given, that mean in every view)."""
    folder = runs.workdir(row, seed) / "finetune" / "eval" / str(step)
    folder.mkdir(parents=True)
    conditions = {c: {"mean": v, "rank1_per_probe_view": (per_view or {}).get(c, [v] * len(VIEWS))}
                  for c, v in zip(("NM", "BG", "CL"), (nm, bg, cl))}
    (folder / "results.json").write_text(json.dumps({"views": VIEWS, "conditions": conditions}))
