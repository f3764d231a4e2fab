"""Pool mode in the training loop: BYOL pretraining on a labelled dataset with data.pool_ratio > 0
reads only the seeded pool drawn from its training split, and logs the pool's size."""


import numpy as np

import repo_files
from selfgait_jax.data import sources, splits
from selfgait_jax.data.sequence import CASIA_B_TYPES, SequenceMeta
from selfgait_jax.train import loop

pretrain = repo_files.config("pretrain")


def labelled_source():
    """6 subjects (4 train, 2 test) x 10 types x 2 views; sequence i's pixels all equal i + 1."""
    metas = [SequenceMeta(f"{s:03d}", t, v) for s in range(1, 7) for t in CASIA_B_TYPES for v in ("000", "090")]
    return sources.ArraySource("synthgait_b", metas,
                               [np.full((10, 64, 44), i + 1, np.uint8) for i in range(len(metas))])


def test_pretraining_reads_only_the_pool(monkeypatch, caplog):
    source = labelled_source()
    monkeypatch.setattr(sources, "open_source", lambda data_config: source)
    config = pretrain.get_config("tiny")  # k = 4, batch 8
    config.data.name = "synthgait_b"
    config.data.pool_ratio, config.data.pool_base_sequences, config.data.seed = 0.25, 40, 3
    pool = splits.pool_indices("synthgait_b", source.metas, 0.25, 40, seed=3)
    assert len(pool) == 10
    with caplog.at_level("INFO"):
        batches = loop.make_batches(config, start_batch=0)
        seen = set()
        for _ in range(6):
            batch = next(batches)
            seen |= set(np.unique(batch["frames"]).tolist()) | set(np.unique(batch["target_frame"]).tolist())
    seen.discard(0)  # masked padding slots, if any
    assert seen and {v - 1 for v in seen} <= set(pool.tolist())
    subjects = len({source.metas[i].subject for i in pool})
    assert any(f"pretraining pool: 10 sequences of {subjects} subjects from synthgait_b" in r.getMessage()
               for r in caplog.records)


def test_without_pool_mode_pretraining_reads_the_whole_training_split(monkeypatch, caplog):
    source = labelled_source()
    monkeypatch.setattr(sources, "open_source", lambda data_config: source)
    config = pretrain.get_config("tiny")
    config.data.name, config.data.pool_ratio = "synthgait_b", 0.0
    with caplog.at_level("INFO"):
        next(loop.make_batches(config, start_batch=0))
    assert any("pretraining pool: 80 sequences of 4 subjects from synthgait_b" in r.getMessage()
               for r in caplog.records)
