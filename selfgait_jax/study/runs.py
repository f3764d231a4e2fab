"""Where a study's runs live: a runs folder with one workdir per run, and an archive in the repository
that keeps what each finished run left (its tables and metrics, never a checkpoint).

A run is any of the studies' run types (``rows.Row``, ``label_rows.Pretraining`` and ``FineTuning``);
each declares what this module reads:

    folder      its workdir under the runs folder, and its folder in the archive
    files       archive name -> path in the workdir ({step}: the highest numbered folder there)
    required    the archive names that make it finished
    checkpoint  the path in the workdir that says it is trained ("": trained once finished); until
                it exists, nothing of the workdir counts (a run trained again after its checkpoint
                was lost may be half-way)
    metrics     the archive name of its pretraining metrics.jsonl

A run counts as finished when its workdir or the archive holds its required files: commit the
archive and the study continues in another checkout without redoing those runs.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS


def records(path: pathlib.Path) -> list[dict]:
    """The records of a metrics.jsonl; [] if there is none."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def condition_means(results: dict) -> dict:
    """{NM, BG, CL: mean rank-1 over the probe views} of a results.json."""
    return {c: results["conditions"][c]["mean"] for c in CONDITIONS}


def _resolve(workdir: pathlib.Path, path: str) -> pathlib.Path | None:
    """``workdir/path``, its {step} the highest numbered folder that holds the rest; None if none does."""
    if "{step}" not in path:
        return workdir / path
    head, tail = path.split("{step}")
    found = [p for p in (workdir / head).glob("*" + tail) if p.relative_to(workdir / head).parts[0].isdigit()]
    return max(found, key=lambda p: int(p.relative_to(workdir / head).parts[0])) if found else None


@dataclasses.dataclass(frozen=True)
class Runs:
    out: pathlib.Path      # the runs folder: out/<run's folder> is its workdir
    archive: pathlib.Path  # what finished runs left, kept in the repository: archive/<run's folder>
    data_root: str = ""    # the real dataset's folder, for a study on CASIA-B ("" for SynthGait)

    def workdir(self, run) -> pathlib.Path:
        return self.out / run.folder

    def archived(self, run) -> pathlib.Path:
        return self.archive / run.folder

    def trained(self, run) -> bool:
        """Whether the run's training is complete (its checkpoint, or for a run without one: finished)."""
        return (self.workdir(run) / run.checkpoint).is_dir() if run.checkpoint else self.finished(run)

    def _found(self, run) -> dict:
        """archive name -> the file in the workdir that holds it, for what exists there."""
        workdir = self.workdir(run)
        if run.checkpoint and not (workdir / run.checkpoint).is_dir():
            return {}
        found = {name: _resolve(workdir, path) for name, path in run.files.items()}
        return {name: path for name, path in found.items() if path is not None and path.is_file()}

    def path(self, run, name: str) -> pathlib.Path:
        """Where the run's file ``name`` is read from: its workdir's, else the archive's (may not exist)."""
        return self._found(run).get(name, self.archived(run) / name)

    def read(self, run, name: str):
        """The JSON stored as ``name`` (the workdir's, else the archive's), or None."""
        path = self.path(run, name)
        return json.loads(path.read_text()) if path.is_file() else None

    def finished(self, run) -> bool:
        return all(self.path(run, name).is_file() for name in run.required)

    def archive_run(self, run) -> bool:
        """Copies what a finished run left into the archive; False (nothing copied) before it is."""
        if not self.finished(run):
            return False
        for name, path in self._found(run).items():
            target = self.archived(run) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return True

    def collect(self, plan) -> dict:
        """run -> {required name: its JSON}, for the finished runs of ``plan`` (archiving any not yet)."""
        return {run: {name: self.read(run, name) for name in run.required}
                for run in plan if self.archive_run(run)}

    # The names the studies read by.
    def results(self, run):
        """A finished run's test table (results.json), or None."""
        return self.read(run, "results.json")

    def zero_shot(self, run, split: str):
        """A pretraining's zero-shot results on ``split`` (validation or test), or None."""
        return self.read(run, f"zero_shot_{split}.json")

    def zero_shot_folder(self, run, split: str) -> pathlib.Path:
        """Where the zero-shot evaluation of ``split`` writes its tables (in the pretraining workdir)."""
        return (self.workdir(run) / run.files[f"zero_shot_{split}.json"]).parent

    def pretrain_metrics(self, run) -> list[dict]:
        """The records of the run's pretraining metrics.jsonl (workdir, else archive); [] if none."""
        return records(self.path(run, run.metrics))
