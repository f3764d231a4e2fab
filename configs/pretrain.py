"""BYOL pretraining of SelfGait on the unlabeled SynthGait pool (the card's main command).

    python -m selfgait_jax.main --config=configs/pretrain.py --workdir=DIR
"""

from configs import base


def get_config(arg=None):
    return base.base_config(base.parse_size(arg), stage="pretrain", model="selfgait",
                            data="synthgait_pool")
