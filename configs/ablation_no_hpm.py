"""Ablation "w/o HPM" (SG-6): a plain CNN + global pooling instead of the pyramid, pretrained with
BYOL on a 6× pool, fine-tuned on 40 % of the labels, evaluated. A chain: DIR/pretrain, DIR/finetune.
"""

from configs import base


def get_config(arg=None):
    return base.selfgait_chain(arg, name="ablation_no_hpm", model="selfgait_no_hpm", pool_ratio=6.0)
