"""The README's main job: BYOL pretraining → fine-tuning from it → the cross-view rank-1 tables.

    python -m selfgait_jax.main --config=configs/quickstart.py --workdir=DIR

A chain config: ``stages`` lists sub-configs run in order, each in ``DIR/<stage>``; a stage whose
``init_from`` is "@<stage>" starts from that earlier stage's workdir; ``evaluate`` names the stage
whose final checkpoint is evaluated (DIR/<stage>/eval/<step>/). Every key can be overridden, e.g.
``--config.pretrain.total_steps=100``. Sized for a few minutes on 2 CPU cores, data generation
and compilation included (4 min from a fresh clone; the README's measurements): a narrow
network on a small SynthGait-B (100 subjects, 4 views; 40 test subjects, 320 probes a condition)
and a pool of twice its training sequences. The README lists the tables of three seeds (rank-1
NM 58.5-70.7, BG 43.1-53.6, CL 45.8-51.1): the seed, not the probe count, is what moves them.
The pretext is the paper's (``pretrain.pretext.name``; docs/pretexts.md says why no other one
replaced it). ``:tiny`` is the seconds-long version the tests run.
"""

from selfgait_jax import config_defaults

QUICK_VIEWS_B = ("000", "054", "090", "144")
QUICK_VIEWS_POOL = ("000", "030", "060", "090")
QUICK_SUBJECTS, QUICK_TRAIN_SUBJECTS = 100, 60  # synthgait_b's split keeps the CASIA-B proportion


def _narrow_model(model):
    model.channels = (8, 16, 32)
    model.d1 = model.d2 = 32
    model.head_hidden = 64


def get_config(arg=None):
    size = arg or "quick"
    if size not in ("quick", "tiny"):
        raise ValueError(f"quickstart size {size!r} is not one of quick, tiny")
    fine = config_defaults.finetune_config("tiny")
    fine.init_from = "@pretrain"
    stages = {"pretrain": config_defaults.pretrain_config("tiny"), "finetune": fine}
    c = config_defaults.chain_config("quickstart", size, stages,
                                     evaluate="finetune")  # --config.evaluate= skips the evaluation
    if size == "tiny":
        return c

    labeled = c.finetune.data
    # 60 train (the CASIA-B proportion), 40 test: 320 probes per condition, so one probe is 0.3
    # points of the table rather than the 2.1 of a 6-subject test split.
    labeled.num_subjects = QUICK_SUBJECTS
    labeled.views = QUICK_VIEWS_B
    labeled.min_frames, labeled.max_frames = 24, 40
    pool = c.pretrain.data
    pool.views = QUICK_VIEWS_POOL
    pool.min_frames, pool.max_frames = 24, 40
    # SG-2: twice the training sequences (60 subjects x 10 types x 4 views).
    pool.pool_base_sequences = QUICK_TRAIN_SUBJECTS * 10 * len(QUICK_VIEWS_B)

    for stage in (c.pretrain, c.finetune):
        stage.size = "quick"
        _narrow_model(stage.model)
        stage.log_every = 20
        stage.checkpoint_every = 100
    c.pretrain.total_steps = 300
    c.pretrain.byol.batch_size = 16
    c.pretrain.byol.k = 12
    c.pretrain.optimizer.lr = 1e-3
    c.finetune.total_steps = 300
    c.finetune.triplet.P, c.finetune.triplet.K, c.finetune.triplet.frames = 4, 4, 12
    c.finetune.optimizer.lr = 1e-3
    return c
