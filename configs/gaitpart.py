"""Supervised GaitPart baseline (Table 1): batch-all triplet loss on the whole training split, with
GaitPart's published CASIA-B recipe as OpenGait trains it (configs/gaitpart/gaitpart.yaml): Adam
lr 1e-4, no weight decay, ×0.1 at 100k of 120k iterations, 8 × 16 sequences of 30 ordered frames.
(OpenGait also skips up to 10 frames between sampled ones; our ordered windows are consecutive.)
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.gaitpart_config(config_defaults.parse_size(arg))
