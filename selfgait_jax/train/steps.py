"""Pure train steps ``step(state, batch) -> (state, metrics)`` and their jit over a device mesh.

Data parallelism is global-view: the step is written for the whole global batch and jitted once
with the batch sharded over the mesh's "data" axis and the state replicated; XLA inserts the
collectives. Consequences, chosen deliberately:

* BatchNorm statistics (BYOL heads) are computed over the GLOBAL batch — the mean over the batch
  axis of a sharded array is a global mean. This is what BYOL does (cross-replica BN) and it makes
  the result independent of the device count.
* Triplet mining (batch-all) runs over the GLOBAL batch: a P×K batch is split over devices without
  regard to subjects, so per-device mining would lose most positive pairs; embeddings are small
  ([B, parts, d]), so gathering them costs little next to the convolutions.
* Losses and gradients are global means, so no pmean is needed and 1 device and N devices compute
  the same update (up to float reassociation).
"""

import jax
import jax.numpy as jnp
import optax

from selfgait_jax import sharding
from selfgait_jax.models import xla_cpu
from selfgait_jax.models.contract import frames_to_float
from selfgait_jax.train import augment, losses, pretexts
from selfgait_jax.train.state import TrainState, ema_tau, ema_update, enqueue

# Metrics that describe the step's setting rather than its result (the lr, BYOL's EMA rate τ): an
# accumulated update and a logging interval report their last value, not a mean.
SETTING_METRICS = ("lr", "tau")


def _random_flips(rng, frames, target_frame):
    """Each sequence's online window and its target frame mirrored left-right, each with probability
    1/2 and independently (the authors' code's augmentation): a walker seen from view θ mirrors
    its view 180° − θ, so the pair asks for some invariance to the walking direction."""
    online_flip, target_flip = jax.random.bernoulli(rng, 0.5, (2, frames.shape[0]))
    frames = jnp.where(online_flip[:, None, None, None], frames[..., ::-1], frames)
    target_frame = jnp.where(target_flip[:, None, None], target_frame[..., ::-1], target_frame)
    return frames, target_frame


def make_pretrain_step(online, target, tx: optax.GradientTransformation, schedule, byol_cfg,
                       total_steps: int):
    """BYOL step on pretext batches
    ``{"frames": uint8 [B, k, H, W], "mask": bool [B, k], "target_frame": uint8 [B, H, W]}``.

    The online network sees the frames where ``mask`` is True (a short sequence's window has fewer
    than k; the padding slots are masked out), the target sees the frame after them; gradients are
    taken w.r.t. the online params only; the target is then updated as an EMA with τ from
    ``state.step``.
    """
    share_fcs = bool(byol_cfg.share_target_fcs)
    flip = bool(byol_cfg.flip)
    update = _online_update_and_ema(tx, schedule, byol_cfg, total_steps, share_fcs)

    def step(state: TrainState, batch):
        rng = jax.random.fold_in(state.rng, state.step)
        frames = frames_to_float(batch["frames"])
        mask = batch["mask"]
        target_frame = frames_to_float(batch["target_frame"])
        if flip:
            frames, target_frame = _random_flips(jax.random.fold_in(rng, 2), frames, target_frame)

        target_proj, target_updates = _target_projection(target, state, share_fcs, rng, target_frame)

        def loss_fn(params):
            out, updates = online.apply(
                {"params": params, "batch_stats": state.batch_stats}, frames, mask, train=True,
                mutable=["batch_stats"], rngs={"dropout": jax.random.fold_in(rng, 0)})
            return losses.byol_loss(out["prediction"], target_proj), (updates, out["projection"])

        return update(state, loss_fn, target_updates)

    return step


def make_clip_pair_step(online, target, tx: optax.GradientTransformation, schedule, setting,
                        byol_cfg, total_steps: int):
    """Step of the two-clip pretexts (``pretexts.Setting``) on batches
    ``{"clip_a", "clip_b": uint8 [B, T, H, W], "views": int32 [B, 2]}``, two clips of the same B
    sequences (of one walk for ``other_view_clips``) and the two clips' camera views (the queue's).

    Both clips are augmented independently (``augment.augment_clips``) and go through the online
    and the target network as one batch of 2B (BatchNorm statistics over both clips). The loss is
    taken both ways, online(a) against target(b) and online(b) against target(a), and summed as in
    BYOL: each clip's key is the target of the *other* clip of its sequence, and for InfoNCE the
    negatives of a query are the other B − 1 sequences' keys of that direction, and with
    ``pretext.queue_size`` the queue's keys (both clips' target keys of earlier batches; this batch's
    are enqueued after the loss). Gradients flow to the online parameters only; the target is then an
    EMA of them with τ from ``state.step``.
    """
    share_fcs = pretexts.share_target_fcs(setting, byol_cfg)
    loss_of = setting.loss_fn
    aug = setting.augment
    queued = setting.queue_size > 0
    update = _online_update_and_ema(tx, schedule, byol_cfg, total_steps, share_fcs)

    def step(state: TrainState, batch):
        rng = jax.random.fold_in(state.rng, state.step)
        b = batch["clip_a"].shape[0]
        clips = frames_to_float(jnp.concatenate([batch["clip_a"], batch["clip_b"]]))
        if aug.enabled:
            clips = augment.augment_clips(jax.random.fold_in(rng, 2), clips, aug)
        mask = jnp.ones(clips.shape[:2], bool)

        target_proj, target_updates = _target_projection(target, state, share_fcs, rng, clips, mask)

        def loss_fn(params):
            out, updates = online.apply(
                {"params": params, "batch_stats": state.batch_stats}, clips, mask, train=True,
                mutable=["batch_stats"], rngs={"dropout": jax.random.fold_in(rng, 0)})
            pred = out["prediction"]
            if not queued:
                return loss_of(pred[:b], target_proj[b:]) + loss_of(pred[b:], target_proj[:b]), \
                    (updates, out["projection"])
            # each direction's queued negatives as seen by its keys' views
            view_a, view_b = batch["views"][:, 0], batch["views"][:, 1]
            loss = (loss_of(pred[:b], target_proj[b:], state.queue, view_b)
                    + loss_of(pred[b:], target_proj[:b], state.queue, view_a))
            return loss, (updates, out["projection"])

        new_state, metrics = update(state, loss_fn, target_updates)
        if queued:  # this batch's keys become the next batches' negatives
            views = jnp.concatenate([batch["views"][:, 0], batch["views"][:, 1]])
            new_state = new_state.replace(queue=enqueue(state.queue, target_proj, views))
        return new_state, metrics

    return step


def _target_projection(target, state: TrainState, share_fcs: bool, rng, *inputs):
    """The target network's projection of ``inputs`` (gradient stopped) and its BatchNorm updates;
    with ``share_fcs`` its FC bins are the online ones."""
    target_params = dict(state.target_params)
    if share_fcs:
        target_params["fc_bins"] = state.params["fc_bins"]
    target_proj, target_updates = target.apply(
        {"params": target_params, "batch_stats": state.target_batch_stats}, *inputs,
        train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.fold_in(rng, 1)})
    return jax.lax.stop_gradient(target_proj), target_updates


def _online_update_and_ema(tx, schedule, byol_cfg, total_steps: int, share_fcs: bool):
    """``update(state, loss_fn, target_updates) -> (state, metrics)``, what every pretext step ends
    with: the gradient of ``loss_fn(params) -> (loss, (batch-stat updates, projection))`` w.r.t. the
    online parameters, one optimiser step, the target's EMA with τ from ``state.step``, and the
    metrics (``projection_std`` is the collapse monitor)."""

    def update(state: TrainState, loss_fn, target_updates):
        (loss, (updates, projection)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, param_updates)
        tau = ema_tau(state.step, byol_cfg.tau, byol_cfg.tau_schedule, total_steps)
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            target_params=ema_update(state.target_params, params, tau, share_fcs),
            batch_stats=updates.get("batch_stats", state.batch_stats),
            target_batch_stats=target_updates.get("batch_stats", state.target_batch_stats),
            opt_state=opt_state)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads),
                   "lr": schedule(state.step), "tau": tau,
                   "projection_std": losses.normalized_std(projection)}
        return new_state, metrics

    return update


def make_triplet_step(model, tx: optax.GradientTransformation, schedule, margin: float):
    """Batch-all triplet step on P×K batches. Its metrics: ``loss`` (the mean over all valid
    triplets), ``nonzero_fraction``, ``loss_nonzero_mean`` (BA+, the loss optimised),
    ``mean_distance``, ``grad_norm``, ``lr``.

    Batches: ``{"frames": uint8 [B, T, H, W], "mask": bool [B, T], "label": int32 [B]}``.
    """

    def step(state: TrainState, batch):
        rng = jax.random.fold_in(state.rng, state.step)
        frames = frames_to_float(batch["frames"])

        def loss_fn(params):
            embedding, updates = model.apply(
                {"params": params, "batch_stats": state.batch_stats}, frames, batch["mask"],
                train=True, mutable=["batch_stats"], rngs={"dropout": rng})
            loss, aux = losses.batch_all_triplet_loss(embedding, batch["label"], margin)
            return loss, (aux, updates)

        (loss, (aux, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
        new_state = state.replace(
            step=state.step + 1,
            params=optax.apply_updates(state.params, param_updates),
            batch_stats=updates.get("batch_stats", state.batch_stats),
            opt_state=opt_state)
        # "loss" is what a reader takes for learning: the mean over all valid triplets, which falls
        # as the embedding learns. The loss optimised (BA+, the mean over the non-zero triplets;
        # the same gradient direction per part) stays near the margin: "loss_nonzero_mean".
        metrics = {"loss": aux["mean_over_all"], "nonzero_fraction": aux["nonzero_fraction"],
                   "loss_nonzero_mean": loss, "mean_distance": aux["mean_distance"],
                   "grad_norm": optax.tree.norm(grads), "lr": schedule(state.step)}
        return new_state, metrics

    return step


def init_on_mesh(init_fn, rng, mesh):
    """Runs ``init_fn(rng)`` jitted (eager flax init is slow) with the state replicated on ``mesh``."""
    return jax.jit(init_fn, out_shardings=sharding.replicated(mesh))(rng)


def jit_step(step_fn, mesh):
    """Jit once: state replicated and donated, batch sharded over "data", metrics replicated,
    compiled with ``xla_cpu.compiler_options`` for the mesh's platform."""
    return jax.jit(
        step_fn,
        in_shardings=(sharding.replicated(mesh), sharding.rows(mesh)),
        out_shardings=(sharding.replicated(mesh), sharding.replicated(mesh)),
        donate_argnums=0,
        compiler_options=xla_cpu.compiler_options(mesh.devices.flat[0].platform))
