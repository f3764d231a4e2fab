"""SG-6 (Table 1): BYOL pretraining of SelfGait on a pool of 6× the labelled training set's sequences
(synthgait_pool, pool_ratio 6; the paper's OU-MVLP subset), fine-tuning on 40 % of synthgait_b's
training split (the paper's CASIA-B LT), then the cross-view tables. A chain: DIR/pretrain,
DIR/finetune, DIR/finetune/eval/<step>/.

    python3 -m selfgait_jax.main --config=configs/sg6.py --workdir=DIR
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.selfgait_chain(arg, name="sg6", model="selfgait", pool_ratio=6.0)
