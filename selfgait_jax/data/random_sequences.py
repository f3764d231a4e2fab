"""Random silhouette sequences, for the speed measurements of tools/bench/ (the content of a frame
does not change the cost of anything they time)."""

from __future__ import annotations

import numpy as np

from selfgait_jax.data.sequence import FRAME_HEIGHT, FRAME_WIDTH, SequenceSource


class RandomSequences(SequenceSource):
    """A ``SequenceSource`` of random 0/255 frames for ``metas``, lengths uniform in [min_len, max_len]
    drawn by ``seed``; sequence i is the same on every load."""

    name = "random"

    def __init__(self, metas, min_len: int, max_len: int, height: int = FRAME_HEIGHT, width: int = FRAME_WIDTH,
                 seed: int = 0):
        self.metas = list(metas)
        self._lengths = np.random.default_rng(seed).integers(min_len, max_len + 1, len(self.metas))
        self.shape = (height, width)
        self._seed = seed

    @property
    def lengths(self) -> np.ndarray:
        return self._lengths

    def load(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self._seed, index])
        return np.where(rng.random((int(self._lengths[index]), *self.shape)) < 0.3, 255, 0).astype(np.uint8)
