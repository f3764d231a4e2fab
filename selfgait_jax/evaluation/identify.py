"""Gallery search: who is this walker? Rank a gallery's identities by distance to one probe sequence.

An identity's distance is that of its nearest gallery sequence (same per-part distance, averaged over
parts, as the protocol). The embedder is either an in-process model or an exported file. The open-set
answer ("unknown" when the nearest identity is farther than a threshold) uses the threshold that
the evaluation stores with an exported model (``open_set.py``, ``stored_threshold``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.data.readers import SequenceError, TreeSource, read_pkl_sequence, read_png_sequence
from selfgait_jax.evaluation import embed as embed_lib
from selfgait_jax.evaluation import exported
from selfgait_jax.evaluation import ranking

CHUNK = 2048  # gallery sequences per distance chunk: bounded host memory for big galleries


@dataclasses.dataclass(frozen=True)
class Match:
    subject: str
    distance: float
    type: str  # the nearest gallery sequence of this subject
    view: str


def read_probe(path) -> np.ndarray:
    """One probe sequence uint8 [T, 64, 44]: a folder of PNG frames (pretreated), a .pkl file, or a
    folder holding exactly one .pkl. Raises ValueError naming the path."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".pkl":
            raise ValueError(f"{path}: a probe file must be an OpenGait .pkl (or give a folder of PNG frames)")
        return read_pkl_sequence(path)
    if not path.is_dir():
        raise ValueError(f"{path}: no such probe folder or .pkl file")
    pngs = [p for p in path.iterdir() if p.suffix.lower() == ".png"]
    pkls = [p for p in path.iterdir() if p.suffix.lower() == ".pkl"]
    if pngs:
        return read_png_sequence(path)
    if len(pkls) == 1:
        return read_pkl_sequence(pkls[0])
    raise SequenceError(path, f"no .png frames and {len(pkls)} .pkl files: cannot tell which sequence to use")


def read_sequences(path) -> list[tuple[str, np.ndarray]]:
    """``(label, frames uint8 [T, 64, 44])`` of every sequence at ``path``: the folders below it that
    hold PNG frames or one .pkl, e.g. the walkers of tools/silhouettes.py's output (files beside
    them, such as its contact sheet, are not frames), else ``path`` itself as one sequence (see
    ``read_probe``). Each is labelled by its path, ``path`` included, so that a walker's folder
    (``out/walker-12``, holding ``crossing/cam/``) keeps its name in the label. Raises ValueError
    naming the path when there is none."""
    path = Path(path)
    if path.is_dir():
        leaves = sorted({p.parent for p in path.rglob("*") if p.suffix.lower() in (".png", ".pkl")} - {path})
        if leaves:
            return [(str(leaf), read_probe(leaf)) for leaf in leaves]
    return [(str(path), read_probe(path))]


def open_embedder(model_file=None, workdir=None, step=None):
    """``(embed, model)``: ``embed(source) -> [len(source), parts, dim]`` with an exported file
    (tools/export.py; ``model`` is its ``ExportedEmbedder``) or a workdir's checkpoint (``step``, by
    default the latest; ``model`` is None). Gallery and probes go through the same bucketed batches,
    so the probes reuse the gallery's compiles."""
    if model_file:
        model = exported.load_exported(model_file)
        return (lambda source: embed_lib.embed_exported(model, source)), model
    from selfgait_jax.models import contract  # pylint: disable=g-import-not-at-top
    from selfgait_jax.workdir import load_for_inference  # pylint: disable=g-import-not-at-top

    _, embed_model, variables, _ = load_for_inference(workdir, step)
    fn = contract.make_embed_fn(embed_model)
    return (lambda source: embed_lib.embed_source(fn, variables, source)), None


def open_gallery(root) -> TreeSource:
    """A gallery tree root/subject/type/view/ of PNG frames or pkl files (whichever it holds)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: the gallery must be a folder root/subject/type/view/")
    fmt = "pkl" if next(root.glob("*/*/*/*.pkl"), None) is not None else "png"
    return TreeSource(root, fmt, name="gallery")


def part_distances(probe: np.ndarray, gallery: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Distances [G] from one probe [parts, dim] to a gallery [G, parts, dim], in chunks, with the
    evaluation protocol's own distance (:func:`ranking.part_distance`)."""
    if metric not in ranking.METRICS:
        raise ValueError(f"metric must be one of {ranking.METRICS}, got {metric!r}")
    probe = jnp.asarray(probe, jnp.float32)[None]
    out = [np.asarray(_distance_chunk(probe, jnp.asarray(gallery[start:start + CHUNK], jnp.float32),
                                      metric))[0]
           for start in range(0, len(gallery), CHUNK)]
    return np.concatenate(out) if out else np.zeros(0)


_distance_chunk = jax.jit(ranking.part_distance, static_argnames="metric")


def rank_identities(probe_embedding, gallery_embeddings, metas, metric="euclidean") -> list[Match]:
    """Every gallery identity once, nearest first, at the distance of its nearest sequence."""
    dist = part_distances(probe_embedding, gallery_embeddings, metric)
    best: dict[str, int] = {}
    for i in np.argsort(dist, kind="stable"):
        best.setdefault(metas[i].subject, int(i))
    return [Match(s, float(dist[i]), metas[i].type, metas[i].view) for s, i in best.items()]


def format_matches(matches: list[Match], top: int) -> str:
    lines = [f"{'rank':>4}  {'subject':<12} {'distance':>10}  nearest sequence"]
    for rank, m in enumerate(matches[:top], 1):
        lines.append(f"{rank:>4}  {m.subject:<12} {m.distance:>10.4f}  {m.type}{'/' + m.view if m.view else ''}")
    return "\n".join(lines)


UNKNOWN = "unknown"


def decide(matches: list[Match], threshold: float | None) -> str:
    """The open-set answer: the nearest identity, or "unknown" when its distance is above
    ``threshold`` (or the gallery is empty). Without a threshold: the nearest identity."""
    if not matches:
        return UNKNOWN
    if threshold is not None and matches[0].distance > threshold:
        return UNKNOWN
    return matches[0].subject


def stored_threshold(meta: dict, metric: str) -> tuple[float | None, str]:
    """``(threshold, description)`` from an exported model's metadata (as ``exported.read_file``
    gives it), or ``(None, why not)``: none stored, or one for another metric than the one ranked by."""
    entry = meta["open_set"]
    if entry is None:
        return None, ("the model stores no open-set threshold (tools/evaluate.py computes one, tools/export.py "
                      "stores it); pass --threshold to answer \"unknown\"")
    threshold, stored_metric = entry["threshold"], entry["metric"]
    if stored_metric != metric:
        return None, f"the model's threshold is for the {stored_metric} distance, not {metric}; pass --threshold"
    rate = f", false-accept rate {100 * entry['far']:.2f} % on {entry.get('dataset')}" if "far" in entry else ""
    return float(threshold), f"threshold {threshold:.6g} stored with the model ({stored_metric}{rate})"
