"""Ablation "w/o HPM": BYOL pretraining with a plain CNN + global pooling instead of the pyramid.

Fine-tune it like SelfGait: ``configs/finetune.py --config.model.name=selfgait_no_hpm
--config.init_from=THIS_DIR`` (or the chain in ``configs/quickstart.py`` with ``model=``).
"""

from configs import base


def get_config(arg=None):
    c = base.base_config(base.parse_size(arg), stage="pretrain", model="selfgait_no_hpm",
                         data="synthgait_pool")
    c.name = "ablation_no_hpm"
    return c
