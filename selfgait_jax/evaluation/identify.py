"""Gallery search: who is this walker? Rank a gallery's identities by distance to one probe sequence.

An identity's distance is that of its nearest gallery sequence (same per-part distance, averaged over
parts, as the protocol). The embedder is either an in-process model or an exported file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.data import inference
from selfgait_jax.data.readers import SequenceError, TreeSource, read_pkl_sequence, read_png_sequence
from selfgait_jax.evaluation import protocol

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
    """``(label, frames uint8 [T, 64, 44])`` of every sequence at ``path``: one sequence (see
    ``read_probe``; labelled by the path), else every folder below it that holds PNG frames or one
    .pkl, e.g. the walkers of tools/silhouettes.py's output (labelled by their path below ``path``).
    Raises ValueError naming the path when there is none."""
    path = Path(path)
    if path.is_file() or not path.is_dir() or any(p.suffix.lower() in (".png", ".pkl") for p in path.iterdir()):
        return [(str(path), read_probe(path))]
    leaves = sorted({p.parent for p in path.rglob("*") if p.suffix.lower() in (".png", ".pkl")})
    if not leaves:
        raise SequenceError(path, "no sequence: no folder below it holds .png frames or a .pkl file")
    return [(str(leaf.relative_to(path)), read_probe(leaf)) for leaf in leaves]


def open_gallery(root) -> TreeSource:
    """A gallery tree root/subject/type/view/ of PNG frames or pkl files (whichever it holds)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: the gallery must be a folder root/subject/type/view/")
    fmt = "pkl" if next(root.glob("*/*/*/*.pkl"), None) is not None else "png"
    return TreeSource(root, fmt, name="gallery")


def embed_sequences(embed_batch, source, batch_size: int = 8) -> np.ndarray:
    """Embeds every sequence of `source` with `embed_batch(frames uint8, mask bool) -> [B, parts, dim]`
    (e.g. an ExportedEmbedder), in bucketed batches on one device."""
    out = None
    for batch in inference.inference_batches(
        source, batch_size, lengths=getattr(source, "lengths", None), process_index=0,
        process_count=1, device_count=1,
    ):
        emb = np.asarray(embed_batch(batch["frames"], batch["mask"]))
        if out is None:
            out = np.zeros((len(source), *emb.shape[1:]), np.float32)
        real = batch["index"] >= 0
        out[batch["index"][real]] = emb[real]
    return out


def part_distances(probe: np.ndarray, gallery: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Distances [G] from one probe [parts, dim] to a gallery [G, parts, dim], in chunks, with the
    evaluation protocol's own distance (:func:`protocol.part_distance`)."""
    if metric not in protocol.METRICS:
        raise ValueError(f"metric must be one of {protocol.METRICS}, got {metric!r}")
    probe = jnp.asarray(probe, jnp.float32)[None]
    out = [np.asarray(_distance_chunk(probe, jnp.asarray(gallery[start:start + CHUNK], jnp.float32),
                                      metric))[0]
           for start in range(0, len(gallery), CHUNK)]
    return np.concatenate(out) if out else np.zeros(0)


_distance_chunk = jax.jit(protocol.part_distance, static_argnames="metric")


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
        lines.append(f"{rank:>4}  {m.subject:<12} {m.distance:>10.4f}  {m.type}/{m.view}")
    return "\n".join(lines)
