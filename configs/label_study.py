"""The label-efficiency study's runs (docs/label_efficiency.md); `tools/label_study.py` runs them all.

    python3 -m selfgait_jax.main --config=configs/label_study.py:SPEC --workdir=DIR

SPEC names one run: ``pretrain,PRETEXT,SEED[,POOL_RATIO[,PASSES]][,onestep]`` (a pretext's
pretraining on the SG-2 pool, or SG-POOL_RATIO, passed twice or PASSES times; ``onestep``: stopped
after one step) or ``finetune,START,FRACTION,SEED`` (fine-tuning on FRACTION of the labels from
START, ``wo_pt`` or a pretext, then the test table; a pretrained start needs
``--config.finetune.init_from=PRETRAIN_WORKDIR``). A trailing ``,tiny`` gives the same run at the
tiny size. The runs, the scale and the constants are declared in
`selfgait_jax/study/label_rows.py`.
"""

from selfgait_jax.study import label_rows


def get_config(arg=None):
    return label_rows.label_config(arg)
