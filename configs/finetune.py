"""Fine-tune a pretrained SelfGait with the batch-all triplet loss on 40 % of the training split.

    python3 -m selfgait_jax.main --config=configs/finetune.py --config.init_from=PRETRAIN_DIR --workdir=DIR

Without init_from the config is refused (require_init_from): fine-tuning from random initialisation
is the w/o PT ablation, configs/ablation_no_pt.py.
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.finetune_config(config_defaults.parse_size(arg))
