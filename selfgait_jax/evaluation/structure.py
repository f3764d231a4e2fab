"""What an embedding's geometry follows: the walker, the camera's view, or the single recording.

A rank-1 table says how often the nearest gallery sequence is the right walker; it does not say what
the embedding groups by instead when it is wrong. Two measures answer that from an evaluation's
``embeddings.npz`` (no training, no labels beyond the sequences' names):

- **variance shares**: the share of the embeddings' total squared spread that the means of a grouping
  carry (the between-group sum of squares over the total, as in an analysis of variance): by walker,
  by view, by (walker, view) cell, and by (walker, view, condition) cell where the sequences name
  their condition (CASIA-B's nm/bg/cl). What the finest cell's means do not carry is particular to
  one recording: what differs between two walks of the same walker, at the same view, in the same
  clothes.
- **nearest neighbours**: among the sequences at *other* views, how often the nearest is the same
  walker (a cross-view rank-1 over all of a split's sequences at once); among *other* walkers'
  sequences, how often the nearest is at the same view. Each with its chance level, the share a
  nearest neighbour drawn at random would have.

Distances are the evaluation protocol's own (:func:`ranking.part_distance`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.evaluation import ranking

BLOCK = 512  # rows of the distance matrix computed at a time: memory [BLOCK, N]


def variance_shares(embeddings: np.ndarray, groupings: dict[str, np.ndarray]) -> dict[str, float]:
    """{grouping: between-group sum of squares / total sum of squares} of the flattened embeddings."""
    flat = np.asarray(embeddings, np.float64).reshape(len(embeddings), -1)
    centred = flat - flat.mean(0)
    total = float((centred ** 2).sum())
    if total == 0.0:
        raise ValueError("every embedding is the same: there is no spread to share out")
    shares = {}
    for name, labels in groupings.items():
        labels = np.asarray(labels)
        if labels.shape != (len(flat),):
            raise ValueError(f"grouping {name!r} has {labels.shape} labels for {len(flat)} embeddings")
        _, group = np.unique(labels, return_inverse=True)
        sums = np.zeros((group.max() + 1, centred.shape[1]))
        np.add.at(sums, group, centred)
        counts = np.bincount(group)
        shares[name] = float(((sums ** 2).sum(1) / counts).sum() / total)
    return shares


_distances = jax.jit(ranking.part_distance, static_argnames="metric")


def _nearest(embeddings: np.ndarray, excluded, metric: str) -> np.ndarray:
    """Index of each sequence's nearest other sequence, skipping pairs where excluded(rows, cols)."""
    gallery = jnp.asarray(embeddings, jnp.float32)
    everyone = np.arange(len(embeddings))
    nearest = np.empty(len(embeddings), np.int64)
    for start in range(0, len(embeddings), BLOCK):
        rows = everyone[start:start + BLOCK]
        dist = np.array(_distances(gallery[rows], gallery, metric))
        dist[excluded(rows[:, None], everyone[None, :]) | (rows[:, None] == everyone[None, :])] = np.inf
        nearest[rows] = dist.argmin(1)
    return nearest


def _chance(own: np.ndarray, other: np.ndarray) -> float:
    """Mean over sequences of the share of the sequences with another `other` label that carry the
    sequence's own `own` label: what a neighbour drawn at random among them would match."""
    _, own_i = np.unique(own, return_inverse=True)
    _, other_i = np.unique(other, return_inverse=True)
    both = np.zeros((own_i.max() + 1, other_i.max() + 1))
    np.add.at(both, (own_i, other_i), 1)
    n_own, n_other = both.sum(1)[own_i], both.sum(0)[other_i]
    return float(((n_own - both[own_i, other_i]) / (len(own) - n_other)).mean())


def nearest_neighbour_shares(embeddings: np.ndarray, walkers: np.ndarray, views: np.ndarray,
                             metric: str = "euclidean") -> dict[str, float]:
    """Cross-view walker share and same-view share among other walkers, each with its chance level."""
    walkers, views = np.asarray(walkers), np.asarray(views)
    if len(np.unique(views)) < 2 or len(np.unique(walkers)) < 2:
        raise ValueError("need at least two views and two walkers to look across them")
    across_views = _nearest(embeddings, lambda r, c: views[r] == views[c], metric)
    across_walkers = _nearest(embeddings, lambda r, c: walkers[r] == walkers[c], metric)
    return {
        "same walker, other view": float((walkers[across_views] == walkers).mean()),
        "same walker, other view (chance)": _chance(walkers, views),
        "same view, other walker": float((views[across_walkers] == views).mean()),
        "same view, other walker (chance)": _chance(views, walkers),
    }


def conditions_of(types: np.ndarray) -> np.ndarray | None:
    """A sequence type's condition, 'nm' of 'nm-01' (CASIA-B, SynthGait-B); None where the types name
    no condition (OU-MVLP's '00' and '01' are two recordings, not two conditions)."""
    types = np.asarray(types).astype(str)
    if not all("-" in t for t in types):
        return None
    return np.array([t.rsplit("-", 1)[0] for t in types])


def _joined(*labels: np.ndarray) -> np.ndarray:
    joined = np.asarray(labels[0]).astype(str)
    for more in labels[1:]:
        joined = np.char.add(np.char.add(joined, "/"), np.asarray(more).astype(str))
    return joined


def describe(path) -> dict[str, float]:
    """Both measures for an evaluation's embeddings.npz (embeddings, subjects, views, and types, whose
    conditions add a finer cell: the same walker at the same view in the same clothes)."""
    with np.load(path, allow_pickle=False) as stored:
        missing = {"embeddings", "subjects", "views"} - set(stored.files)
        if missing:
            raise ValueError(f"{path}: no {sorted(missing)} in it; expected an evaluation's embeddings.npz")
        embeddings, walkers, views = stored["embeddings"], stored["subjects"], stored["views"]
        conditions = conditions_of(stored["types"]) if "types" in stored.files else None
    groupings = {"walker": walkers, "view": views, "walker and view": _joined(walkers, views)}
    if conditions is not None:
        groupings["walker, view and condition"] = _joined(walkers, views, conditions)
    shares = variance_shares(embeddings, groupings)
    return {**{f"variance: {k}": v for k, v in shares.items()},
            **nearest_neighbour_shares(embeddings, walkers, views)}
