"""Ablation "SG-6 w/o HPM" (Table 3): SG-6 with global pooling (model.bins=(1,)) instead of the
horizontal pyramid, on the same GaitSet conv stack (docs/models.md: why this reading); pretrained with
BYOL on a 6× pool, fine-tuned on 40 % of the labels, evaluated. A chain: DIR/pretrain, DIR/finetune.
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.selfgait_chain(arg, name="ablation_no_hpm", model="selfgait_no_hpm",
                                          pool_ratio=6.0)
