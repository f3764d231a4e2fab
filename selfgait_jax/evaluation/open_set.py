"""Open-set identification: when is a walker nobody in the gallery? A distance threshold from the test split.

A probe's distance to an identity is its distance to that identity's nearest gallery sequence (any
view; the protocol's per-part distance averaged over parts), exactly what tools/identify.py ranks by.
On the test split every probe gives one *genuine* distance (to its own identity, when the gallery
has it) and one *impostor* distance per other identity. A walker is answered "unknown" when its
nearest identity is farther than the threshold; the threshold is set so that a fraction ``far`` of
impostor distances fall below it (the false-accept rate per comparison, independent of the gallery's
size). With N enrolled identities a stranger is accepted as someone with probability up to about
N x far; the test split's own figure is reported as ``identification.false_alarm`` (each probe
treated as a stranger by leaving its own identity out), beside ``identification.detect_and_identify``
(the probe's own identity is the nearest and within the threshold).

Probes are blocked and the gallery chunked (memory: one block x one chunk); more than ``max_probes``
probes are thinned evenly (deterministic), which only matters at OU-MVLP scale.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.evaluation import ranking

DEFAULT_FAR = 0.01
MAX_PROBES = 4096
PLOT = "open_set_roc.png"


@functools.partial(jax.jit, static_argnames=("metric", "num_identities"))
def _nearest_per_identity(probe, gallery, gallery_identity, metric, num_identities):
    dist = ranking.part_distance(probe, gallery, metric)  # [B, G]
    # Padding rows carry identity index num_identities, a segment that is dropped.
    per_identity = jax.ops.segment_min(dist.T, gallery_identity, num_segments=num_identities + 1)
    return per_identity[:num_identities].T  # [B, S]


def identity_distances(embeddings, subjects, gallery, probes, metric="euclidean", block=256, chunk=8192):
    """``(D float32 [P, S], identities [S])``: each probe's distance to each gallery identity's nearest
    sequence. ``gallery`` and ``probes`` index ``embeddings`` [N, parts, dim]."""
    embeddings = np.asarray(embeddings, np.float32)
    subjects = np.asarray(subjects, dtype=str)
    identities, gallery_identity = np.unique(subjects[np.asarray(gallery)], return_inverse=True)
    num = len(identities)
    out = np.full((len(probes), num), np.inf, np.float32)
    gallery = np.asarray(gallery)
    for start in range(0, len(gallery), chunk):
        rows = gallery[start : start + chunk]
        size = 1 << max(0, int(np.ceil(np.log2(len(rows)))))
        g = np.zeros((size, *embeddings.shape[1:]), np.float32)
        g[: len(rows)] = embeddings[rows]
        g_id = np.full(size, num, np.int32)
        g_id[: len(rows)] = gallery_identity[start : start + chunk]
        for p0 in range(0, len(probes), block):
            picked = np.asarray(probes[p0 : p0 + block])
            b = np.zeros((block, *embeddings.shape[1:]), np.float32)
            b[: len(picked)] = embeddings[picked]
            d = np.asarray(_nearest_per_identity(jnp.asarray(b), jnp.asarray(g), jnp.asarray(g_id), metric, num))
            out[p0 : p0 + len(picked)] = np.minimum(out[p0 : p0 + len(picked)], d[: len(picked)])
    return out, [str(s) for s in identities]


def threshold_at(impostor: np.ndarray, far: float) -> float:
    """The largest distance threshold t with at most ``far`` of the impostor distances <= t (a
    walker is accepted when its distance is <= t): midway between two impostor distances."""
    imp = np.sort(np.asarray(impostor, np.float64))
    k = int(np.floor(far * len(imp)))
    if k >= len(imp):
        return float(imp[-1])
    if k == 0:
        return float(np.nextafter(imp[0], -np.inf))
    return float(imp[k - 1] + imp[k]) / 2 if imp[k] > imp[k - 1] else float(np.nextafter(imp[k], -np.inf))


def _rate(values: np.ndarray, threshold: float) -> float:
    return float(np.mean(values <= threshold)) if len(values) else float("nan")


def evaluate(embeddings, subjects, gallery, probes, *, metric="euclidean", far=DEFAULT_FAR,
             max_probes=MAX_PROBES) -> dict:
    """results.json's ``open_set`` entry (see the module doc), with a ROC curve of up to ~60 points."""
    if not 0 < far < 1:
        raise ValueError(f"the false-accept rate must be in (0, 1), got {far}")
    probes = np.asarray(probes)
    if len(probes) > max_probes:
        probes = probes[np.linspace(0, len(probes) - 1, max_probes).round().astype(int)]
    subjects = np.asarray(subjects, dtype=str)
    dist, identities = identity_distances(embeddings, subjects, gallery, probes, metric)
    dist = dist.astype(np.float64)  # thresholds sit between float32 distances: compare in float64
    own = np.asarray([identities.index(s) if s in identities else -1 for s in subjects[probes]])
    known = own >= 0
    genuine = dist[np.flatnonzero(known), own[known]]
    others = np.ones(dist.shape, bool)
    others[np.flatnonzero(known), own[known]] = False
    impostor = dist[others]
    if not len(genuine) or not len(impostor):
        raise ValueError("an open-set threshold needs probes of gallery identities and at least two identities")
    threshold = threshold_at(impostor, far)
    stranger = np.where(others, dist, np.inf).min(axis=1)  # each probe with its own identity left out
    nearest = dist.argmin(axis=1)
    identified = known & (nearest == own) & (dist.min(axis=1) <= threshold)
    grid = np.unique(np.clip(np.logspace(-4, 0, 41), 1.0 / len(impostor), 1.0))
    curve_t = [threshold_at(impostor, f) if f < 1 else float(impostor.max()) for f in grid]
    frr = 1.0 - np.mean(genuine[:, None] <= np.asarray(curve_t)[None, :], axis=0)
    far_at = np.mean(impostor[:, None] <= np.asarray(curve_t)[None, :], axis=0)
    eer_index = int(np.argmin(np.abs(frr - far_at)))
    return {
        "threshold": threshold,
        "target_far": far,
        "far": _rate(impostor, threshold),
        "tar": _rate(genuine, threshold),
        "eer": float((frr[eer_index] + far_at[eer_index]) / 2),
        "metric": metric,
        "decision": "unknown when the nearest identity's distance is above the threshold",
        "distance": "to an identity: to its nearest gallery sequence, any view; per-part distance averaged "
                    "over parts",
        "probes": int(len(probes)),
        "identities": len(identities),
        "genuine": int(len(genuine)),
        "impostor": int(len(impostor)),
        "identification": {
            "detect_and_identify": float(np.mean(identified[known])),
            "false_alarm": _rate(stranger, threshold),
            "gallery_identities": len(identities),
        },
        "curve": {"far": [round(float(x), 6) for x in far_at], "tar": [round(float(1 - x), 6) for x in frr],
                  "threshold": [round(float(x), 6) for x in curve_t]},
        "plot": PLOT,
    }


def write_plot(open_set: dict, path, title: str) -> None:
    """ROC (accepted genuine vs false accepts) and DET (false rejects vs false accepts), log axes,
    with the stored threshold marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

    curve = open_set["curve"]
    # Zero rates drawn at half of the smallest non-zero one, so the log axes can show them.
    far_floor, frr_floor = 0.5 / max(open_set["impostor"], 1), 0.5 / max(open_set["genuine"], 1)
    far = np.maximum(np.asarray(curve["far"]), far_floor)
    tar = np.asarray(curve["tar"])
    fig = Figure(figsize=(9, 4))
    FigureCanvasAgg(fig)
    roc, det = fig.subplots(1, 2)
    roc.plot(far, tar, marker=".")
    roc.set_xscale("log")
    roc.set_xlabel("false accepts (impostor comparisons accepted)")
    roc.set_ylabel("genuine comparisons accepted")
    roc.set_ylim(0, 1.02)
    det.plot(far, np.maximum(1 - tar, frr_floor), marker=".")
    det.set_xscale("log")
    det.set_yscale("log")
    det.set_xlabel("false accepts")
    det.set_ylabel("false rejects")
    point = (max(open_set["far"], far_floor), open_set["tar"])
    label = f"threshold {open_set['threshold']:.4g} (FAR {open_set['far']:.3g}, TAR {open_set['tar']:.3g})"
    roc.plot(*point, "o", color="red", label=label)
    det.plot(point[0], max(1 - point[1], frr_floor), "o", color="red")
    low = min(far_floor, frr_floor)
    det.plot([low, 1], [low, 1], ":", color="grey", linewidth=0.8)
    roc.legend(fontsize=8, loc="lower right")
    for ax in (roc, det):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{title}: EER {100 * open_set['eer']:.1f} %", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
