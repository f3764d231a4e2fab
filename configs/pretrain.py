"""BYOL pretraining of SelfGait on the unlabeled SynthGait pool (the card's main command).

    python3 -m selfgait_jax.main --config=configs/pretrain.py --workdir=DIR
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.pretrain_config(config_defaults.parse_size(arg))
