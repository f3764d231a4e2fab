"""tools/bench/benchmark.py's cheap parts: argument parsing, configs with the benchmark's shapes, batches.

(The timed runs themselves compile the full-size network; they are run by hand, see
docs/performance.md. Speed is never asserted.)"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "bench" / "benchmark.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("benchmark_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_batch(tool):
    assert tool.parse_batch("2x4") == (2, 4)
    assert tool.parse_batch("8X16") == (8, 16)
    for bad in ("8", "2x", "0x4", "axb"):
        with pytest.raises(SystemExit, match="--batch"):
            tool.parse_batch(bad)


def test_configs_take_the_benchmark_shapes(tool):
    class Args:
        frames, dtype, pretext, queue_size = 12, "bfloat16", "paper", 0

    args = Args()
    args.stage = "pretrain"
    config = tool.make_config(args, 2, 4)
    assert (config.byol.batch_size, config.byol.k, config.model.dtype) == (8, 12, "bfloat16")
    args.pretext = "contrastive"  # a two-clip pretext: clips of --frames, and batches of clip pairs
    config = tool.make_config(args, 2, 4)
    assert (config.pretext.name, config.pretext.clip_frames) == ("contrastive", 12)
    assert set(tool.random_batch("pretrain", 8, 12, 64, 44, two_clips=True)) == {"clip_a", "clip_b", "views"}
    args.queue_size = 64
    assert tool.make_config(args, 2, 4).pretext.queue_size == 64
    args.queue_size = 0
    args.pretext = "paper"
    assert tuple(config.model.channels) == (32, 64, 128)  # the full-size network
    args.stage = "finetune"
    config = tool.make_config(args, 3, 2)
    assert (config.triplet.P, config.triplet.K, config.triplet.frames) == (3, 2, 12)


@pytest.mark.parametrize("stage", ["pretrain", "finetune"])
def test_random_batches_follow_the_data_contract(tool, stage):
    batch = tool.random_batch(stage, 4, 5, 64, 44)
    assert batch["frames"].shape == (4, 5, 64, 44) and batch["frames"].dtype == np.uint8
    assert set(np.unique(batch["frames"])) <= {0, 255}
    assert batch["mask"].all() and batch["mask"].shape == (4, 5)
    if stage == "pretrain":
        assert batch["target_frame"].shape == (4, 64, 44)
    else:
        labels = batch["label"]
        assert labels.dtype == np.int32 and np.all(np.bincount(labels) == 2)  # positives exist


def test_random_sequences_source():
    from selfgait_jax.data.random_sequences import RandomSequences  # what the benchmarks read

    source = RandomSequences([None] * 5, 3, 6, 8, 4, seed=2)
    assert len(source) == 5 and np.all((source.lengths >= 3) & (source.lengths <= 6))
    frames = source.load(1)
    assert frames.shape == (source.lengths[1], 8, 4) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, source.load(1))  # deterministic per sequence


def test_docs_are_appended_only_when_asked(tool):
    assert tool.parse_args(["--out=x.json"]).append_docs is False
    assert tool.parse_args(["--out=x.json", "--append-docs"]).append_docs is True
    with pytest.raises(SystemExit, match="--peer-pytorch"):
        tool.parse_args(["--out=x.json", "--peer-pytorch", "--stage=finetune"])


def test_the_docs_line(tool, tmp_path, monkeypatch):
    monkeypatch.setattr(tool, "BENCHMARKS_MD", tmp_path / "benchmarks.md")
    train = {"stage": "pretrain", "shape": [8, 30, 64, 44], "dtype": "float32", "step_ms_median": 2500.0,
             "seq_per_s": 3.2, "frames_per_s": 96.0, "flops_per_step": None, "achieved_tflops": None,
             "compile_s": 12.0}
    result = {"date": "2026-11-26T10:00:00+00:00", "machine": "x86_64 2 cores, Linux", "device": "cpu: cpu x1",
              "jax_version": "0.10.2", "load_average": [1.0], "load_average_after": [1.5],
              "compiler_options": [], "train_step": train}
    tool.append_line(result, "python tools/bench/benchmark.py --out=OUT.json")
    line = (tmp_path / "benchmarks.md").read_text()
    assert line.startswith("- 2026-11-26 `python tools/bench/benchmark.py --out=OUT.json` (x86_64")
    assert "**2500 ms/step, 3.20 sequences/s**" in line and "not available on this backend" in line
