"""The pretexts by name: one table, ``PRETEXTS`` (name → what pair is drawn, what the target branch
is, which loss, which augmentations, where it comes from), selected by ``pretext.name``.

- ``paper``: SelfGait as the paper describes it: the online network sees frames 0..k-1, the target
  network frame k; per-part BYOL loss. Kept bit for bit (the reproduction study's rows).
- ``other_view`` (an extension, not the paper): as ``paper``, but the target frame comes from the
  same walk seen by another camera (camera synchronisation, not identity labels).
- ``authors``: what the authors' released code trains (``trainer.update``): two copies of one
  window, augmented independently (flip drawn per frame); the target branch has no MTB (a max over
  time); their loss, 1 − cos across the parts, summed over both directions
  (``pretext.loss=byol`` puts the paper's per-part loss in its place).
- ``contrastive``: GaitSSB (Fan et al., TPAMI 2023, OpenGait's ``gaitssb.py``) through SelfGait's own
  network: two clips of each sequence, augmented independently, per-part projector and predictor
  (a linear map and BatchNorm per part), per-part InfoNCE against every other sequence of the
  batch, with an EMA target (MoCo-style) instead of GaitSSB's shared encoder. ``pretext.queue_size``
  adds MoCo's queue: the target keys of earlier batches as more negatives
  (``pretext.queue_same_view``: only those of the positive key's camera view).
- ``contrastive_other_view`` (an extension, not GaitSSB): as ``contrastive``, but the two clips show
  one walk from two cameras. Like ``other_view`` it needs a pool recorded by synchronised cameras
  (CASIA-B, OU-MVLP and SynthGait are) and uses that pairing, never identity labels.

docs/design.md describes each one with its source. Options are declared in ``config.pretext``
(``config_defaults``) and checked once by :func:`resolve`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp

from selfgait_jax.data import sampling
from selfgait_jax.errors import ConfigError
from selfgait_jax.train import losses
from selfgait_jax.train.augment import OPS as AUGMENT_OPS
from selfgait_jax.train.augment import Augmentations

LOSSES: dict[str, Callable] = {
    "byol": losses.byol_loss,  # the paper: 2 − 2 cos per part
    "byol_across_parts": losses.byol_loss_across_parts,  # the authors' code
    "info_nce": losses.info_nce_per_part,  # GaitSSB
}

GAITSSB_AUGMENT = Augmentations(affine=0.2, perspective=0.2, flip=0.5, dilate=0.2, blur=0.2)


@dataclasses.dataclass(frozen=True)
class Pretext:
    """One row of the table."""

    name: str
    # What the pipeline draws: pretext windows ("next_frame", "other_view": sampling.PRETEXT_TARGETS)
    # or clip pairs ("two_clips", "two_copies": sampling.CLIP_PAIRS).
    pairs: str
    target: str  # the target branch, models.registry.TARGET_BRANCHES
    loss: str  # default loss, a key of LOSSES
    per_part_heads: bool  # projector / predictor with a linear map and BatchNorm per part
    # The target's FC bins: None follows byol.share_target_fcs (the paper's pretexts), False keeps
    # an EMA copy like every other target weight.
    share_target_fcs: bool | None
    augment: Augmentations  # default augmentations of the clip pairs
    source: str

    @property
    def two_clips(self) -> bool:
        return self.pairs in sampling.CLIP_PAIRS


PRETEXTS = {p.name: p for p in (
    Pretext("paper", "next_frame", "frame", "byol", False, None, Augmentations(),
            "Liu et al., ICASSP 2021, Sec. 2: frames 0..k-1 online, frame k target"),
    Pretext("other_view", "other_view", "frame", "byol", False, None, Augmentations(),
            "this project's extension: the target frame from another camera's view of the walk"),
    Pretext("authors", "two_copies", "clip_max", "byol_across_parts", False, False,
            Augmentations(flip=0.5, flip_per_frame=True),
            "the authors' released SelfGait code, trainer.update (main.py's training)"),
    Pretext("contrastive", "two_clips", "clip_mtb", "info_nce", True, False, GAITSSB_AUGMENT,
            "GaitSSB (Fan et al., TPAMI 2023; OpenGait configs/gaitssb) on SelfGait's network"),
    Pretext("contrastive_other_view", "other_view_clips", "clip_mtb", "info_nce", True, False,
            GAITSSB_AUGMENT, "this project's extension: contrastive, the two clips from two "
            "synchronised cameras' views of one walk"),
)}
PRETEXT_NAMES = tuple(PRETEXTS)


@dataclasses.dataclass(frozen=True)
class Setting:
    """A pretext as a run uses it: the row, with the config's options applied."""

    pretext: Pretext
    loss: str
    augment: Augmentations
    clip_frames: int
    clip_span: int
    scale: float  # InfoNCE: logits are cosines × scale
    label_smoothing: float
    queue_size: int = 0  # InfoNCE: earlier batches' target keys kept as negatives (0: none)
    queue_same_view: bool = False  # ... only those of the positive key's camera view

    @property
    def loss_fn(self) -> Callable:
        """``loss(query, key)``, or with a queue ``loss(query, key, queue, key_views)``: ``queue``
        as ``state.init_queue`` makes it, ``key_views`` int [N] the keys' camera views (with
        ``queue_same_view``, a query's queued negatives are those of its key's view, so that view
        cannot tell its key from them)."""
        if self.queue_size:
            def with_queue(q, k, queue, key_views):
                valid = jnp.arange(self.queue_size) < queue["filled"]
                if self.queue_same_view:
                    valid = valid[None] & (queue["views"][None] == key_views[:, None])  # [N, Q]
                return losses.info_nce_per_part(q, k, self.scale, self.label_smoothing,
                                                queue["keys"], valid)
            return with_queue
        if self.loss == "info_nce":
            return lambda q, k: losses.info_nce_per_part(q, k, self.scale, self.label_smoothing)
        return LOSSES[self.loss]


def resolve(config) -> Setting:
    """The pretraining stage's pretext (``config.pretext``), checked; raises a ConfigError naming
    the key. Augmentation keys left unset (None) take the pretext's own values."""
    cfg = config.pretext
    if cfg.name not in PRETEXTS:
        raise ConfigError("pretext.name", f"{cfg.name!r} is not one of {', '.join(PRETEXT_NAMES)}")
    row = PRETEXTS[cfg.name]
    loss = cfg.loss or row.loss
    if loss not in LOSSES:
        raise ConfigError("pretext.loss", f"{cfg.loss!r} is not one of {', '.join(LOSSES)} "
                          f"(or '' for the pretext's own, {row.loss})")
    overrides = {op: cfg.augment[op] for op in (*AUGMENT_OPS, "flip_per_frame")
                 if cfg.augment[op] is not None}
    if not row.two_clips:
        if loss == "info_nce":
            raise ConfigError("pretext.loss", f"info_nce needs a two-clip pretext, not {row.name}")
        if overrides:
            key = next(iter(overrides))
            raise ConfigError(f"pretext.augment.{key}", f"pretext {row.name} draws no clip pairs "
                              f"(its only augmentation is byol.flip)")
    augment = dataclasses.replace(row.augment, **overrides)
    frames, span = int(cfg.clip_frames), int(cfg.clip_span)
    if not 1 <= frames <= span:
        raise ConfigError("pretext.clip_frames", f"{frames} must be in [1, pretext.clip_span={span}]")
    if float(cfg.scale) <= 0:
        raise ConfigError("pretext.scale", f"{cfg.scale} must be positive")
    if not 0.0 <= float(cfg.label_smoothing) < 1.0:
        raise ConfigError("pretext.label_smoothing", f"{cfg.label_smoothing} must be in [0, 1)")
    queue_size = int(cfg.queue_size)
    if queue_size < 0:
        raise ConfigError("pretext.queue_size", f"{queue_size} must be >= 0 (0: no queue)")
    if queue_size and loss != "info_nce":
        raise ConfigError("pretext.queue_size", f"a queue of negatives needs the info_nce loss, "
                          f"not {loss}")
    same_view = bool(cfg.queue_same_view)
    if same_view and not queue_size:
        raise ConfigError("pretext.queue_same_view", "there is no queue: set pretext.queue_size > 0")
    return Setting(row, loss, augment, frames, span, float(cfg.scale), float(cfg.label_smoothing),
                   queue_size, same_view)


def share_target_fcs(setting: Setting, byol_cfg) -> bool:
    """Whether the target uses the online FC bins (see ``Pretext.share_target_fcs``)."""
    row = setting.pretext
    return bool(byol_cfg.share_target_fcs) if row.share_target_fcs is None else row.share_target_fcs
