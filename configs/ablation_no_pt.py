"""Ablation "w/o PT": SelfGait fine-tuned on the same 40 % labels from random initialisation."""

from configs import finetune


def get_config(arg=None):
    c = finetune.get_config(arg)
    c.name = "ablation_no_pt"
    c.init_from = ""
    return c
