"""A trained embedding network as one portable file: serialized StableHLO (jax.export) plus its params.

The file is a NumPy .npz: `stablehlo` (the serialized jax.export.Exported, as uint8), `meta` (JSON,
as uint8) and `param_00000`, `param_00001`, ... (the variables' leaves in tree order). The function
takes `(params: list of arrays, frames uint8 [b, t, 64, 44], mask bool [b, t])` with symbolic batch
`b` and length `t`, and returns float32 [b, parts, dim]; it divides the frames by 255 itself.
Loading needs only jax and numpy: no flax, no model code, no training code.

No pickle anywhere: every entry is a plain numeric array read with `allow_pickle=False`, and
the metadata is JSON, so a file from a stranger is safe to open. Version 2 files describe
themselves (tools/export.py fills `meta`): the training config, the pretreatment, the model's name
and parameter count, the evaluations of that checkpoint found in its workdir (dataset, protocol,
table), the open-set threshold where one exists, the library versions, and a `fingerprint`: sha256
of the parameters, of the serialized function and of the rest of the metadata. The loader checks
the fingerprint, so a file changed or damaged after export is refused (`verify_file`).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.data import pretreatment
from selfgait_jax.data.sequence import CANVAS_WIDTH, FRAME_HEIGHT, FRAME_SHAPE, FRAME_WIDTH

FORMAT = "selfgait_jax.exported_embedding"
VERSION = 2  # 2: self-describing metadata and a fingerprint
DEFAULT_PLATFORMS = ("cpu", "cuda")


def pretreatment_description() -> dict:
    """How frames must be prepared for the exported function (data/pretreatment.py's rules)."""
    return {
        "frame": [FRAME_HEIGHT, FRAME_WIDTH],
        "input": "uint8 0/255 silhouettes [b, t, 64, 44] and a bool mask [b, t]; the function divides by 255",
        "crop": "each frame's silhouette bounding box, scaled to height 64 keeping its aspect ratio",
        "centring": f"horizontally on the silhouette's column centroid in a {CANVAS_WIDTH}-wide canvas, "
                    f"central {FRAME_WIDTH} columns kept (OpenGait's 64x64 pkl frames: columns 10..54)",
        "binarisation": "bilinear resampling at pixel centres, then threshold at one half: 0 / 255",
        "min_foreground_pixels": pretreatment.MIN_FOREGROUND_PIXELS,
        "code": "selfgait_jax.data.pretreatment.pretreat_frames (tools/pretreat.py for raw CASIA-B PNGs)",
    }


def library_versions() -> dict:
    """Versions of python and the libraries that wrote a file (None where one is not installed)."""
    import importlib.metadata as metadata  # pylint: disable=g-import-not-at-top
    import platform  # pylint: disable=g-import-not-at-top

    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "selfgait_jax"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def params_sha256(params) -> str:
    """sha256 over the parameters in tree order: index, dtype, shape and bytes of each."""
    digest = hashlib.sha256()
    for i, x in enumerate(params):
        x = np.ascontiguousarray(np.asarray(x))
        digest.update(f"{i}:{x.dtype.str}:{list(x.shape)}\n".encode())
        digest.update(x.tobytes())
    return digest.hexdigest()


def _meta_sha256(meta: dict) -> str:
    rest = {k: v for k, v in meta.items() if k != "fingerprint"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def fingerprint(meta: dict, serialized: bytes, params) -> dict:
    return {"algorithm": "sha256", "params": params_sha256(params),
            "function": hashlib.sha256(bytes(serialized)).hexdigest(), "meta": _meta_sha256(meta)}


def fingerprint_problems(meta: dict, serialized: bytes, params) -> list[str]:
    """What does not match the stored fingerprint ("params", "function", "metadata"); [] if all do.
    A file without a fingerprint (version 1) gives one problem saying so."""
    stored = meta.get("fingerprint")
    if not isinstance(stored, dict):
        return ["no fingerprint stored (a version-1 file): its integrity cannot be checked"]
    actual = fingerprint(meta, serialized, params)
    names = {"params": "params", "function": "function", "meta": "metadata"}
    return [f"{names[k]} sha256 {actual[k][:16]}… != stored {str(stored.get(k))[:16]}…"
            for k in names if stored.get(k) != actual[k]]


def read_file(path):
    """``(meta, serialized function bytes, params as numpy arrays)`` of an exported file, read
    with ``allow_pickle=False``. A missing, truncated or corrupt file, or another kind of file, is a
    ValueError naming the path."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            serialized = data["stablehlo"].tobytes()
            params = [np.array(data[f"param_{i:05d}"]) for i in range(meta["num_params"])]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not an exported embedding file, or a truncated or corrupt one "
                         f"({type(error).__name__}: {error})") from error
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
    return meta, serialized, params


def verify_file(path):
    """``(meta, serialized, params)`` after checking the fingerprint; a mismatch is a ValueError
    saying the file was changed or damaged after export."""
    meta, serialized, params = read_file(path)
    _raise_on_mismatch(path, fingerprint_problems(meta, serialized, params))
    return meta, serialized, params


def _raise_on_mismatch(path, problems):
    if problems:
        raise ValueError(f"{os.fspath(path)}: fingerprint mismatch: {'; '.join(problems)}. The file was "
                         f"changed or damaged after export; do not trust its weights or its tables")


def export_embedding(embed_model, variables, path, *, platforms=DEFAULT_PLATFORMS, extra_meta=None):
    """Writes ``models.contract.embed(embed_model, variables, ...)`` (the embedding training and
    evaluation compute) to `path` for the given platforms."""
    from selfgait_jax.models import contract  # pylint: disable=g-import-not-at-top  (loading needs no models)

    leaves, treedef = jax.tree.flatten(variables)
    leaves = [np.asarray(x) for x in leaves]

    def embed(params, frames, mask):
        return contract.embed(embed_model, jax.tree.unflatten(treedef, params), frames, mask)

    b, t = jax.export.symbolic_shape("b, t")
    specs = (
        [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves],
        jax.ShapeDtypeStruct((b, t, *FRAME_SHAPE), jnp.uint8),
        jax.ShapeDtypeStruct((b, t), jnp.bool_),
    )
    exported = jax.export.export(jax.jit(embed), platforms=list(platforms))(*specs)
    out_shape = exported.out_avals[0].shape
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "platforms": list(exported.platforms),
        "inputs": {"frames": "uint8 [b, t, 64, 44], 0/255 silhouettes", "mask": "bool [b, t]"},
        "output": f"float32 [b, {out_shape[1]}, {out_shape[2]}]",
        "parts": int(out_shape[1]),
        "dim": int(out_shape[2]),
        "num_params": len(leaves),
        "parameter_count": int(sum(x.size for x in leaves)),
        "pretreatment": pretreatment_description(),
        "versions": library_versions(),
        **(extra_meta or {}),
    }
    meta = json.loads(json.dumps(meta))  # as it will be read back (tuples become lists)
    serialized = bytes(exported.serialize())
    meta["fingerprint"] = fingerprint(meta, serialized, leaves)
    arrays = {f"param_{i:05d}": x for i, x in enumerate(leaves)}
    arrays["stablehlo"] = np.frombuffer(serialized, np.uint8)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:  # np.savez would append ".npz" to a name without it
        np.savez(f, **arrays)
    return meta


class ExportedEmbedder:
    """Calls an exported embedding function: `embedder(frames uint8 [N, T, 64, 44], mask bool [N, T])`.

    ``embed_fn(params, frames, mask)`` with ``params`` = ``self.params`` is the same function in
    the form ``evaluation.embed.embed_source`` takes (``embed_source(e.embed_fn, e.params, source)``).
    """

    def __init__(self, path):
        path = os.fspath(path)
        self.meta, serialized, self.params = read_file(path)
        if self.meta.get("version", 1) >= 2:  # version-1 files have no fingerprint to check
            _raise_on_mismatch(path, fingerprint_problems(self.meta, serialized, self.params))
        self.path = path
        self.exported = jax.export.deserialize(bytearray(serialized))
        self.params = [jnp.asarray(p) for p in self.params]
        self.embed_fn = jax.jit(self.exported.call)

    @property
    def parts(self) -> int:
        return self.meta["parts"]

    @property
    def dim(self) -> int:
        return self.meta["dim"]

    def __call__(self, frames, mask=None) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[2:] != FRAME_SHAPE or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [N, T, 64, 44], got {frames.dtype} {frames.shape}")
        mask = np.ones(frames.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != frames.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match frames {frames.shape[:2]}")
        return np.asarray(self.embed_fn(self.params, frames, mask))


def load_exported(path) -> ExportedEmbedder:
    """The embedding function stored by `export_embedding` (tools/export.py)."""
    return ExportedEmbedder(path)
