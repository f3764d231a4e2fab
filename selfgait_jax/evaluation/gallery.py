"""An enrolled gallery: named walkers' embeddings in one .npz, tied to the model that made them.

The file holds ``embeddings`` float32 [N, parts, dim] (one row per enrolled sequence), ``names``,
``sources`` (where each sequence came from) and ``enrolled`` (UTC times) as fixed-width unicode
arrays, and ``meta`` (JSON as uint8): the format, and the model's identity, the sha256 of its
parameters and of its serialized function (the exported file's fingerprint). No pickle: it is read
with ``allow_pickle=False``. An identity may have several sequences; it is as near as its nearest one.

Embeddings of two models are not comparable, so a gallery only takes (``check_model``) and is only
searched with the model it was enrolled with. Writes are atomic (a temporary file in the same
folder, flushed to disk, then ``os.replace``): an interrupted enroll leaves the previous file whole.
``locked`` serialises read-modify-write cycles of several processes on one gallery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from selfgait_jax.errors import GalleryNotFound, ModelMismatchError

FORMAT = "selfgait_jax.gallery"
VERSION = 1


def model_identity(embedder) -> dict:
    """Which model an ``ExportedEmbedder`` is: the sha256 of its parameters and of its function
    (from the file's fingerprint; computed for a version-1 file, which has none), plus its name,
    step and config hash for messages."""
    from selfgait_jax.evaluation import exported  # pylint: disable=g-import-not-at-top

    meta = embedder.meta  # in the current version's keys (exported.read_file)
    stored = meta["fingerprint"]
    if stored is None:  # a version-1 file
        params = exported.params_sha256([np.asarray(p) for p in embedder.params])
        function = hashlib.sha256(bytes(embedder.exported.serialize())).hexdigest()
    else:
        params, function = stored["params"], stored["function"]
    return {"params_sha256": params, "function_sha256": function, "model": meta["model"],
            "step": meta["step"], "config_sha256": meta["config_sha256"], "parts": embedder.parts,
            "dim": embedder.dim, "file": os.path.basename(os.fspath(embedder.path))}


def describe_model(model: dict) -> str:
    what = f"{model.get('model') or 'a model'}" + (f" step {model['step']}" if model.get("step") is not None else "")
    return f"{what} from {model.get('file')} (params sha256 {str(model.get('params_sha256'))[:16]}…)"


@dataclasses.dataclass
class Gallery:
    model: dict
    embeddings: np.ndarray  # float32 [N, parts, dim]
    names: list[str]
    sources: list[str]
    enrolled: list[str]

    @classmethod
    def empty(cls, model: dict) -> Gallery:
        return cls(dict(model), np.zeros((0, model["parts"], model["dim"]), np.float32), [], [], [])

    def __len__(self) -> int:
        return len(self.names)

    def identities(self) -> dict[str, int]:
        """Each enrolled name with its number of sequences, in enrolment order."""
        counts: dict[str, int] = {}
        for name in self.names:
            counts[name] = counts.get(name, 0) + 1
        return counts

    def check_model(self, model: dict, path="the gallery") -> None:
        """Refuses (``ModelMismatchError``) a model other than the one that made the embeddings."""
        same = (model["params_sha256"] == self.model["params_sha256"]
                and model["function_sha256"] == self.model["function_sha256"])
        if not same:
            raise ModelMismatchError(
                f"{path} holds embeddings made by {describe_model(self.model)}, but the model given is "
                f"{describe_model(model)}. Embeddings of two models cannot be compared: use the gallery's "
                f"own model, or enroll everyone again into a new gallery file with this one")

    def add(self, name: str, embedding: np.ndarray, source: str) -> None:
        if not name or not name.strip():
            raise ValueError("a name must not be empty")
        embedding = np.asarray(embedding, np.float32)
        if embedding.shape != self.embeddings.shape[1:]:
            raise ValueError(f"embedding of shape {embedding.shape}; the gallery's are {self.embeddings.shape[1:]}")
        self.embeddings = np.concatenate([self.embeddings, embedding[None]])
        self.names.append(name)
        self.sources.append(str(source))
        self.enrolled.append(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))

    def remove(self, name: str) -> int:
        """Removes every sequence of ``name``; returns how many (a ValueError if there is none)."""
        keep = [i for i, n in enumerate(self.names) if n != name]
        removed = len(self.names) - len(keep)
        if not removed:
            raise ValueError(f"{name!r} is not enrolled (enrolled: {', '.join(self.identities()) or 'nobody'})")
        self.embeddings = self.embeddings[keep]
        self.names, self.sources, self.enrolled = ([v[i] for i in keep] for v in (self.names, self.sources,
                                                                                    self.enrolled))
        return removed


def load_gallery(path) -> Gallery:
    """Reads a gallery file (no pickle). A missing file is ``GalleryNotFound``; a corrupt or foreign
    one is a ValueError naming it."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            arrays = {k: np.array(data[k]) for k in ("embeddings", "names", "sources", "enrolled")}
    except FileNotFoundError:
        raise GalleryNotFound(path) from None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a gallery file, or a truncated or corrupt one "
                         f"({type(error).__name__}: {error})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"{path}: gallery version {meta['version']} is newer than this code's {VERSION}")
    count = len(arrays["names"])
    if any(len(arrays[k]) != count for k in arrays) or arrays["embeddings"].ndim != 3:
        raise ValueError(f"{path}: inconsistent gallery (row counts differ)")
    return Gallery(meta["model"], arrays["embeddings"].astype(np.float32),
                   *([str(x) for x in arrays[k]] for k in ("names", "sources", "enrolled")))


def save_gallery(gallery: Gallery, path) -> None:
    """Writes atomically: a temporary file beside ``path``, fsynced, then renamed over it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    meta = {"format": FORMAT, "version": VERSION, "model": gallery.model}
    arrays = {
        "embeddings": np.asarray(gallery.embeddings, np.float32),
        "names": np.array(gallery.names, dtype=str).reshape(-1),
        "sources": np.array(gallery.sources, dtype=str).reshape(-1),
        "enrolled": np.array(gallery.enrolled, dtype=str).reshape(-1),
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
    }
    handle, scratch = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise


@contextlib.contextmanager
def locked(path):
    """Holds an exclusive lock on ``path``.lock while a gallery is read, changed and written."""
    lock_path = os.fspath(path) + ".lock"
    os.makedirs(os.path.dirname(os.path.abspath(lock_path)), exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def enroll(path, model, name: str, read_walk) -> tuple[Gallery, str, int]:
    """Adds one walk under ``name`` to the gallery file at ``path`` (created by the first enrolment),
    embedded with the exported ``model``; returns ``(gallery, source, frames)``.

    ``read_walk() -> (source description, frames uint8 [T, 64, 44])`` is called only once the
    gallery has accepted the model, so a mismatch is refused before a video is read. The whole
    read-modify-write holds the gallery's lock; the write is atomic.
    """
    from selfgait_jax.data.sources import ArraySource, SequenceMeta  # pylint: disable=g-import-not-at-top
    from selfgait_jax.evaluation import embed  # pylint: disable=g-import-not-at-top

    identity = model_identity(model)
    with locked(path):
        try:
            gallery = load_gallery(path)
        except GalleryNotFound:
            gallery = Gallery.empty(identity)
        gallery.check_model(identity, path)
        source, frames = read_walk()
        walk = ArraySource("enroll", [SequenceMeta(name, "enroll", "enroll")], [frames])
        gallery.add(name, embed.embed_exported(model, walk)[0], source)
        save_gallery(gallery, path)
    return gallery, source, len(frames)


def remove(path, name: str) -> tuple[Gallery, int]:
    """Removes every walk of ``name`` from the gallery file at ``path``; returns the gallery and how
    many walks went (a ValueError if ``name`` is not enrolled)."""
    with locked(path):
        gallery = load_gallery(path)
        removed = gallery.remove(name)
        save_gallery(gallery, path)
    return gallery, removed


def searchable(path, model) -> tuple[np.ndarray, list, str]:
    """``(embeddings [N, parts, dim], metas, description)`` of the gallery file at ``path``, to be
    searched with the exported ``model`` (None, a workdir's network, is refused: only the model that
    enrolled a gallery can search it)."""
    from selfgait_jax.data.sources import SequenceMeta  # pylint: disable=g-import-not-at-top

    if model is None:
        raise ValueError(f"{path}: an enrolled gallery is searched with the model it was enrolled "
                         f"with: give --model=FILE, not --workdir")
    gallery = load_gallery(path)
    gallery.check_model(model_identity(model), path)
    if not len(gallery):
        raise ValueError(f"{path}: nobody is enrolled")
    metas = [SequenceMeta(n, s, "") for n, s in zip(gallery.names, gallery.sources)]
    return gallery.embeddings, metas, f"{len(gallery.identities())} identities, {len(gallery)} walks"
