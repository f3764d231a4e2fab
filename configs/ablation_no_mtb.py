"""Ablation "w/o MTB": BYOL pretraining with a plain temporal conv net instead of the MTB."""

from configs import base


def get_config(arg=None):
    c = base.base_config(base.parse_size(arg), stage="pretrain", model="selfgait_no_mtb",
                         data="synthgait_pool")
    c.name = "ablation_no_mtb"
    return c
