"""A trained embedding network as one portable file: serialized StableHLO (jax.export) plus its params.

The file is a NumPy .npz: `stablehlo` (the serialized jax.export.Exported, as uint8), `meta` (JSON,
as uint8) and `param_00000`, `param_00001`, ... (the variables' leaves in tree order). The function
takes `(params: list of arrays, frames uint8 [b, t, 64, 44], mask bool [b, t])` with symbolic batch
`b` and length `t`, and returns float32 [b, parts, dim]; it divides the frames by 255 itself.
Loading needs only jax and numpy: no flax, no model code, no training code.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.data.sequence import FRAME_SHAPE

FORMAT = "selfgait_jax.exported_embedding"
VERSION = 1
DEFAULT_PLATFORMS = ("cpu", "cuda")


def export_embedding(embed_model, variables, path, *, platforms=DEFAULT_PLATFORMS, extra_meta=None):
    """Writes `embed_model.apply(variables, ...)` (train=False) to `path` for the given platforms."""
    leaves, treedef = jax.tree.flatten(variables)
    leaves = [np.asarray(x) for x in leaves]

    def embed(params, frames, mask):
        frames = frames.astype(jnp.float32) / 255.0
        out = embed_model.apply(jax.tree.unflatten(treedef, params), frames, mask, train=False)
        return out.astype(jnp.float32)

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
        **(extra_meta or {}),
    }
    arrays = {f"param_{i:05d}": x for i, x in enumerate(leaves)}
    arrays["stablehlo"] = np.frombuffer(bytes(exported.serialize()), np.uint8)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:  # np.savez would append ".npz" to a name without it
        np.savez(f, **arrays)
    return meta


class ExportedEmbedder:
    """Calls an exported embedding function: `embedder(frames uint8 [N, T, 64, 44], mask bool [N, T])`."""

    def __init__(self, path):
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                self.meta = json.loads(bytes(data["meta"]).decode())
                serialized = bytearray(data["stablehlo"].tobytes())
                self.params = [data[f"param_{i:05d}"] for i in range(self.meta["num_params"])]
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"{path}: not an exported embedding file ({error})") from error
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {self.meta.get('format')!r} is not {FORMAT!r}")
        self.path = path
        self.exported = jax.export.deserialize(serialized)
        self.params = [jnp.asarray(p) for p in self.params]
        self._call = jax.jit(self.exported.call)

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
        return np.asarray(self._call(self.params, frames, mask))


def load_exported(path) -> ExportedEmbedder:
    """The embedding function stored by `export_embedding` (tools/export.py)."""
    return ExportedEmbedder(path)
