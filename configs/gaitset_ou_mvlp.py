"""Supervised GaitSet baseline on OU-MVLP (Table 2), with GaitSet's published OU-MVLP recipe (the
AAAI 2019 paper; OpenGait's configs/gaitset/gaitset_OUMVLP.yaml is the same): channels doubled to
64/128/256, Adam lr 1e-4 ×0.1 at 150k of 250k iterations, 32 × 16 sequences of 30 unordered frames.
The real OU-MVLP (OpenGait's pkl tree) is read from data.root:

    python3 -m selfgait_jax.main --config=configs/gaitset_ou_mvlp.py --config.data.root=PKL_ROOT --workdir=DIR

``:tiny`` runs on a tiny synthgait_mv (no data.root).
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    size = config_defaults.parse_size(arg)
    tiny = size == "tiny"
    c = config_defaults.base_config(size, stage="triplet", model="gaitset",
                                    data="synthgait_mv" if tiny else "ou_mvlp")
    c.name = "gaitset_ou_mvlp"
    c.triplet.ordered = False  # GaitSet treats a sequence as an unordered set of frames
    c.total_steps = 12 if tiny else 250_000
    c.optimizer.schedule = "multistep"
    c.optimizer.boundaries = (8,) if tiny else (150_000,)
    if not tiny:
        c.triplet.P = 32
        c.model.channels = (64, 128, 256)
    return c
