"""A trained embedding network as one portable file: serialized StableHLO (jax.export) plus its params.

The file is a NumPy .npz: `stablehlo` (the serialized jax.export.Exported, as uint8), `meta` (JSON,
as uint8) and `param_00000`, `param_00001`, ... (the variables' leaves in tree order). The function
takes `(params: list of arrays, frames uint8 [b, t, 64, 44], mask bool [b, t])` with symbolic batch
`b` and length `t`, and returns float32 [b, parts, dim]; it divides the frames by 255 itself.
Loading needs only jax and numpy: no flax, no model code, no training code.

No pickle anywhere: every entry is a plain numeric array read with `allow_pickle=False`, and
the metadata is JSON, so a file from a stranger is safe to open. The file describes itself: the
training config, the pretreatment, the model's name and parameter count, the evaluations of that
checkpoint found in its workdir (dataset, protocol, table), the open-set threshold where one exists,
the library versions, and a `fingerprint`: sha256 of the parameters, of the serialized function
and of the rest of the metadata. The loader checks the fingerprint, so a file changed or damaged
after export is refused.

This module is the format's one writer (`export_embedding`; `export_checkpoint` gathers what it
describes from a workdir) and its one reader (`read_file`, which brings an older file's metadata
to the current version's keys), with the checks: the fingerprint (`verify_file`) and the stored
table recomputed with the file's own function (`verify`). The last two and `export_checkpoint`
import the model, data and evaluation code when called, so that loading stays jax + numpy.

Versions: 1, the function and its shapes (and the model, dataset and step); 2, self-describing
metadata and the fingerprint, the open-set threshold stored twice (`open_set_threshold` and
`open_set`); 3, the threshold once, in `open_set`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from selfgait_jax.data import pretreatment
from selfgait_jax.data.sequence import CANVAS_WIDTH, FRAME_HEIGHT, FRAME_SHAPE, FRAME_WIDTH

FORMAT = "selfgait_jax.exported_embedding"
VERSION = 3  # 2: self-describing metadata and a fingerprint; 3: the open-set threshold once
DEFAULT_PLATFORMS = ("cpu", "cuda")
# What the current version's metadata holds beyond version 1's, as an older file that lacks a key
# means it: not known (or, for the lists, none stored).
_ADDED_SINCE_VERSION_1 = {"model": None, "dataset": None, "step": None, "config": None, "config_sha256": None,
                          "parameter_count": None, "pretreatment": None, "versions": {}, "evaluations": [],
                          "open_set": None, "fingerprint": None}


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
    """What does not match the fingerprint stored in ``meta`` (as read from the file, before any
    upgrade): "params", "function", "metadata"; [] if all do. A version-1 file has no fingerprint:
    one problem saying so."""
    stored = meta.get("fingerprint")
    if not isinstance(stored, dict):
        return ["no fingerprint stored (a version-1 file): its integrity cannot be checked"]
    actual = fingerprint(meta, serialized, params)
    names = {"params": "params", "function": "function", "meta": "metadata"}
    return [f"{names[k]} sha256 {actual[k][:16]}… != stored {str(stored.get(k))[:16]}…"
            for k in names if stored.get(k) != actual[k]]


def _upgrade(stored: dict) -> dict:
    """An older file's metadata in the current version's keys; the file's own ``version`` is kept."""
    meta = copy.deepcopy(stored)
    threshold = meta.pop("open_set_threshold", None)  # version 2: also in "open_set", or only here
    if meta.get("open_set") is None and threshold is not None:
        meta["open_set"] = {"threshold": threshold}
    if meta.get("open_set") is not None:
        meta["open_set"].setdefault("metric", "euclidean")  # before eval.metric, the only distance
    for key, absent in _ADDED_SINCE_VERSION_1.items():
        meta.setdefault(key, copy.deepcopy(absent))
    return meta


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """An exported file as read: ``meta`` in the current version's keys (`_upgrade`), the serialized
    function, the parameters, and ``problems``: what fails its fingerprint (`fingerprint_problems`)."""
    path: str
    meta: dict
    serialized: bytes
    params: list
    problems: tuple


def read_file(path) -> ModelFile:
    """The one reader of the format, with ``allow_pickle=False``. A missing, truncated or corrupt
    file, or another kind of file, is a ValueError naming the path."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = json.loads(bytes(data["meta"]).decode())
            serialized = data["stablehlo"].tobytes()
            params = [np.array(data[f"param_{i:05d}"]) for i in range(stored["num_params"])]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not an exported embedding file, or a truncated or corrupt one "
                         f"({type(error).__name__}: {error})") from error
    if stored.get("format") != FORMAT:
        raise ValueError(f"{path}: format {stored.get('format')!r} is not {FORMAT!r}")
    return ModelFile(path, _upgrade(stored), serialized, params,
                     tuple(fingerprint_problems(stored, serialized, params)))


def verify_file(path) -> ModelFile:
    """`read_file` after checking the fingerprint; a mismatch is a ValueError saying the file was
    changed or damaged after export."""
    found = read_file(path)
    _raise_on_mismatch(found.path, found.problems)
    return found


def _raise_on_mismatch(path, problems):
    if problems:
        raise ValueError(f"{os.fspath(path)}: fingerprint mismatch: {'; '.join(problems)}. The file was "
                         f"changed or damaged after export: do not trust its weights or its tables")


def open_set_summary(evaluations):
    """The first evaluation's open-set entry without its curve, with the evaluation it came from
    (tools/identify.py answers "unknown" above its threshold and reads the metric and rates from it),
    or None when no evaluation defines a threshold (results.json "open_set", written by
    tools/evaluate.py at its --far)."""
    for evaluation in evaluations:
        entry = evaluation["results"].get("open_set") or {}
        if entry.get("threshold") is not None:
            keep = ("threshold", "target_far", "far", "tar", "eer", "metric", "decision", "distance", "identification")
            return {"source": evaluation["source"], "dataset": evaluation["results"].get("dataset"),
                    **{k: entry[k] for k in keep if k in entry}}
    return None


def export_embedding(embed_model, variables, path, *, platforms=DEFAULT_PLATFORMS, model=None, step=None,
                     config=None, config_sha256=None, evaluations=()) -> dict:
    """The one writer: ``models.contract.embed(embed_model, variables, ...)`` (the embedding training
    and evaluation compute) for the given platforms, with what describes it: the ``model`` name, the
    checkpoint ``step``, the training ``config`` as JSON (``workdir.config_to_json``) and its
    ``config_sha256``, and ``evaluations`` of that checkpoint (each ``{"source", "results"}``), whose
    first open-set threshold becomes ``open_set``. Returns the metadata written."""
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
    evaluations = list(evaluations)
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
        "model": model,
        "dataset": config["data"]["name"] if config else None,
        "step": step,
        "config": config,
        "config_sha256": config_sha256,
        "evaluations": evaluations,
        "open_set": open_set_summary(evaluations),
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
        found = read_file(path)
        if found.meta["version"] >= 2:  # version-1 files have no fingerprint to check
            _raise_on_mismatch(found.path, found.problems)
        self.path, self.meta = found.path, found.meta
        self.exported = jax.export.deserialize(bytearray(found.serialized))
        self.params = [jnp.asarray(p) for p in found.params]
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


def stored_evaluations(workdir, step: int, config_hash: str, extra=()) -> tuple[list, list]:
    """``(evaluations, skipped)``: results.json files of checkpoint ``step`` in WORKDIR/eval/<step>
    and WORKDIR/eval/<step>-<dataset> (plus ``extra`` paths), each as {"source", "results"}; files of
    another step or another config are skipped with the reason."""
    eval_dir = Path(workdir) / "eval"
    paths = [eval_dir / str(step) / "results.json"]
    paths += sorted(eval_dir.glob(f"{step}-*/results.json"))
    paths += [Path(p) for p in extra]
    found, skipped = [], []
    for path in paths:
        if not path.is_file():
            if path in [Path(p) for p in extra]:
                skipped.append(f"{path}: no such file")
            continue
        results = json.loads(path.read_text())
        checkpoint = results.get("checkpoint", {})
        if checkpoint.get("step") != step:
            skipped.append(f"{path}: evaluates step {checkpoint.get('step')}, not {step}")
        elif checkpoint.get("config_sha256", config_hash) != config_hash:
            skipped.append(f"{path}: evaluates another config (sha256 {checkpoint['config_sha256'][:16]}…)")
        else:
            found.append({"source": str(path.parent.name), "results": results})
    return found, skipped


def export_checkpoint(workdir, step, path, *, platforms=DEFAULT_PLATFORMS, results=()) -> tuple[dict, list]:
    """Writes checkpoint ``step`` (default: the latest) of ``workdir`` to ``path`` with its config and
    the evaluations of that step stored in the workdir (plus the results.json files ``results``).
    Returns ``(metadata, skipped)``: the evaluations left out, each with the reason."""
    from selfgait_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top  (see the module doc)

    config, embed_model, variables, step = workdir_lib.load_for_inference(os.fspath(workdir), step)
    stored = workdir_lib.stored_config(os.fspath(workdir), step)  # as the run stored it: its identity
    config_hash = workdir_lib.config_sha256(stored)
    evaluations, skipped = stored_evaluations(workdir, step, config_hash, results)
    meta = export_embedding(embed_model, variables, path, platforms=platforms, model=config.model.name,
                            step=step, config=stored, config_sha256=config_hash, evaluations=evaluations)
    return meta, skipped


# --- verification: what a file says it is, and its stored table recomputed ---------------------

NUMBERS = (("rank-1", "mean"), ("rank-5", "rank5_mean"), ("mAP", "mAP"))


def _known(value) -> str:
    return "?" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def describe(meta: dict) -> str:
    """What the file says it is, a line per fact ("?" for what an older file does not say)."""
    threshold = meta["open_set"]["threshold"] if meta["open_set"] else None
    lines = [
        f"model: {_known(meta['model'])}, {_known(meta['parameter_count'])} parameters, output "
        f"{meta['output']}, checkpoint step {meta['step'] if meta['step'] is not None else '?'}",
        f"trained on: {_known(meta['dataset'])} (config sha256 {_known(meta['config_sha256'])[:16]}…)",
        "pretreatment: " + "; ".join(f"{k} {v}" for k, v in (meta["pretreatment"] or {}).items()
                                     if k in ("frame", "centring", "binarisation")),
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v),
        f"open-set threshold: {threshold}",
    ]
    for e in meta["evaluations"]:
        r = e["results"]
        p = r.get("protocol") or {}
        split = f"{p.get('split', '?')} split, {p.get('test_subjects', {}).get('count', '?')} test subjects"
        lines.append(f"stored table ({e['source']}): {r['dataset']}, protocol {p.get('name', '?')} ({split}), "
                     f"{r['metric']}, frames {p.get('frames_used', 'all')}: "
                     + ", ".join(f"{c} {v['mean']:.2f}" for c, v in r["conditions"].items()
                                 if v["mean"] is not None))
    return "\n".join(lines)


def pick_evaluation(meta: dict, data: str | None) -> dict:
    """The stored evaluation on dataset ``data`` ("NAME" or "NAME:SIZE"), or the first one."""
    evaluations = meta["evaluations"]
    if not data:
        return evaluations[0]
    name = data.partition(":")[0]
    for e in evaluations:
        if e["results"]["dataset"] == name:
            return e
    raise ValueError(f"--data={data}: the file stores no table on {name}; it has "
                     f"{[e['results']['dataset'] for e in evaluations]}")


def stored_data_config(meta: dict, results: dict, data_root: str, cache_dir: str, partition: str = ""):
    """The evaluation's data config as the file stores it (keys added since filled with today's
    defaults), with this machine's root and cache."""
    import ml_collections  # pylint: disable=g-import-not-at-top  (see the module doc)

    from selfgait_jax.data import datasets, sources, splits  # pylint: disable=g-import-not-at-top

    stored = (results.get("protocol") or {}).get("data")
    if stored is None:  # a results.json from before protocols were stated: the training data
        stored = (meta["config"] or {}).get("data")
        if not stored or stored.get("name") != results["dataset"]:
            raise ValueError(f"the stored {results['dataset']} table does not say which data config it "
                             f"used; it cannot be recomputed")
    data = sources.data_config(stored["name"])
    stored = {sources.RENAMED_KEYS.get(k, k): v for k, v in stored.items()}
    data.update({k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in data})
    data.root = data_root or ""
    data.cache_dir = cache_dir or ""  # never a folder the file names
    if datasets.DATASETS[data.name].needs_root and not data.root:
        raise ValueError(f"the stored table is on {data.name}, read from disk: give its folder with "
                         f"--data_root=PATH")
    if data.partition in splits.PARTITIONS and not partition:  # shipped with the package: same bytes here
        partition = str(splits.partition_path(data.partition))
    if data.partition:  # the exporter's path means nothing here: the user's copy, same bytes
        want = ((results.get("protocol") or {}).get("partition") or {}).get("sha256")
        if not partition:
            raise ValueError(f"the stored table used the partition file {data.partition}: give your copy "
                             f"with --partition=FILE")
        have = hashlib.sha256(Path(partition).read_bytes()).hexdigest()
        if want and have != want:
            raise ValueError(f"--partition={partition} is not the file the stored table used "
                             f"(sha256 {have[:16]}… != {want[:16]}…)")
        data.partition = partition
    return ml_collections.ConfigDict(data)


def recompute(path, results: dict, data) -> tuple[dict, object]:
    """The table of ``results``' protocol recomputed with the file's function on ``data``."""
    import ml_collections  # pylint: disable=g-import-not-at-top  (see the module doc)

    from selfgait_jax.evaluation import embed  # pylint: disable=g-import-not-at-top
    from selfgait_jax.evaluation.api import PeriodicEvaluator  # pylint: disable=g-import-not-at-top

    config = ml_collections.ConfigDict({"data": data, "eval": {
        "metric": results["metric"], "drop_missing_gallery": bool(results.get("drop_missing_gallery", True)),
        "batch_size": 0, "max_length": int(results.get("max_length") or 0)}})
    evaluator = PeriodicEvaluator(config, None)
    embeddings = embed.embed_exported(load_exported(path), evaluator.source, indices=evaluator.indices,
                                      max_length=evaluator.max_length)
    return evaluator.results(embeddings), evaluator


def compare(stored: dict, again: dict, tolerance: float) -> tuple[list[list[str]], bool]:
    """A row per condition and number (stored, recomputed, difference, within ``tolerance``?), and
    whether every one matches."""
    rows, ok = [], True
    for cond, c in stored["conditions"].items():
        for label, key in NUMBERS:
            a, b = c.get(key), again["conditions"].get(cond, {}).get(key)
            if a is None or b is None:
                match = a is None and b is None
                diff = "-"
            else:
                match = abs(a - b) <= tolerance
                diff = f"{abs(a - b):.2f}"
            ok &= match
            rows.append([cond, label, "-" if a is None else f"{a:.2f}", "-" if b is None else f"{b:.2f}",
                         diff, "match" if match else "MISMATCH"])
    return rows, ok


def verify(path, *, data=None, data_root="", cache_dir="", partition="", tolerance=0.5, say=print) -> bool:
    """Checks the file's fingerprint (a mismatch is a ValueError), says what the file is, then
    recomputes the stored evaluation on dataset ``data`` (default: the first) and says, per
    condition and number, whether it matches within ``tolerance`` percentage points. True when
    everything matches (or nothing is stored to recompute)."""
    found = verify_file(path)
    meta = found.meta
    say(f"{found.path}: fingerprint OK (params sha256 {meta['fingerprint']['params']})")
    say(describe(meta))
    if not meta["evaluations"]:
        say("no stored table to recompute (the workdir had no evaluation of this step at export)")
        return True
    stored = pick_evaluation(meta, data)["results"]
    again, evaluator = recompute(found.path, stored, stored_data_config(meta, stored, data_root, cache_dir,
                                                                        partition))
    stored_split = (stored.get("protocol") or {}).get("test_subjects", {}).get("sha256")
    if stored_split and stored_split != again["protocol"]["test_subjects"]["sha256"]:
        say(f"warning: the test subjects found in this data ({again['protocol']['test_subjects']['count']}) "
            f"are not the stored ones ({stored['protocol']['test_subjects']['count']}): differences "
            f"are expected")
    rows, ok = compare(stored, again, tolerance)
    header = ["condition", "number", "stored", "recomputed", "|difference|", f"within {tolerance:g}?"]
    say(f"\nrecomputed {stored['dataset']} ({len(evaluator.indices)} test sequences) with the file's "
        f"function:")
    say("\n".join("| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header)] + rows))
    matched = sum(r[-1] == "match" for r in rows)
    say(f"\n{'OK' if ok else 'MISMATCH'}: {matched} of {len(rows)} numbers match the stored table "
        f"within {tolerance:g} percentage points")
    return ok
