"""Time the training step, the input pipeline and evaluation on this machine.

    python3 tools/bench/benchmark.py --out=FILE.json [--stage=pretrain|finetune] [--batch=PxK] [--frames=30]
        [--height=64] [--width=44] [--steps=N] [--dtype=float32|bfloat16] [--skip-input] [--skip-eval]
        [--peer-pytorch] [--compiler-option=KEY=VALUE ...] [--eval-sequences=N] [--eval-max-frames=N]
        [--append-docs]

- train step: the training code's own jitted step (train/experiment.py: full-size SelfGait, Adam,
  BYOL EMA for pretrain / batch-all triplet for finetune) on a device-resident random batch of
  P·K sequences; median of N steps after the compile. FLOPs from XLA's cost analysis of the step
  (see ``flops_per_step`` below).
- input pipeline (only where TensorFlow imports): the tf.data triplet pipeline alone, P×K batches
  from random binary sequences of CASIA-B lengths held in memory.
- eval: embedding with the step's embedding network + the cross-view protocol (distances, rank-1/5,
  mAP) on a SynthGait-B-sized test split (50 subjects × 10 types × 11 views = 5,500 sequences of
  50-120 random frames). ``--eval-sequences`` embeds only that many of them (the full model on CPU
  needs ~1 h for all 5,500); ``embed_s_all`` then extrapolates by frame count. Ranking always runs
  on 5,500 embeddings.
- ``--peer-pytorch``: tools/bench/peer_pytorch.py's plain PyTorch step (needs torch), run alternately with
  the JAX step so that both see the same machine load; reports the JAX speed-up.

The step part needs only JAX (GPU machines without TensorFlow). Writes the JSON (--out) and, only
with ``--append-docs``, appends one line to docs/benchmarks.md; the 1-minute load average is
recorded because other work on the machine skews timings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

from selfgait_jax.data import splits  # (numpy only)
from selfgait_jax.data.random_sequences import RandomSequences
from selfgait_jax.data.sequence import CASIA_B_TYPES, CASIA_B_VIEWS, SequenceMeta
import selfgait_jax
from selfgait_jax import config_defaults, sharding
from selfgait_jax.train import experiment, pretexts, steps as steps_lib
from selfgait_jax.workdir import init_embed_variables

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS_MD = REPO / "docs" / "benchmarks.md"
PEER_PAUSE_S = 0.5  # idle time before each interleaved step (--peer-pytorch)


def parse_batch(text: str) -> tuple[int, int]:
    try:
        p, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--batch={text!r}: expected PxK, e.g. 2x4") from None
    if p < 1 or k < 1:
        raise SystemExit(f"--batch={text!r}: P and K must be positive")
    return p, k


def make_config(args, p: int, k: int):
    """The stage's full-size training config (configs/pretrain.py's or configs/finetune.py's) with the
    benchmark's shapes."""
    recipe = config_defaults.pretrain_config if args.stage == "pretrain" else config_defaults.finetune_config
    config = recipe("full")
    config.model.dtype = args.dtype
    if args.stage == "pretrain":
        config.byol.batch_size, config.byol.k = p * k, args.frames
        config.pretext.name = args.pretext
        config.pretext.clip_frames = config.pretext.clip_span = args.frames  # two-clip pretexts
        config.pretext.queue_size = args.queue_size
    else:
        config.triplet.P, config.triplet.K, config.triplet.frames = p, k, args.frames
    return config


def random_batch(stage: str, batch: int, frames: int, height: int, width: int, seed: int = 0,
                 two_clips: bool = False):
    """A random batch of the step's shapes; ``two_clips``: the clip pairs of the two-clip pretexts."""
    rng = np.random.default_rng(seed)

    def silhouettes(*shape):
        return np.where(rng.random(shape) < 0.3, 255, 0).astype(np.uint8)

    if stage == "pretrain" and two_clips:
        return {"clip_a": silhouettes(batch, frames, height, width),
                "clip_b": silhouettes(batch, frames, height, width),
                "views": np.zeros((batch, 2), np.int32)}
    if stage == "pretrain":
        return {"frames": silhouettes(batch, frames, height, width),
                "mask": np.ones((batch, frames), bool),
                "target_frame": silhouettes(batch, height, width)}
    return {"frames": silhouettes(batch, frames, height, width),
            "mask": np.ones((batch, frames), bool),
            "label": np.repeat(np.arange(batch // 2, dtype=np.int32), 2)[:batch]}


def compiler_options(pairs) -> dict:
    """``["KEY=VALUE", ...]`` -> XLA compile options for the step (e.g.
    ``xla_cpu_experimental_ynn_fusion_type=``: XLA:CPU without YNNPACK, docs/performance.md)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--compiler-option={pair!r}: expected KEY=VALUE")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    return options


def _flops(cost) -> float | None:
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"]) if cost and "flops" in cost else None


def time_train_step(args, config, mesh):
    """Median step time on a device-resident batch, after compiling; XLA's FLOP count."""
    exp = experiment.build_experiment(config)
    batch_size = exp.global_batch
    start = time.perf_counter()
    state = steps_lib.init_on_mesh(exp.init_state, jax.random.PRNGKey(0), mesh)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - start
    two_clips = args.stage == "pretrain" and pretexts.PRETEXTS[args.pretext].two_clips
    host_batch = random_batch(args.stage, batch_size, args.frames, args.height, args.width, two_clips=two_clips)
    batch = jax.device_put(host_batch, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data")))
    jitted = steps_lib.jit_step(exp.step, mesh)

    # XLA's cost analysis of the step written with XLA's own convolutions (model.conv_formulation
    # "lax"): the CPU formulation's weight gradient is a loop, whose body the analysis would count once.
    reference_config = config.copy_and_resolve_references()
    reference_config.model.conv_formulation = "lax"
    reference = steps_lib.jit_step(experiment.build_experiment(reference_config).step, mesh)
    flops = _flops(reference.lower(state, batch).cost_analysis())
    start = time.perf_counter()
    compiled = jitted.lower(state, batch).compile(compiler_options(args.compiler_option))
    compile_s = time.perf_counter() - start
    flops_compiled = _flops(compiled.cost_analysis())

    state, metrics = compiled(state, batch)  # first call: allocations, thread pools
    jax.block_until_ready(metrics)
    peer_step, peer_times = None, []
    if args.peer_pytorch:  # interleaved with the JAX step: both see the same machine load
        import peer_pytorch  # beside this script, on sys.path when it runs

        peer_step = peer_pytorch.build_step(batch_size, args.frames)
        peer_pytorch.time_steps(peer_step, steps=0)
    times = []
    for _ in range(args.steps):
        if peer_step is not None:
            # Let the other framework's worker threads go idle (they spin for a while after a
            # step) so that neither step starts on a machine the other is still using.
            time.sleep(PEER_PAUSE_S)
        start = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
        if peer_step is not None:
            time.sleep(PEER_PAUSE_S)
            peer_times.extend(peer_pytorch.time_steps(peer_step, steps=1, warmup=0))
    if not np.isfinite(float(metrics["loss"])):
        raise SystemExit(f"benchmark: the {args.stage} step gave a non-finite loss")
    step_s = statistics.median(times)
    return state, exp, {
        "stage": args.stage,
        "shape": [batch_size, args.frames, args.height, args.width],
        "dtype": args.dtype,
        "steps": args.steps,
        "step_ms_median": round(step_s * 1e3, 1),
        "step_ms_all": [round(t * 1e3, 1) for t in times],
        "seq_per_s": round(batch_size / step_s, 3),
        "frames_per_s": round(batch_size * args.frames / step_s, 1),
        "flops_per_step": flops,
        "flops_per_step_compiled": flops_compiled,
        "achieved_tflops": round(flops / step_s / 1e12, 4) if flops else None,
        "paper_80k_steps_h": round(80_000 * step_s / 3600, 1),  # the paper's CASIA-B schedule
        "compile_s": round(compile_s, 1),
        "init_s": round(init_s, 1),
    }, _peer_result(peer_times, batch_size, step_s)


def _peer_result(times, batch_size, jax_step_s):
    if not times:
        return None
    import torch

    step_s = statistics.median(times)
    return {"what": "tools/bench/peer_pytorch.py, interleaved step by step with the JAX step",
            "torch_version": torch.__version__, "step_ms_median": round(step_s * 1e3, 1),
            "step_ms_all": [round(t * 1e3, 1) for t in times],
            "seq_per_s": round(batch_size / step_s, 3),
            "jax_speedup": round(step_s / jax_step_s, 3)}


def time_input_pipeline(args, p: int, k: int, batches: int = 20):
    """Sequences/s of the tf.data triplet pipeline alone; None where TensorFlow does not import."""
    try:
        from selfgait_jax.data import pipelines
    except ImportError as e:  # GPU machines without TensorFlow
        return {"seq_per_s": None, "skipped": f"no TensorFlow ({e})"}
    metas = [SequenceMeta(f"{s:03d}", t, "090") for s in range(40) for t in CASIA_B_TYPES[:6]]
    source = RandomSequences(metas, 50, 120, args.height, args.width)
    indices = np.arange(len(source))
    store = pipelines.FrameStore.load(source, indices, progress=False)
    it = pipelines.make_triplet_pipeline(
        source, indices, subjects_per_batch=p, sequences_per_subject=k, frames=args.frames,
        ordered=True, store=store, process_index=0, process_count=1, device_count=1)
    for _ in range(3):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    elapsed = time.perf_counter() - start
    return {"seq_per_s": round(batches * p * k / elapsed, 1), "batch": [p, k, args.frames],
            "source_sequences": len(source)}


def time_eval(args, exp, config, state, mesh):
    """Embedding (a subset, extrapolated) and ranking (all 5,500) of a SynthGait-B-sized test split."""
    from selfgait_jax.evaluation import embed as embed_lib, ranking
    from selfgait_jax.models import contract

    metas = [SequenceMeta(f"{s:03d}", t, v) for s in range(75, 125) for t in CASIA_B_TYPES
             for v in CASIA_B_VIEWS]
    source = RandomSequences(metas, 50, 120, args.height, args.width, seed=1)
    split = splits.protocol_for("synthgait_b", metas)
    embed_model = exp.embed_model
    abstract = jax.eval_shape(lambda: init_embed_variables(embed_model))
    variables = {"params": {key: state.params[key] for key in abstract["params"]}}
    embed_fn = contract.make_embed_fn(embed_model)
    count = min(args.eval_sequences, len(source))
    subset = np.linspace(0, len(source) - 1, count).round().astype(np.int64)
    # Warm-up: compile every bucket length the timed call will use, on one sequence per bucket.
    buckets = {}
    for i in subset:
        buckets.setdefault(int(np.ceil(np.log2(max(source.lengths[i], 16)))), int(i))
    embed_lib.embed_source(embed_fn, variables, source, indices=sorted(buckets.values()),
                           max_length=args.eval_max_frames or None, mesh=mesh)
    start = time.perf_counter()
    embeddings = embed_lib.embed_source(embed_fn, variables, source, indices=subset,
                                        max_length=args.eval_max_frames or None, mesh=mesh)
    embed_s = time.perf_counter() - start
    cap = args.eval_max_frames or np.inf
    embedded_frames = int(np.minimum(source.lengths[subset], cap).sum())
    all_frames = int(np.minimum(source.lengths, cap).sum())

    # Ranking cost does not depend on the values: tile the computed embeddings to all sequences.
    full = embeddings[np.arange(len(source)) % len(subset)]
    full = full + np.random.default_rng(0).normal(0, 1e-3, full.shape).astype(np.float32)
    kwargs = dict(metric="euclidean", mesh=mesh)
    subjects, views = [m.subject for m in metas], [m.view for m in metas]
    ranking.evaluate_embeddings(full[:1100], subjects[:1100], views[:1100],  # compile
                                     [i for i in split.gallery if i < 1100],
                                     {c: [i for i in v if i < 1100] for c, v in split.probes.items()},
                                     **kwargs)
    start = time.perf_counter()
    ranking.evaluate_embeddings(full, subjects, views, split.gallery, split.probes, **kwargs)
    rank_s = time.perf_counter() - start
    return {"sequences": len(source), "embedded_sequences": int(count),
            "embedded_frames": embedded_frames, "all_frames": all_frames,
            "max_frames": args.eval_max_frames or None,
            "embed_s": round(embed_s, 2),
            "embed_s_all": round(embed_s * all_frames / max(embedded_frames, 1), 1),
            "rank_s": round(rank_s, 2)}


def append_line(result: dict, command: str) -> None:
    r, t = result, result["train_step"]
    line = (f"- {r['date'][:10]} `{command}` ({r['machine']}, {r['device']}, jax {r['jax_version']}, "
            f"load average {r['load_average'][0]}→{r['load_average_after'][0]}"
            f"{', compiler options ' + ' '.join(r['compiler_options']) if r['compiler_options'] else ''}"
            f"): {t['stage']} step "
            f"{'x'.join(map(str, t['shape']))} {t['dtype']}: **{t['step_ms_median']:.0f} ms/step, "
            f"{t['seq_per_s']:.2f} sequences/s**, {t['frames_per_s']:.0f} frames/s, "
            + (f"XLA flops/step {t['flops_per_step']:.3g} → {t['achieved_tflops']} TFLOP/s "
               if t['flops_per_step'] else "XLA's reference flops/step not available on this "
               "backend (its compiled count leaves out library convolutions) ") +
            f"(compile {t['compile_s']} s)")
    peer = r.get("peer_pytorch")
    if peer:
        line += (f"; PyTorch {peer['torch_version']} peer interleaved: {peer['step_ms_median']:.0f} "
                 f"ms/step ({peer['seq_per_s']:.2f} sequences/s), **JAX {peer['jax_speedup']:.2f}x**")
    inp = r.get("input_pipeline") or {}
    if inp.get("seq_per_s"):
        line += (f"; triplet pipeline {inp['seq_per_s']:.0f} sequences/s "
                 f"({inp['seq_per_s'] / t['seq_per_s']:.0f}x the step)")
    ev = r.get("eval")
    if ev:
        line += (f"; eval of {ev['sequences']} sequences: embedding {ev['embed_s']} s for "
                 f"{ev['embedded_sequences']} ({ev['embedded_frames']} frames; all "
                 f"{ev['all_frames']} frames ≈ {ev['embed_s_all']} s), ranking {ev['rank_s']} s")
    with BENCHMARKS_MD.open("a") as f:
        f.write(line + "\n")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--stage", default="pretrain", choices=("pretrain", "finetune"),
                        help="the step to time (default: %(default)s)")
    parser.add_argument("--pretext", default="paper", choices=pretexts.PRETEXT_NAMES,
                        help="with --stage=pretrain: the pretext whose step is timed, with its own "
                             "augmentations (default: %(default)s)")
    parser.add_argument("--queue-size", type=int, default=0,
                        help="with a contrastive pretext: its queue of negatives (pretext.queue_size; "
                             "default: %(default)s, none)")
    parser.add_argument("--batch", default="2x4", help="PxK: P·K sequences per step (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence (default: %(default)s)")
    parser.add_argument("--height", type=int, default=64, help="frame height (default: %(default)s)")
    parser.add_argument("--width", type=int, default=44, help="frame width (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median; default: %(default)s)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                        help="compute dtype (default: %(default)s)")
    parser.add_argument("--skip-input", action="store_true", help="do not time the input pipeline")
    parser.add_argument("--skip-eval", action="store_true", help="do not time the evaluation's embedding")
    parser.add_argument("--compiler-option", action="append", default=[], metavar="KEY=VALUE",
                        help="XLA option for compiling the step (repeatable; default: none)")
    parser.add_argument("--peer-pytorch", action="store_true",
                        help="interleave tools/bench/peer_pytorch.py's step (needs torch; pretrain only)")
    parser.add_argument("--eval-sequences", type=int, default=5500,
                        help="how many of the 5,500 test sequences to embed (time extrapolated; "
                             "default: %(default)s)")
    parser.add_argument("--eval-max-frames", type=int, default=0,
                        help="embed only the first N frames of each sequence (0: all; default: %(default)s)")
    parser.add_argument("--append-docs", action="store_true",
                        help="also append the result's line to docs/benchmarks.md (a tracked file)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise SystemExit("--steps must be at least 1")
    if args.peer_pytorch and (args.stage != "pretrain" or args.pretext != "paper"):
        raise SystemExit("--peer-pytorch: the PyTorch peer is the paper's pretraining step; use "
                         "--stage=pretrain --pretext=paper")
    return args


def main(argv=None):
    args = parse_args(argv)
    p, k = parse_batch(args.batch)

    selfgait_jax.configure_jax()
    load_before = [round(v, 2) for v in os.getloadavg()]
    mesh = sharding.data_mesh()
    config = make_config(args, p, k)
    state, exp, train, peer = time_train_step(args, config, mesh)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind} x{jax.device_count()}",
        "jax_version": jax.__version__,
        "conv_formulation": config.model.conv_formulation,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "compiler_options": args.compiler_option,
        "load_average": load_before,
        "train_step": train,
        "peer_pytorch": peer,
        "input_pipeline": None if args.skip_input else time_input_pipeline(args, p, k),
        "eval": None if args.skip_eval else time_eval(args, exp, config, state, mesh),
    }
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    Path(args.out).write_text(text + "\n")
    if args.append_docs:
        shown = ["--out=OUT.json" if a.startswith("--out") else a
                 for a in (argv or sys.argv[1:]) if a != "--append-docs"]
        append_line(result, "python3 tools/bench/benchmark.py " + " ".join(shown))  # no machine paths


if __name__ == "__main__":
    main()
