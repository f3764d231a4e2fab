"""tools/published_recipe.sh, the command for a lent GPU machine, run here as it runs there: without
TensorFlow (a sitecustomize.py makes it unimportable in every process the script starts), on a
compact file, at SIZE=tiny and 2 steps a stage. The compact file is a stand-in: random silhouettes
under CASIA-B's names (subjects 070-074 train, 075-080 test, two views), since the real data is
licence-gated."""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from selfgait_jax.data import packed
from selfgait_jax.data.sequence import CASIA_B_TYPES, SequenceMeta
from selfgait_jax.data.sources import ArraySource

pytestmark = pytest.mark.slow  # five subprocesses, two evaluations

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "published_recipe.sh"


class _Packable(ArraySource):
    summary = None  # no read report: the sequences were made, not read from a tree


@pytest.fixture(scope="module")
def compact(tmp_path_factory):
    rng = np.random.default_rng(0)
    metas = [SequenceMeta(f"{s:03d}", t, v) for s in range(70, 81) for t in CASIA_B_TYPES for v in ("090", "180")]
    frames = [(rng.random((int(rng.integers(6, 12)), 64, 44)) < 0.3).astype(np.uint8) * 255 for _ in metas]
    path = tmp_path_factory.mktemp("data") / "casia_b.npz"
    packed.write_compact(path, _Packable("casia_b_pkl", metas, frames))
    return path


def _run(work, report, compact, tmp_path, **env):
    hide = tmp_path / "no_tensorflow"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n"
                                           "sys.modules['tensorflow_datasets'] = None\n")
    environment = dict(os.environ, DATA=str(compact), STEPS="2", SIZE="tiny", JAX_PLATFORMS="cpu",
                       PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
                       PYTHONPATH=str(hide), JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax"))
    environment.update(env)
    environment.pop("XLA_FLAGS", None)  # one CPU device, as a lent machine has one GPU
    return subprocess.run(["bash", str(SCRIPT), str(work), str(report)], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=1200)


def test_the_recipe_trains_evaluates_and_reports_without_tensorflow(compact, tmp_path):
    work, report = tmp_path / "recipe", tmp_path / "out"
    done = _run(work, report, compact, tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "numpy back end (TensorFlow does not import" in done.stderr
    for stage in ("gaitset", "pretrain", "finetune_from_2"):
        assert f"training from step 0 to 2 in {work / stage}" in done.stdout
    rows = [line for line in done.stdout.splitlines() if "| measured |" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| GaitSet (ours)", "| SelfGait (ours)"]
    assert "| SG-6 | CASIA-B | published | 93.5 | 90.1 | 81.3 |" in done.stdout
    assert "GaitSet trained 2 of the recipe's 80000 steps: the beginning of the published recipe, not the recipe." \
        in done.stdout
    assert "SelfGait was pretrained 2 and fine-tuned 2 of the recipe's 80000 steps" in done.stdout
    assert "not on the paper's pool drawn from OU-MVLP" in done.stdout and "SIZE=tiny" in done.stdout
    assert (report / "report.md").read_text() == (work / "report.md").read_text()
    for stage in ("gaitset", "finetune_from_2"):
        results = json.loads((work / stage / "eval" / "2" / "results.json").read_text())
        assert results["dataset"] == "casia_b_pkl" and set(results["conditions"]) == {"NM", "BG", "CL"}
    with tarfile.open(report / "recipe_runs.tgz") as archive:
        names = archive.getnames()
    assert "./gaitset/eval/2/results.json" in names and "./finetune_from_2/metrics.jsonl" in names
    assert not [n for n in names if "checkpoints" in n or n.endswith("embeddings.npz")]

    # Again: every stage is done, so nothing trains or evaluates, and the report is the same.
    again = _run(work, tmp_path / "out2", compact, tmp_path)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "training from" not in again.stdout and "evaluating" not in again.stdout
    assert [line for line in again.stdout.splitlines() if "| measured |" in line] == rows

    # A larger STEPS goes on from the checkpoints; a 1-second time limit stops it at once.
    stopped = _run(work, tmp_path / "out3", compact, tmp_path, STEPS="4", TIME_LIMIT="1", STAGES="gaitset")
    assert stopped.returncode == 0, stopped.stderr[-4000:]
    assert "GaitSet stopped at the time limit at step 2 of 4; the same command goes on from there." in stopped.stdout
