"""Where a study's runs live: a runs folder with one workdir per row and seed, and an archive in the
repository that keeps each finished run's results.json and pretraining metrics.

A run counts as finished when its workdir holds an evaluation or the archive holds its results: commit
the archive and the study continues in another checkout without redoing those runs.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import numpy as np

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS
from selfgait_jax.study import rows


def records(path: pathlib.Path) -> list[dict]:
    """The records of a metrics.jsonl; [] if there is none."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def latest_results(eval_folder: pathlib.Path):
    """The results.json of the highest step under ``eval_folder`` (a stage's eval/<step>/), or None."""
    found = [p for p in eval_folder.glob("*/results.json") if p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def keep(source: pathlib.Path, target: pathlib.Path) -> None:
    """Copies a finished run's file into the archive (making its folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


@dataclasses.dataclass(frozen=True)
class Runs:
    out: pathlib.Path      # the runs folder: out/ROW/seedSEED is one run's workdir
    archive: pathlib.Path  # finished runs' results, kept in the repository: archive/ROW/seedSEED

    def workdir(self, row: str, seed: int) -> pathlib.Path:
        return self.out / row / f"seed{seed}"

    def archived(self, row: str, seed: int) -> pathlib.Path:
        return self.archive / row / f"seed{seed}"

    def _results_file(self, row: str, seed: int):
        """The run's results.json (its fine-tuning stage's last evaluation) in its workdir, or None."""
        return latest_results(self.workdir(row, seed) / "finetune" / "eval")

    def archive_run(self, row: str, seed: int) -> bool:
        """Copies a finished run's results.json and pretraining metrics.jsonl into the archive."""
        results = self._results_file(row, seed)
        if results is None:
            return False
        target = self.archived(row, seed)
        keep(results, target / "results.json")
        metrics = self.workdir(row, seed) / "pretrain" / "metrics.jsonl"
        if metrics.is_file():
            keep(metrics, target / "pretrain_metrics.jsonl")
        return True

    def results(self, row: str, seed: int):
        """A finished run's results dictionary, from its workdir or from the archive; None if unfinished."""
        found = self._results_file(row, seed)
        if found is None:
            found = self.archived(row, seed) / "results.json"
        return json.loads(found.read_text()) if found.is_file() else None

    def pretrain_metrics(self, row: str, seed: int) -> list[dict]:
        """The records of the run's pretraining metrics.jsonl (workdir, else archive); [] if none."""
        path = self.workdir(row, seed) / "pretrain" / "metrics.jsonl"
        if not path.is_file():
            path = self.archived(row, seed) / "pretrain_metrics.jsonl"
        return records(path)

    def collect(self) -> dict:
        """row -> list of (seed, {NM, BG, CL}) of the finished runs (archiving any not yet archived)."""
        table = {}
        for row in rows.ROWS:
            for seed in range(rows.seeds(row)):
                self.archive_run(row, seed)
                results = self.results(row, seed)
                if results is not None:
                    means = {c: results["conditions"][c]["mean"] for c in CONDITIONS}
                    table.setdefault(row, []).append((seed, means))
        return table

    def per_view(self, row: str) -> dict:
        """seed -> (views, {condition: rank-1 per probe view}) of the row's finished runs."""
        found = {s: self.results(row, s) for s in range(rows.seeds(row))}
        return {s: (r["views"], {c: np.asarray(r["conditions"][c]["rank1_per_probe_view"], float)
                                 for c in CONDITIONS}) for s, r in found.items() if r}
