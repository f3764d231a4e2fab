"""Supervised GaitPart baseline on OU-MVLP (Table 2), with the recipe of OpenGait's
configs/gaitpart/gaitpart_OUMVLP.yaml: Adam lr 1e-4 ×0.1 at 150k of 250k iterations, 32 × 16
sequences of 30 ordered frames. One difference: OpenGait (like the GaitPart paper) adds two FocalConv
layers of 256 channels after the third block for OU-MVLP; our GaitPart stack has no such option and
keeps its CASIA-B layers. The real OU-MVLP (OpenGait's pkl tree) is read from data.root:

    python3 -m selfgait_jax.main --config=configs/gaitpart_ou_mvlp.py --config.data.root=PKL_ROOT --workdir=DIR

``:tiny`` runs on a tiny synthgait_mv (no data.root).
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    size = config_defaults.parse_size(arg)
    tiny = size == "tiny"
    c = config_defaults.base_config(size, stage="triplet", model="gaitpart",
                                    data="synthgait_mv" if tiny else "ou_mvlp")
    c.name = "gaitpart_ou_mvlp"
    c.total_steps = 12 if tiny else 250_000
    c.optimizer.schedule = "multistep"
    c.optimizer.boundaries = (8,) if tiny else (150_000,)
    if not tiny:
        c.triplet.P = 32
    return c
