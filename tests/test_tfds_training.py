"""Training and evaluation from prepared TFDS records (data.tfds_dir): the same batches as from the
generated data, each process reading only the records it loads, and a whole tiny run."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import repo_files
from selfgait_jax.data import inference, sources

tfds_builders = pytest.importorskip("selfgait_jax.data.tfds_builders")

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """The quickstart:tiny chain's two datasets (synthgait_pool:tiny, synthgait_b:tiny), prepared."""
    path = tmp_path_factory.mktemp("tensorflow_datasets")
    assert repo_files.tool("prepare_tfds").main(
        ["--config=configs/quickstart.py:tiny", f"--tfds_dir={path}"]) == 0
    return path


def stage_configs():
    """The chain's stages, and pretraining in pool mode on synthgait_b (half its training split)."""
    chain = repo_files.config("quickstart").get_config("tiny")
    pool_mode = chain.pretrain.copy_and_resolve_references()
    pool_mode.data = chain.finetune.data.copy_and_resolve_references()
    pool_mode.data.pool_ratio = 0.5
    return {"pretrain": chain.pretrain, "finetune": chain.finetune, "pool_mode": pool_mode}


@pytest.mark.parametrize("stage", ["pretrain", "finetune", "pool_mode"])
def test_training_batches_are_byte_identical_from_tfds(tfds_dir, stage):
    from selfgait_jax.train import loop

    config = stage_configs()[stage]
    from_records = config.copy_and_resolve_references()
    from_records.data.tfds_dir = str(tfds_dir)
    start = 5  # a resumed run's batches too
    generated = loop.make_batches(config, start)
    read_back = loop.make_batches(from_records, start)
    for _ in range(3):
        expected, batch = next(generated), next(read_back)
        assert batch.keys() == expected.keys()
        for key in expected:
            assert batch[key].dtype == expected[key].dtype
            np.testing.assert_array_equal(batch[key], expected[key], err_msg=f"{stage} {key}")


class CountingSource:
    """Wraps a source and records which sequences were loaded."""

    def __init__(self, source):
        self.source, self.loaded = source, []
        self.name, self.metas, self.lengths = source.name, source.metas, source.lengths

    def __len__(self):
        return len(self.metas)

    def load(self, i):
        self.loaded.append(i)
        return self.source.load(i)


def test_each_process_reads_only_the_records_of_its_rows(tfds_dir):
    """Embedding for evaluation: process p of 2 loads only the sequences of its rows, and the two
    together load every sequence once (the lengths come from the records' index, not a reading pass)."""
    data = sources.data_config("synthgait_b", "tiny")
    data.tfds_dir = str(tfds_dir)
    loaded = []
    for process_index in (0, 1):
        source = CountingSource(sources.open_source(data))
        for _ in inference.inference_batches(source, 8, process_index=process_index, process_count=2,
                                             device_count=2):
            pass
        loaded.append(source.loaded)
    assert 0 < len(loaded[0]) < len(source) and 0 < len(loaded[1]) < len(source)
    assert sorted(loaded[0] + loaded[1]) == list(range(len(source)))


@pytest.mark.slow  # a training subprocess: ~45 s on 2 CPU cores
def test_a_tiny_chain_trains_and_evaluates_from_tfds_alone(tfds_dir, tmp_path):
    """quickstart:tiny with data.tfds_dir on both stages: it trains and evaluates without generating
    anything (an empty SynthGait cache stays empty)."""
    empty_cache = tmp_path / "synthgait_cache"
    empty_cache.mkdir()
    overrides = {"pretrain.total_steps": 2, "finetune.total_steps": 2, "pretrain.log_every": 1,
                 "finetune.log_every": 1, "pretrain.data.tfds_dir": tfds_dir,
                 "finetune.data.tfds_dir": tfds_dir}
    done = subprocess.run(
        [sys.executable, "-m", "selfgait_jax.main", "--config=configs/quickstart.py:tiny",
         f"--workdir={tmp_path / 'run'}", *[f"--config.{k}={v}" for k, v in overrides.items()]],
        cwd=ROOT, env=dict(os.environ, SELFGAIT_DATA_DIR=str(empty_cache)), capture_output=True,
        text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "run" / "finetune" / "eval" / "2" / "results.json").read_text())
    assert results["dataset"] == "synthgait_b"
    assert not any(empty_cache.iterdir())
