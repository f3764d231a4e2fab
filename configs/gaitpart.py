"""Supervised GaitPart baseline (batch-all triplet loss on the whole training split)."""

from configs import base


def get_config(arg=None):
    c = base.base_config(base.parse_size(arg), stage="triplet", model="gaitpart", data="synthgait_b")
    c.name = "gaitpart"
    return c
