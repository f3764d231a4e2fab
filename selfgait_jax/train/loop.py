"""``run(config, workdir)``: one training stage, or a chain of stages (pretrain → fine-tune → eval).

Resume order for a stage: the workdir's latest finalized checkpoint (state + data position), else
``init_from`` (a pretraining workdir whose embedding weights initialise the network), else fresh.

The loop never imports ``selfgait_jax.evaluation``: evaluations during and after training come from
the ``evaluation`` argument, which the caller hands in (``main.py`` passes
``selfgait_jax.evaluation.api``): anything with ``PeriodicEvaluator(config, embed_fn, *, source=,
protocol=, mesh=)`` (called with the variables to evaluate) and ``evaluate_trained(config, embed_fn,
variables, step, workdir)``. The loop embeds with ``models.contract.make_embed_fn``; a chain's final
evaluation takes the evaluated stage's variables from memory, not from its checkpoint.
"""

import dataclasses
import logging
import math
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from selfgait_jax import sharding
from selfgait_jax import workdir as workdir_lib
from selfgait_jax.data import batching
from selfgait_jax.errors import ConfigError
from selfgait_jax.models import contract
from selfgait_jax.train import config_checks, experiment, optim, pretexts, steps
from selfgait_jax.train.metrics import TrainLog

_log = logging.getLogger(__name__)


def run(config: ml_collections.ConfigDict, workdir: str, evaluation=None):
    """Runs what the config describes in ``workdir``; returns the last logged metrics (or a dict
    of them per stage for a chain)."""
    if "stages" in config:
        return run_chain(config, workdir, evaluation)
    return train(config, workdir, evaluation)


def run_chain(config: ml_collections.ConfigDict, workdir: str, evaluation=None) -> dict:
    """Runs ``config.stages`` (comma-separated names of sub-configs) in ``workdir/<name>``.

    A stage whose ``init_from`` is "@<name>" starts from that earlier stage's workdir. When
    ``config.evaluate`` names a stage, its trained network (kept in memory) is evaluated at the end,
    the tables written to ``workdir/<name>/eval/<step>/`` (when ``evaluation`` is given).
    """
    results = {}
    stages = config_checks.check_chain(config, workdir, jax.device_count())  # every stage, first
    target = config.evaluate
    if target and target not in stages:  # e.g. --config.stages=pretrain: run only that stage
        _log.info("no evaluation: config.evaluate=%r is not among config.stages=%r", target, config.stages)
        target = ""
    with workdir_lib.WorkdirLock(workdir, jax.process_index()):  # one chain per workdir
        evaluated = None  # the trained stage to evaluate, kept in memory
        for name, stage in stages.items():
            _log.info("chain stage %s → %s", name, os.path.join(workdir, name))
            results[name], trained = _train(stage, os.path.join(workdir, name), evaluation)
            if name == target:
                evaluated = trained
        if target:
            results["evaluation"] = _evaluate(stages[target], os.path.join(workdir, target),
                                              evaluated, evaluation)
    return results


def _evaluate(config, stage_dir: str, trained, evaluation):
    """The chain's final evaluation of a stage, with its trained network still in memory."""
    if evaluation is None:
        _log.warning("evaluation skipped: no evaluation was handed to the loop (selfgait_jax.main "
                     "hands in selfgait_jax.evaluation.api)")
        return None
    state = trained.state
    variables = workdir_lib.embed_subset(trained.embed_model, state.params, state.batch_stats)
    return evaluation.evaluate_trained(config, trained.embed_fn, variables,
                                       int(jax.device_get(state.step)), stage_dir)


def train(config: ml_collections.ConfigDict, workdir: str, evaluation=None) -> dict:
    """Trains one stage to ``config.total_steps``; returns the last logged metrics. ``evaluation``
    (see the module docstring) serves ``config.eval`` and ``config.probe``."""
    return _train(config, workdir, evaluation)[0]


@dataclasses.dataclass(frozen=True)
class Trained:
    """A finished stage: its embedding network, the jitted ``embed_fn`` its evaluations compiled,
    and its final state."""
    embed_model: Any
    embed_fn: Any
    state: Any


def _train(config, workdir: str, evaluation=None) -> tuple[dict, Trained]:
    config_checks.check_config(config, jax.device_count())
    # One writer per workdir: a second run here stops now, naming the first (WorkdirInUseError).
    with workdir_lib.WorkdirLock(workdir, jax.process_index()):
        return _train_locked(config, workdir, evaluation)


def _train_locked(config, workdir: str, evaluation=None) -> tuple[dict, Trained]:
    exp = experiment.build_experiment(config)
    mesh = sharding.data_mesh()
    rng = jax.random.PRNGKey(config.seed)
    ckpts = workdir_lib.Checkpoints(workdir, keep=config.keep_checkpoints)
    try:
        state, next_batch = _initial_state(config, exp, mesh, rng, ckpts)
        step = int(jax.device_get(state.step))
        batches = make_batches(config, start_batch=next_batch)
        accumulate = optim.accumulate(config.optimizer)
        if accumulate > 1:  # one step = one update of `accumulate` micro-batches
            batches = experiment.stack_micro_batches(batches, accumulate)
        _log.info("batch: %d per micro-batch x optimizer.accumulate %d = effective batch %d per "
                  "update; lr %g (optimizer.lr_scaling=%s: x%g)", exp.global_batch, accumulate,
                  optim.effective_batch(config.optimizer, exp.global_batch),
                  float(exp.schedule(step)), config.optimizer.lr_scaling,
                  optim.lr_scale(config.optimizer, exp.global_batch))
        train_step = steps.jit_step(exp.step, mesh)
        embed_fn = contract.make_embed_fn(exp.embed_model)  # one set of compiles for all evaluations
        evaluate = _periodic_evaluation(config, exp, embed_fn, mesh, evaluation)
        probe = _periodic_probe(config, exp, embed_fn, mesh, evaluation)
        record, state = _loop(config, workdir, state, step, next_batch, batches, train_step, mesh,
                              ckpts, evaluate, probe)
        return record, Trained(exp.embed_model, embed_fn, state)
    finally:
        ckpts.wait_until_finished()
        ckpts.close()


def _initial_state(config, exp, mesh, rng, ckpts):
    latest = ckpts.latest_step()
    if latest is not None:
        _log.info("resuming from %s/%d", ckpts.directory, latest)
        abstract = sharding.with_sharding(jax.eval_shape(exp.init_state, rng),
                                          sharding.replicated(mesh))
        return ckpts.restore(latest, abstract)
    state = steps.init_on_mesh(exp.init_state, rng, mesh)
    if config.init_from:
        _log.info("initialising the embedding network from %s", config.init_from)
        _, _, pretrained, _ = workdir_lib.load_for_inference(config.init_from)
        params = workdir_lib.copy_by_name(state.params, pretrained["params"])
        state = jax.device_put(state.replace(params=params), sharding.replicated(mesh))
    return state, 0


def make_batches(config, start_batch: int):
    """The stage's endless iterator of host-local numpy batches, from batch ``start_batch`` on."""
    from selfgait_jax.data import pipelines, sources, splits  # pylint: disable=g-import-not-at-top

    source = sources.open_source(config.data)
    if config.stage == "pretrain":
        # synthgait_pool: all of it; a labelled set: its training split, or with data.pool_ratio > 0
        # an SG-n pool drawn from that split by data.seed.
        data = config.data
        indices = splits.pool_indices(
            data.name, source.metas, pool_ratio=data.pool_ratio,
            pool_base_sequences=data.pool_base_sequences, seed=data.seed, partition=data.partition)
        _log.info("pretraining pool: %d sequences of %d subjects from %s (data.pool_ratio=%g)",
                  len(indices), len({source.metas[i].subject for i in indices}), data.name,
                  data.pool_ratio)
        setting = pretexts.resolve(config)
        if setting.pretext.two_clips:
            return pipelines.make_clip_pair_pipeline(
                source, indices, batch_size=config.byol.batch_size, frames=setting.clip_frames,
                span=setting.clip_span, pairs=setting.pretext.pairs, batch_by=config.byol.batch_by,
                seed=config.seed,
                start_batch=start_batch)
        # Sequences too short for a pretext window are skipped (logged); none left is a ValueError.
        return pipelines.make_pretext_pipeline(
            source, indices, batch_size=config.byol.batch_size, k=config.byol.k, seed=config.seed,
            min_online_frames=config.byol.min_online_frames, batch_by=config.byol.batch_by,
            target=setting.pretext.pairs,
            start_batch=start_batch)
    train_split = splits.protocol_of(config.data, source.metas).train
    indices = splits.label_fraction_subset(source.metas, config.triplet.label_fraction,
                                              config.seed, indices=train_split)
    t = config.triplet
    return pipelines.make_triplet_pipeline(
        source, indices, subjects_per_batch=t.P, sequences_per_subject=t.K, frames=t.frames,
        ordered=t.ordered, seed=config.seed, start_batch=start_batch)


def _needs(evaluation, key: str):
    if evaluation is None:
        raise ConfigError(f"{key}.every", "> 0 needs an evaluator: run through selfgait_jax.main, "
                          "or pass evaluation=selfgait_jax.evaluation.api to train.loop")
    return evaluation


def _periodic_evaluation(config, exp, embed_fn, mesh, evaluation=None):
    """``state -> scalars`` evaluating the test split when ``config.eval.every`` > 0, else None."""
    if not config.eval.every:
        return None
    evaluator = _needs(evaluation, "eval").PeriodicEvaluator(config, embed_fn, mesh=mesh)

    def evaluate(state):
        return evaluator(workdir_lib.embed_subset(exp.embed_model, state.params, state.batch_stats))

    return evaluate


def _periodic_probe(config, exp, embed_fn, mesh, evaluation=None):
    """``state -> scalars``: rank-1 of the current embedding on held-out *training* subjects of a
    labelled dataset (``config.probe``), every ``probe.every`` steps; None when off.

    The standard way to watch a self-supervised representation: it never touches the test subjects,
    so choosing a learning rate or a number of steps on it is legitimate.
    """
    probe = config.probe
    if not probe.every:
        return None
    from selfgait_jax.data import sources, splits  # pylint: disable=g-import-not-at-top

    PeriodicEvaluator = _needs(evaluation, "probe").PeriodicEvaluator  # pylint: disable=invalid-name

    probe_config = config.copy_and_resolve_references()
    probe_config.data = sources.named_data_config(probe.data)
    probe_config.data.root = probe.root
    source = sources.open_source(probe_config.data)
    protocol = splits.validation_protocol(probe_config.data.name, source.metas,
                                             probe.validation_subjects)
    evaluator = PeriodicEvaluator(probe_config, embed_fn, source=source, protocol=protocol,
                                  mesh=mesh)
    evaluator.max_length = int(probe.max_length) or None

    def evaluate(state):
        scalars = evaluator(workdir_lib.embed_subset(exp.embed_model, state.params,
                                                     state.batch_stats))
        return {k.replace("eval/", "probe/"): v for k, v in scalars.items() if k.endswith("rank1")}

    return evaluate


def _loop(config, workdir, state, step, next_batch, batches, train_step, mesh, ckpts,
          evaluate=None, probe=None):
    """Trains from ``step`` to ``config.total_steps``; returns ``(last logged metrics, state)``."""
    total = config.total_steps
    micro_batches = optim.accumulate(config.optimizer)  # pipeline batches consumed per step
    # Every process runs the same loop; only process 0 writes the logs.
    log = TrainLog(workdir, total, step, name=config.name, enabled=jax.process_index() == 0)
    pending = []  # device metrics since the last fetch; fetched only at log / checkpoint steps
    record = {}
    try:
        while step < total:
            batch = batching.to_global(next(batches), mesh)
            state, metrics = train_step(state, batch)
            step += 1
            next_batch += micro_batches
            pending.append(metrics)
            due_log = step % config.log_every == 0 or step == total
            due_ckpt = step % config.checkpoint_every == 0 or step == total
            due_eval = evaluate is not None and step % config.eval.every == 0
            due_probe = probe is not None and (step % config.probe.every == 0 or step == total)
            if not (due_log or due_ckpt or due_eval or due_probe):
                continue
            fetched = jax.device_get(pending)
            pending = []
            _stop_if_not_finite(fetched, step, ckpts)
            if due_log:
                record = log.write(step, _summarise(fetched))
            if due_ckpt:
                ckpts.save(step, state, next_batch, config)
            if due_eval:
                log.write_eval(step, evaluate(state))
            if due_probe:
                log.write_eval(step, probe(state))
    finally:
        log.close()
    return record, state


def _stop_if_not_finite(fetched, step, ckpts):
    first = step - len(fetched) + 1
    for offset, metrics in enumerate(fetched):
        loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            ckpts.wait_until_finished()
            last = ckpts.latest_step()
            kept = (f"the last good checkpoint (step {last}) is kept in {ckpts.directory}"
                    if last is not None else "no checkpoint was written yet")
            raise FloatingPointError(
                f"non-finite loss {loss} (gradient norm {grad_norm}) at step {first + offset}; "
                f"stopping: {kept}")


def _summarise(fetched) -> dict:
    """Mean of each metric over the logging interval (last value for lr / tau)."""
    out = {}
    for key in fetched[-1]:
        if key in steps.SETTING_METRICS:
            out[key] = float(fetched[-1][key])
        else:
            out[key] = float(np.mean([float(m[key]) for m in fetched]))
    return out
