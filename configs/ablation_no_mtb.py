"""Ablation "SG-6 w/o MTB" (Table 3): a plain temporal conv net instead of the MTB, pretrained with
BYOL on a 6× pool, fine-tuned on 40 % of the labels, evaluated. A chain: DIR/pretrain, DIR/finetune.
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.selfgait_chain(arg, name="ablation_no_mtb", model="selfgait_no_mtb",
                                          pool_ratio=6.0)
