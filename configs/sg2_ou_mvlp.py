"""SG-2 on OU-MVLP (Table 2): pretraining on 2 × 8,140 sequences drawn from OU-MVLP's training half
(pool mode, ``data.pool_ratio=2``), fine-tuning on 40 % of that half, then the 14-view table. 150k
iterations per stage, Adam 1e-4 ×0.1 at 100k (the paper: "150K iterations with learning rate decay";
the decay step is ours). The real OU-MVLP (OpenGait's pkl tree) is read from data.root, one setting
for both stages:

    python3 -m selfgait_jax.main --config=configs/sg2_ou_mvlp.py --config.pretrain.data.root=PKL_ROOT --workdir=DIR

``:tiny`` runs the same chain on a tiny synthgait_mv (no data.root).
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.selfgait_ou_mvlp_chain(arg, name="sg2_ou_mvlp", pool_ratio=2.0)
