"""Ablation "SG-6 w/o PT" (Table 3): SelfGait fine-tuned on the same 40 % of synthgait_b's training
split as SG-6, from random initialisation (no pretraining stage), then evaluated. A chain with one
stage: DIR/finetune, DIR/finetune/eval/<step>/. It differs from configs/sg6.py only in having no
pretrain stage (finetune.init_from is empty).
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.selfgait_chain(arg, name="ablation_no_pt", model="selfgait",
                                          pretrain=False)
