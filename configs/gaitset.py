"""Supervised GaitSet baseline (batch-all triplet loss on the whole training split)."""

from configs import base


def get_config(arg=None):
    c = base.base_config(base.parse_size(arg), stage="triplet", model="gaitset", data="synthgait_b")
    c.name = "gaitset"
    c.triplet.ordered = False  # GaitSet treats a sequence as an unordered set of frames
    return c
