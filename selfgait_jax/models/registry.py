"""The networks by name: one table, ``MODELS`` (name → ``Model``: its builders and defaults), the
model configs built from it, and the builders the rest of the code uses.

Names: ``selfgait``, ``selfgait_no_hpm`` (the same conv stack with global pooling, bins (1,), instead
of the pyramid; docs/models.md says why), ``selfgait_no_mtb`` (plain temporal conv net instead of the MTB), ``gaitset``,
``gaitpart``. Sizes: ``full`` (paper / official widths) and ``tiny`` (small widths for tests and CPU
smoke runs; same layers, same 64×44 input).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
import ml_collections

from selfgait_jax.config_names import SIZES
from selfgait_jax.models import gaitpart
from selfgait_jax.models import gaitset
from selfgait_jax.models import hpm
from selfgait_jax.models import selfgait

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _selfgait_kwargs(cfg):
    return dict(
        channels=tuple(cfg.channels), d1=cfg.d1, d2=cfg.d2, head_hidden=cfg.head_hidden,
        bins=tuple(cfg.bins), use_part_fcs=bool(cfg.part_fcs), temporal=MODELS[cfg.name].temporal,
        mtb_bias=bool(cfg.mtb_bias), mtb_activation=cfg.mtb_activation,
        mtb_squeeze=cfg.mtb_squeeze, dtype=_dtype(cfg), head_bn_per_part=bool(cfg.head_bn_per_part),
        conv_formulation=cfg.conv_formulation)


def _selfgait_embed(cfg):
    return selfgait.SelfGaitEmbed(**_selfgait_kwargs(cfg))


# The target branches a pretext can ask for (train/pretexts.py): one frame (the paper's), or a clip
# through the MTB (MoCo-style) or through a max over time (the authors' released code).
TARGET_BRANCHES = ("frame", "clip_mtb", "clip_max")


def _selfgait_byol(cfg, target: str, per_part_heads: bool):
    kwargs = _selfgait_kwargs(cfg)
    if per_part_heads:
        kwargs.update(head_bn_per_part=True, head_part_fcs=True)
    if target == "frame":
        return selfgait.SelfGaitOnline(**kwargs), selfgait.SelfGaitTarget(**kwargs)
    if target in ("clip_mtb", "clip_max"):
        clip_temporal = target.removeprefix("clip_")
        return selfgait.SelfGaitOnline(**kwargs), selfgait.SelfGaitClipTarget(**kwargs, clip_temporal=clip_temporal)
    raise ValueError(f"target branch {target!r}: expected one of {TARGET_BRANCHES}")


def _gaitset(cfg):
    return gaitset.GaitSet(tuple(cfg.channels), cfg.d1, tuple(cfg.bins), _dtype(cfg),
                           cfg.conv_formulation)


def _gaitpart(cfg):
    return gaitpart.GaitPart(tuple(cfg.channels), cfg.d1, tuple(cfg.bins), tuple(cfg.focal_strips),
                             bool(cfg.mtb_bias), cfg.mtb_activation, cfg.mtb_squeeze, _dtype(cfg),
                             cfg.conv_formulation)


@dataclasses.dataclass(frozen=True)
class Model:
    """One network of the table: its builders and the defaults that differ between networks."""

    name: str
    embed: Callable  # model config -> the identity-embedding network
    byol: Callable | None  # model config -> (online, target) for BYOL pretraining; None: a baseline
    bins: tuple[int, ...]  # horizontal pyramid bins (parts = sum(bins) x hpm_branches)
    d1: int = 128  # full-size embedding width
    part_fcs: bool = False  # the paper's per-part FCs before the temporal module
    temporal: str = "mtb"  # SelfGait family: "mtb" or "tcn" (w/o MTB)
    hpm_branches: int = 1  # GaitSet: 2 (the set and the multilayer pipelines each give the bins)


_SELFGAIT = dict(embed=_selfgait_embed, byol=_selfgait_byol, part_fcs=True)
MODELS = {m.name: m for m in (
    Model("selfgait", bins=hpm.SELFGAIT_BINS, **_SELFGAIT),
    Model("selfgait_no_hpm", bins=(1,), **_SELFGAIT),  # global pooling on the same conv stack
    Model("selfgait_no_mtb", bins=hpm.SELFGAIT_BINS, temporal="tcn", **_SELFGAIT),
    Model("gaitset", _gaitset, None, hpm.GAITSET_BINS, d1=256, hpm_branches=2),
    Model("gaitpart", _gaitpart, None, hpm.GAITPART_BINS),
)}
MODEL_NAMES = tuple(MODELS)
SELFGAIT_NAMES = tuple(n for n, m in MODELS.items() if m.byol is not None)  # have a BYOL form


def model_config(name: str = "selfgait", size: str = "full") -> ml_collections.ConfigDict:
    """The config of model ``name`` at ``size``; every key is used by :func:`build_embed_model`.

    ``dtype`` is the compute dtype; parameters are always float32. ``d1`` is the embedding width
    (GaitSet: 256). ``d2``/``head_hidden`` size the BYOL heads (unused by the baselines).
    ``part_fcs``: the paper's per-part FCs before the MTB (off = the authors' code).
    ``mtb_bias``/``mtb_activation``: paper = False/"leaky_relu", authors' code = True/"relu".
    """
    if name not in MODELS:
        raise ValueError(f"model.name={name!r}: expected one of {MODEL_NAMES}")
    if size not in SIZES:
        raise ValueError(f"model size={size!r}: expected one of {SIZES}")
    model = MODELS[name]
    tiny = size == "tiny"
    cfg = ml_collections.ConfigDict()
    cfg.name = name
    cfg.channels = (4, 8, 16) if tiny else (32, 64, 128)
    cfg.d1 = 16 if tiny else model.d1
    cfg.d2 = 16 if tiny else 128
    cfg.head_hidden = 32 if tiny else 256
    cfg.bins = model.bins
    cfg.part_fcs = model.part_fcs
    cfg.mtb_bias = False
    cfg.mtb_activation = "leaky_relu"
    cfg.mtb_squeeze = 4
    cfg.focal_strips = (4, 8)
    cfg.head_bn_per_part = False  # BYOL heads: BatchNorm statistics over batch x parts (False) or per part
    cfg.dtype = "float32"
    cfg.conv_formulation = "auto"  # how convolutions are computed: auto|lax|im2col (models/conv.py)
    return cfg


def _dtype(cfg):
    if cfg.dtype not in DTYPES:
        raise ValueError(f"model.dtype={cfg.dtype!r}: expected one of {sorted(DTYPES)}")
    return DTYPES[cfg.dtype]


def _check_name(cfg):
    if cfg.name not in MODELS:
        raise ValueError(f"model.name={cfg.name!r}: expected one of {MODEL_NAMES}")


def build_embed_model(cfg):
    """The identity-embedding network of ``cfg`` (a ``model`` ConfigDict):
    ``apply(variables, frames [N, T, H, W], mask [N, T], train=False) -> [N, parts, d1]``."""
    _check_name(cfg)
    return MODELS[cfg.name].embed(cfg)


def build_byol_models(cfg, target: str = "frame", per_part_heads: bool = False):
    """``(online, target)`` for pretraining; only the SelfGait family has them. ``target`` is the
    target branch (one of ``TARGET_BRANCHES``); ``per_part_heads`` gives the projector and predictor
    a linear map and BatchNorm per part (GaitSSB's heads) whatever ``cfg.head_bn_per_part`` says."""
    _check_name(cfg)
    if MODELS[cfg.name].byol is None:
        raise ValueError(f"model.name={cfg.name!r} is a supervised baseline with no BYOL form; "
                         f"pretraining needs one of {SELFGAIT_NAMES}")
    return MODELS[cfg.name].byol(cfg, target, per_part_heads)


def parts_and_dim(cfg):
    """``(parts, d1)``: the shape of one embedding produced by :func:`build_embed_model`."""
    _check_name(cfg)
    parts = sum(cfg.bins) * MODELS[cfg.name].hpm_branches
    return parts, cfg.d1
