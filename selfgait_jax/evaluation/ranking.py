"""Ranking for the cross-view gait recognition protocol: rank-1 / rank-5 / mAP per (probe view, gallery
view) pair.

The paper's figures exclude identical views: for each pair (probe view p, gallery view g) with p != g,
every probe of view p is ranked against the gallery sequences of view g only; a probe view's number is
the mean over the other gallery views, a condition's number the mean over probe views. Rank-5 and mAP
use the same structure (definitions in docs/evaluation.md).

Distances and ranking run on the device in fixed-size probe blocks against one gallery view at a time
and are reduced to per-probe hits inside the jitted function, so only O(block) numbers come back to
the host and no probe × gallery matrix larger than one block ever exists (OU-MVLP is ~72k × 72k).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax import sharding
from selfgait_jax.config_names import METRICS
from selfgait_jax.progress import progress


@dataclasses.dataclass(frozen=True)
class RankingResult:
    """Per-condition sums over (probe view, gallery view) pairs; the tables are derived from these.

    Arrays are indexed [condition, probe view, gallery view]. `counted` is the number of probes that
    entered a pair's denominator; `missing` the probes whose subject had no gallery sequence at that
    gallery view (dropped or counted as misses, depending on `drop_missing_gallery`).
    """

    conditions: tuple[str, ...]
    views: tuple[str, ...]
    hits1: np.ndarray
    hits5: np.ndarray
    ap_sum: np.ndarray
    counted: np.ndarray
    missing: np.ndarray
    num_probes: dict[str, int]
    num_gallery: int

    def pair_percent(self, total: np.ndarray) -> np.ndarray:
        """Per-pair percentage; NaN on the diagonal and where a pair had no counted probe."""
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = 100.0 * total / self.counted
        pct[self.counted == 0] = np.nan
        diagonal = np.eye(len(self.views), dtype=bool)
        pct[:, diagonal] = np.nan
        return pct


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the finite entries along `axis`; NaN where there are none (no warning)."""
    finite = np.isfinite(x)
    count = finite.sum(axis=axis)
    total = np.where(finite, x, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def summarize(result: RankingResult) -> dict:
    """The per-condition part of results.json: matrix, per-probe-view rank-1, means, rank-5, mAP."""
    rank1 = result.pair_percent(result.hits1)
    rank5 = result.pair_percent(result.hits5)
    m_ap = result.pair_percent(result.ap_sum)
    out = {}
    for c, cond in enumerate(result.conditions):
        per_view1 = _nanmean(rank1[c], axis=1)
        out[cond] = {
            "matrix": [[_json_number(v) for v in row] for row in rank1[c]],
            "rank1_per_probe_view": [_json_number(v) for v in per_view1],
            "mean": _json_number(_nanmean(per_view1, axis=0)),
            "rank5_mean": _json_number(_nanmean(_nanmean(rank5[c], axis=1), axis=0)),
            "mAP": _json_number(_nanmean(_nanmean(m_ap[c], axis=1), axis=0)),
            "num_probes": int(result.num_probes[cond]),
            "probes_without_gallery": int(result.missing[c].sum()),
        }
    return out


def _json_number(x) -> float | None:
    """NaN (no data / identical view) becomes JSON null."""
    x = float(x)
    return None if math.isnan(x) else x


def part_distance(probe: jax.Array, gallery: jax.Array, metric: str) -> jax.Array:
    """Distance [B, G] = per-part distance averaged over parts, one part at a time (memory [B, G])."""
    hi = jax.lax.Precision.HIGHEST  # no TF32 on GPUs: rankings must not depend on the card
    if metric == "cosine":
        probe = probe / jnp.maximum(jnp.linalg.norm(probe, axis=-1, keepdims=True), 1e-12)
        gallery = gallery / jnp.maximum(jnp.linalg.norm(gallery, axis=-1, keepdims=True), 1e-12)

    def one_part(total, pair):
        p, g = pair  # [B, D], [G, D]
        dot = jnp.matmul(p, g.T, precision=hi)
        if metric == "euclidean":
            sq = jnp.sum(p * p, -1)[:, None] + jnp.sum(g * g, -1)[None, :] - 2.0 * dot
            dist = jnp.sqrt(jnp.maximum(sq, 0.0))
        else:
            dist = 1.0 - dot
        return total + dist, None

    start = jnp.zeros((probe.shape[0], gallery.shape[0]), jnp.float32)
    parts = (jnp.swapaxes(probe, 0, 1), jnp.swapaxes(gallery, 0, 1))
    total, _ = jax.lax.scan(one_part, start, parts)
    return total / probe.shape[1]


@functools.partial(jax.jit, static_argnames=("metric", "max_relevant"))
def score_block(probe, probe_label, gallery, gallery_label, metric="euclidean", max_relevant=4):
    """Ranks one probe block against one gallery view; returns per-probe (hit@1, hit@5, AP, has_match).

    probe [B, P, D], probe_label int32 [B]; gallery [G, P, D], gallery_label int32 [G] with -1 for
    padding rows (distance +inf, never a match). `max_relevant` must be at least the number of
    gallery sequences of any one subject. Ties count in gallery order (as a stable sort would).

    No sort of the gallery: each probe's relevant sequences (at most `max_relevant`) are found with
    top_k, and each one's rank is one plus the number of gallery sequences ahead of it, which costs
    O(B * G * max_relevant) compares instead of a B x G sort.
    """
    probe = probe.astype(jnp.float32)
    gallery = gallery.astype(jnp.float32)
    dist = part_distance(probe, gallery, metric)
    dist = jnp.where(gallery_label[None, :] >= 0, dist, jnp.inf)
    relevant = gallery_label[None, :] == probe_label[:, None]  # [B, G]
    num_relevant = relevant.sum(axis=1)
    neg_dist, rel_index = jax.lax.top_k(jnp.where(relevant, -dist, -jnp.inf), max_relevant)
    rel_dist = -neg_dist  # [B, R], the nearest relevant sequences; +inf past num_relevant
    valid = jnp.arange(max_relevant)[None, :] < num_relevant[:, None]
    g_index = jnp.arange(dist.shape[1])
    ahead = (dist[:, None, :] < rel_dist[:, :, None]) | (
        (dist[:, None, :] == rel_dist[:, :, None]) & (g_index[None, None, :] < rel_index[:, :, None])
    )
    rank = 1 + ahead.sum(axis=2)  # [B, R], 1-based rank of each relevant sequence
    rank = jnp.where(valid, rank, jnp.iinfo(jnp.int32).max)
    # precision at a relevant sequence = relevant sequences at or before its rank / its rank
    found = (rank[:, None, :] <= rank[:, :, None]).sum(axis=2)
    precision = jnp.where(valid, found / rank.astype(jnp.float32), 0.0)
    ap = precision.sum(axis=1) / jnp.maximum(num_relevant, 1)
    best = rank.min(axis=1)
    return best == 1, best <= 5, ap, num_relevant > 0


def _bucket(n: int, minimum: int = 16) -> int:
    """Next power of two >= n, so every gallery view of a dataset compiles once or twice."""
    return max(minimum, 1 << max(0, int(n - 1).bit_length()))


def _pad_rows(x: np.ndarray, rows: int, fill) -> np.ndarray:
    pad = [(0, rows - x.shape[0])] + [(0, 0)] * (x.ndim - 1)
    return np.pad(x, pad, constant_values=fill)


def evaluate_embeddings(
    embeddings: np.ndarray,
    subjects: Sequence[str],
    views: Sequence[str],
    gallery: Sequence[int],
    probes: Mapping[str, Sequence[int]],
    *,
    metric: str = "euclidean",
    drop_missing_gallery: bool = True,
    probe_block: int = 256,
    mesh: jax.sharding.Mesh | None = None,
) -> RankingResult:
    """Runs the cross-view protocol on embeddings [N, parts, dim] with per-sequence subject and view.

    `gallery` and `probes` (condition -> indices, in table order) index the N sequences, as
    `data.splits.Protocol` gives them. Probe blocks are sharded over the mesh's "data" axis (all
    devices by default); each gallery view is replicated. `probe_block` is rounded up to a multiple
    of the device count. With several processes, each passes the same (gathered) embeddings.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 3:
        raise ValueError(f"embeddings must be [N, parts, dim], got shape {embeddings.shape}")
    subjects, views = np.asarray(subjects, dtype=str), np.asarray(views, dtype=str)
    if not len(subjects) == len(views) == embeddings.shape[0]:
        raise ValueError(
            f"embeddings ({embeddings.shape[0]}) and metadata ({len(subjects)} subjects, "
            f"{len(views)} views) differ in length"
        )
    if mesh is None:
        mesh = sharding.data_mesh()
    n_dev = mesh.shape[sharding.AXIS]
    block = -(-probe_block // n_dev) * n_dev
    rows_sharded, replicated = sharding.rows(mesh), sharding.replicated(mesh)

    _, labels = np.unique(subjects, return_inverse=True)
    labels = labels.astype(np.int32)
    conditions = tuple(probes)
    is_gallery = np.zeros(len(subjects), bool)
    is_gallery[np.asarray(gallery, np.int64)] = True
    probe_cond = np.full(len(subjects), -1)
    for c, cond in enumerate(conditions):
        rows = np.asarray(probes[cond], np.int64)
        if np.any(is_gallery[rows]) or np.any(probe_cond[rows] >= 0):
            raise ValueError(f"probe condition {cond!r} shares sequences with the gallery or another condition")
        probe_cond[rows] = c
    is_probe = probe_cond >= 0
    view_list = tuple(sorted(set(views[is_gallery]) | set(views[is_probe])))
    view_index = {v: i for i, v in enumerate(view_list)}
    probe_view = np.array([view_index.get(v, -1) for v in views])

    shape = (len(conditions), len(view_list), len(view_list))
    hits1, hits5, ap_sum = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    counted, missing = np.zeros(shape, np.int64), np.zeros(shape, np.int64)

    work = [(g_view, np.flatnonzero(is_gallery & (views == gv)), np.flatnonzero(is_probe & (views != gv)))
            for g_view, gv in enumerate(view_list)]
    work = [(g_view, g_idx, p_idx) for g_view, g_idx, p_idx in work if len(g_idx) and len(p_idx)]
    with progress(total=sum(len(p_idx) for _, _, p_idx in work), unit="pair",
                  desc=f"ranking {int(is_probe.sum())} probes at {len(work)} gallery views",
                  enabled=jax.process_index() == 0) as bar:  # counts (probe, gallery view) pairs
        for g_view, g_idx, p_idx in work:
            g_rows = _bucket(len(g_idx))
            most_per_subject = int(np.bincount(labels[g_idx]).max())
            max_relevant = 1 << max(0, (most_per_subject - 1).bit_length())  # few distinct compiles
            gallery = sharding.put(_pad_rows(embeddings[g_idx], g_rows, 0), replicated)
            g_label = sharding.put(_pad_rows(labels[g_idx], g_rows, -1), replicated)
            for start in range(0, len(p_idx), block):
                rows = p_idx[start : start + block]
                probe = sharding.put(_pad_rows(embeddings[rows], block, 0), rows_sharded)
                p_label = sharding.put(_pad_rows(labels[rows], block, -2), rows_sharded)
                out = score_block(probe, p_label, gallery, g_label, metric=metric, max_relevant=max_relevant)
                hit1, hit5, ap, has_match = (sharding.to_host(o)[: len(rows)] for o in out)
                keep = has_match | (not drop_missing_gallery)
                idx = (probe_cond[rows], probe_view[rows], np.full(len(rows), g_view))
                np.add.at(hits1, idx, hit1 & keep)
                np.add.at(hits5, idx, hit5 & keep)
                np.add.at(ap_sum, idx, np.where(keep, ap, 0.0))
                np.add.at(counted, idx, keep)
                np.add.at(missing, idx, ~has_match)
                bar.update(len(rows))

    return RankingResult(
        conditions=conditions,
        views=view_list,
        hits1=hits1,
        hits5=hits5,
        ap_sum=ap_sum,
        counted=counted,
        missing=missing,
        num_probes={cond: int((probe_cond == c).sum()) for c, cond in enumerate(conditions)},
        num_gallery=int(is_gallery.sum()),
    )
