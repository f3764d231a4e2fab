"""The label-efficiency study's plan (its runs, most informative first) and where they live: a runs
folder with one workdir per run, and an archive in the repository of what each finished run left
(fine-tuning: results.json; pretraining: its zero-shot tables and metrics.jsonl).

A run counts as finished when its workdir or the archive holds its results: commit the archive and
the study continues in another checkout without redoing those runs. A pretraining run's checkpoint
is not archived: a fine-tuning run whose pretraining checkpoint is gone has it trained again first.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS
from selfgait_jax.study import label_rows
from selfgait_jax.study.label_rows import FineTuning, Pretraining
from selfgait_jax.study.runs import keep, latest_results, records

Run = Pretraining | FineTuning


def plan(seeds: int = label_rows.SEEDS, tiny: bool = False, data: str = "") -> list[Run]:
    """The runs in the order they go (on CASIA-B: `casia_b_plan`). Seed by seed: the pretexts'
    pretraining runs and their 1-step twins (each with its zero-shot probe), then every start's
    fine-tuning at the smallest fraction, then the next fraction, up to the largest but one. The
    largest fraction, where labels are least scarce and pretraining has least to show, comes after
    every seed's scarce ones, so that a study cut short has all its seeds where the question is;
    then the pool-size row, seed by seed; last, its control, the steps row (the SG-2 pool for as
    many steps), seed by seed."""
    if data == label_rows.CASIA_B:
        return casia_b_plan(seeds, tiny)
    scarce, largest = label_rows.FRACTIONS[:-1], label_rows.FRACTIONS[-1]
    out = []
    for seed in range(seeds):
        for pretext in label_rows.PRETEXTS:
            pretraining = Pretraining(pretext, seed, tiny=tiny)
            out += [pretraining, pretraining.twin]
        out += [FineTuning(start, fraction, seed, tiny=tiny)
                for fraction in scarce for start in label_rows.STARTS]
    for seed in range(seeds):
        out += [FineTuning(start, largest, seed, tiny=tiny) for start in label_rows.STARTS]
    for pool, passes in ((label_rows.POOL_ROW_RATIO, label_rows.PASSES),
                         (label_rows.POOL_RATIO, label_rows.STEPS_ROW_PASSES)):
        for seed in range(seeds):
            pretraining = Pretraining(label_rows.OTHER_PRETEXT, seed, pool, tiny=tiny, passes=passes)
            out += [pretraining, pretraining.twin,
                    FineTuning(label_rows.OTHER_PRETEXT, label_rows.POOL_ROW_FRACTION, seed, pool, tiny, passes)]
    return out


def casia_b_plan(seeds: int = label_rows.SEEDS, tiny: bool = False) -> list[Run]:
    """The study on real CASIA-B, the yardstick first: seed by seed, the paper pretext's pretraining
    on the training subjects (with its 1-step twin and their zero-shot probes) and at once its
    fine-tuning at `CASIA_B_YARDSTICK_FRACTION`, then w/o PT's (the first paired answer), then the
    other pretext's the same way; then the other fractions, scarcest first, each for every seed. A
    fine-tuning follows its pretraining directly: a session that ends between the two loses the
    pretraining's checkpoint (the archive keeps tables, not weights), so it is trained again."""
    data, first = label_rows.CASIA_B, label_rows.CASIA_B_YARDSTICK_FRACTION
    out = []
    for seed in range(seeds):
        for pretext in label_rows.PRETEXTS:
            pretraining = label_rows.pretraining(pretext, seed, data, tiny=tiny)
            out += [pretraining, pretraining.twin, label_rows.fine_tuning(pretext, first, seed, data, tiny=tiny)]
            if pretext == label_rows.PRETEXTS[0]:
                out.append(label_rows.fine_tuning("wo_pt", first, seed, data, tiny=tiny))
    for fraction in label_rows.CASIA_B_FRACTIONS:
        if fraction != first:
            out += [label_rows.fine_tuning(start, fraction, seed, data, tiny=tiny)
                    for seed in range(seeds) for start in label_rows.STARTS]
    return out


def condition_means(results: dict) -> dict:
    """{NM, BG, CL: mean rank-1 over the probe views} of a results.json."""
    return {c: results["conditions"][c]["mean"] for c in CONDITIONS}


@dataclasses.dataclass(frozen=True)
class LabelRuns:
    out: pathlib.Path      # the runs folder: out/<run's folder> is its workdir
    archive: pathlib.Path  # what finished runs left, kept in the repository: archive/<run's folder>
    data_root: str = ""    # the real dataset's folder, for a study on CASIA-B ("" for SynthGait)

    def workdir(self, run: Run) -> pathlib.Path:
        return self.out / run.folder

    def archived(self, run: Run) -> pathlib.Path:
        return self.archive / run.folder

    def pretrained(self, run: Pretraining) -> bool:
        """Whether the workdir holds the pretraining's last checkpoint (orbax names a step's folder
        by its number only once it is complete)."""
        return (self.workdir(run) / "checkpoints" / str(run.steps)).is_dir()

    def zero_shot_folder(self, run: Pretraining, split: str) -> pathlib.Path:
        """Where the zero-shot evaluation of ``split`` writes its tables (in the pretraining workdir)."""
        return self.workdir(run) / f"zero_shot_{split}"

    def _found(self, run: Run) -> dict:
        """archive file name -> the file in the workdir that holds it, for what exists there."""
        workdir = self.workdir(run)
        if isinstance(run, FineTuning):
            found = {"results.json": latest_results(workdir / "finetune" / "eval")}
        else:
            found = {f"zero_shot_{s}.json": self.zero_shot_folder(run, s) / "results.json"
                     for s in label_rows.SPLITS}
            if self.pretrained(run):  # whole: a run trained again after a lost checkpoint may be half-way
                found["metrics.jsonl"] = workdir / "metrics.jsonl"
        return {name: path for name, path in found.items() if path is not None and path.is_file()}

    def _read(self, run: Run, name: str):
        """The results dictionary stored as ``name`` (the workdir's, else the archive's), or None."""
        path = self._found(run).get(name, self.archived(run) / name)
        return json.loads(path.read_text()) if path.is_file() else None

    def results(self, run: FineTuning):
        """A finished fine-tuning run's results (its test table), or None."""
        return self._read(run, "results.json")

    def zero_shot(self, run: Pretraining, split: str):
        """A pretraining's zero-shot results on ``split`` (validation or test), or None."""
        return self._read(run, f"zero_shot_{split}.json")

    def pretrain_metrics(self, run: Pretraining) -> list[dict]:
        """The records of the pretraining's metrics.jsonl (workdir, else archive); [] if none."""
        path = self._found(run).get("metrics.jsonl", self.archived(run) / "metrics.jsonl")
        return records(path)

    def finished(self, run: Run) -> bool:
        if isinstance(run, FineTuning):
            return self.results(run) is not None
        return all(self.zero_shot(run, s) is not None for s in label_rows.SPLITS)

    def archive_run(self, run: Run) -> bool:
        """Copies what a finished run left into the archive; False (nothing copied) before it is."""
        if not self.finished(run):
            return False
        for name, path in self._found(run).items():
            keep(path, self.archived(run) / name)
        return True

    def collect(self, runs) -> dict:
        """run -> its numbers, for the finished ones of ``runs`` (archiving any not yet archived):
        a fine-tuning's {NM, BG, CL}, a pretraining's {split: {NM, BG, CL}}."""
        out = {}
        for run in runs:
            if not self.archive_run(run):
                continue
            if isinstance(run, FineTuning):
                out[run] = condition_means(self.results(run))
            else:
                out[run] = {s: condition_means(self.zero_shot(run, s)) for s in label_rows.SPLITS}
        return out
