"""A dataset prepared as TFDS records (``tools/prepare_tfds.py``), read back by random access.

``open_source`` returns a ``TfdsSource`` when ``data.tfds_dir`` is set. It holds the same sequences
in the same order as the source the records were made from (``metas``, ``lengths`` and the frames
of ``load(i)``), so protocols, samplers and pipelines give the same batches from it. Reading needs
TFDS and array_record, not TensorFlow: ``load(i)`` reads and decodes one record, so a process reads
only the sequences it loads (docs/design.md, "The TFDS path").
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from selfgait_jax.data.sequence import SequenceMeta, SequenceSource
from selfgait_jax.errors import ConfigError

# The format only random access reads (what tfds_builders writes by default).
RANDOM_ACCESS_FORMAT = "array_record"


class TfdsSource(SequenceSource):
    """The prepared TFDS dataset at ``path`` (its version folder) as a ``SequenceSource``.

    ``identity`` is ``sources.tfds_identity`` of the data config that asks for it: the records must
    have been made from a config with the same one (else a ``ConfigError`` naming data.tfds_dir).
    """

    def __init__(self, path, identity: dict):
        self.path = str(path)
        builder = tfds.builder_from_directory(self.path)
        index = builder.info.metadata
        if index is None or "sequences" not in index:
            self._fail("holds no sequence index (not prepared by tools/prepare_tfds.py)")
        if index["identity"] != identity:
            self._fail(f"was prepared from {index['identity']}, but the data config describes "
                       f"{identity}; prepare it again with tools/prepare_tfds.py")
        if builder.info.file_format.value != RANDOM_ACCESS_FORMAT:
            self._fail(f"is stored as {builder.info.file_format.value}, but reading one sequence at a "
                       f"time needs {RANDOM_ACCESS_FORMAT}; prepare it again with tools/prepare_tfds.py")
        self.name = builder.name
        self.metas = [SequenceMeta(s, t, v) for s, t, v, _ in index["sequences"]]
        self._lengths = np.asarray([n for *_, n in index["sequences"]], np.int64)
        # Records are stored in source order within each split (int keys, no shuffling), so the
        # i-th sequence is record `position` of its split.
        self._records = {}
        self._where = [None] * len(self.metas)
        for split, indices in index["splits"].items():
            records = builder.as_data_source(split)
            if len(records) != len(indices):
                self._fail(f"split {split!r} has {len(records)} records but its index lists "
                           f"{len(indices)}: the folder is damaged, prepare it again")
            self._records[split] = records
            for position, i in enumerate(indices):
                self._where[i] = (split, position)
        if any(where is None for where in self._where):
            self._fail("its index lists sequences in no split: the folder is damaged, prepare it again")

    def _fail(self, problem: str):
        raise ConfigError("data.tfds_dir", f"the prepared dataset {self.path} {problem}")

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths

    def load(self, index: int) -> np.ndarray:
        split, position = self._where[index]
        record = self._records[split][position]
        meta = self.metas[index]
        stored = SequenceMeta(*(record[key].decode() for key in ("subject", "type", "view")))
        if stored != meta:
            raise ValueError(f"{self.path}: record {position} of split {split!r} holds "
                             f"{stored}, its index says {meta}: the folder is damaged, prepare it again")
        return np.array(record["frames"])  # a fresh, writable array, as every other source's
