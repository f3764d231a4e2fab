"""Supervised GaitPart baseline (Table 1): batch-all triplet loss on the whole training split, with
GaitPart's published CASIA-B recipe as OpenGait trains it (configs/gaitpart/gaitpart.yaml): Adam
lr 1e-4, no weight decay, ×0.1 at 100k of 120k iterations, 8 × 16 sequences of 30 ordered frames.
(OpenGait also skips up to 10 frames between sampled ones; our ordered windows are consecutive.)
"""

from configs import base


def get_config(arg=None):
    size = base.parse_size(arg)
    c = base.base_config(size, stage="triplet", model="gaitpart", data="synthgait_b")
    c.name = "gaitpart"
    c.total_steps = 12 if size == "tiny" else 120_000
    c.optimizer.schedule = "multistep"
    c.optimizer.boundaries = (10,) if size == "tiny" else (100_000,)
    return c
