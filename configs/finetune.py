"""Fine-tune a pretrained SelfGait with the batch-all triplet loss on 40 % of the training split.

    python -m selfgait_jax.main --config=configs/finetune.py --config.init_from=PRETRAIN_DIR --workdir=DIR

Without init_from the config is refused (require_init_from): fine-tuning from random initialisation
is the w/o PT ablation, configs/ablation_no_pt.py.
"""

from configs import base


def get_config(arg=None):
    c = base.base_config(base.parse_size(arg), stage="triplet", model="selfgait", data="synthgait_b")
    c.name = "finetune"
    c.triplet.label_fraction = 0.4  # the paper's fine-tuning set
    c.require_init_from = True
    return c
