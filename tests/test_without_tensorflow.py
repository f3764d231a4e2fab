"""A host with JAX but no TensorFlow (the lent GPU machines) trains and evaluates: the input pipelines
fall back to their numpy back end with the same batches, and TensorBoard events are still written.

TensorFlow is made unimportable in a subprocess (``sys.modules["tensorflow"] = None``, which makes
``import tensorflow`` raise ImportError as on a host without it)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_HIDE_TENSORFLOW = ("import sys\n"
                    "sys.modules['tensorflow'] = None\n"
                    "sys.modules['tensorflow_datasets'] = None\n")
# `python -c` in ROOT imports this checkout's package, as `python -m selfgait_jax.main` does.
_ENV = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")

# The same small source in both processes: random binary frames, 4 subjects x 3 sequences.
_SOURCE = """
import numpy as np
from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.data.sources import ArraySource

def make_source():
    rng = np.random.default_rng(11)
    lengths = [9, 14, 6, 20, 11, 8, 17, 12, 5, 10, 13, 16]
    metas = [SequenceMeta(f"{j // 3:03d}", f"nm-{j % 3 + 1:02d}", "090") for j in range(len(lengths))]
    return ArraySource("tiny", metas, [(rng.random((t, 64, 44)) < 0.4).astype(np.uint8) * 255 for t in lengths])

PIPELINES = {
    "pretext": ("make_pretext_pipeline", dict(batch_size=8, k=6)),
    "clip_pair": ("make_clip_pair_pipeline", dict(batch_size=8, frames=4, span=6)),
    "triplet": ("make_triplet_pipeline", dict(subjects_per_batch=2, sequences_per_subject=4, frames=7)),
}
TOPOLOGY = dict(process_index=0, process_count=1, device_count=4, seed=5, progress=False)
"""


def test_without_tensorflow_the_pipelines_make_the_tf_data_batches(tmp_path):
    """With TensorFlow unimportable the pipelines pick the numpy back end by themselves, import no
    TensorFlow, and make the batches tf.data makes here (batches 0-1 and, resumed, 6-7)."""
    pytest.importorskip("tensorflow")
    out = tmp_path / "batches.npz"
    code = _HIDE_TENSORFLOW + _SOURCE + f"""
from selfgait_jax.data import pipelines
assert pipelines.resolve_backend() == "numpy"
source, arrays = make_source(), {{}}
for name, (make, kwargs) in PIPELINES.items():
    for start in (0, 6):
        iterator = getattr(pipelines, make)(source, np.arange(12), start_batch=start, **kwargs, **TOPOLOGY)
        for i in range(2):
            for key, value in next(iterator).items():
                arrays[f"{{name}}/{{start + i}}/{{key}}"] = value
np.savez({str(out)!r}, **arrays)
loaded = sorted(m for m in sys.modules if m.startswith("tensorflow") and sys.modules[m] is not None)
assert not loaded, loaded
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]

    namespace = {}
    exec(_SOURCE, namespace)  # pylint: disable=exec-used
    from selfgait_jax.data import pipelines  # pylint: disable=g-import-not-at-top

    source = namespace["make_source"]()
    with np.load(out) as without_tf:
        seen = set()
        for name, (make, kwargs) in namespace["PIPELINES"].items():
            for start in (0, 6):
                iterator = getattr(pipelines, make)(source, np.arange(12), start_batch=start, backend="tf",
                                                    **kwargs, **namespace["TOPOLOGY"])
                for i in range(2):
                    for key, value in next(iterator).items():
                        got = without_tf[f"{name}/{start + i}/{key}"]
                        assert (got.dtype, got.shape) == (value.dtype, value.shape), (name, key)
                        np.testing.assert_array_equal(got, value, err_msg=f"{name} batch {start + i} {key}")
                        seen.add(f"{name}/{start + i}/{key}")
        assert seen == set(without_tf.files)


@pytest.mark.slow
def test_a_tiny_chain_trains_and_evaluates_without_tensorflow(tmp_path):
    """python -m selfgait_jax.main on the tiny quickstart chain (pretrain → fine-tune → tables)."""
    code = _HIDE_TENSORFLOW + (
        "import runpy\n"
        "sys.argv = ['selfgait_jax.main', *sys.argv[1:]]\n"
        "runpy.run_module('selfgait_jax.main', run_name='__main__', alter_sys=True)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tensorflow') and sys.modules[m] is not None)\n"
        "assert not loaded, loaded\n")
    overrides = {"pretrain.total_steps": 2, "finetune.total_steps": 2, "pretrain.log_every": 1,
                 "finetune.log_every": 1, "pretrain.model.bins": "(1,2)", "finetune.model.bins": "(1,2)"}
    done = subprocess.run(
        [sys.executable, "-c", code, "--config=configs/quickstart.py:tiny", f"--workdir={tmp_path}",
         *[f"--config.{k}={v}" for k, v in overrides.items()]],
        cwd=ROOT, env=_ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "input pipeline: numpy back end (TensorFlow does not import" in done.stderr
    for stage in ("pretrain", "finetune"):
        steps = [json.loads(line)["step"] for line in (tmp_path / stage / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 2]
        assert list((tmp_path / stage / "tensorboard").glob("events.out.tfevents.*"))
    results = json.loads((tmp_path / "finetune" / "eval" / "2" / "results.json").read_text())
    assert set(results["conditions"]) == {"NM", "BG", "CL"}
