"""The reproduction study's rows at a declared CPU-sized scale: which rows, how many seeds each, and
how each row's chain is built. ``configs/study.py`` is the config file over `study_config`; the runner
and the report read `ROWS`, `seeds` and `Row` from here.

ROW is one of `ROWS` (Tables 1 and 3 of the paper: w/o PT, SG-2/4/6, SG-6 w/o HPM / w/o MTB, the
supervised baselines); the seed draws the initialisation, the batches and the 40 % labelled subset.
Every row is a chain: DIR/pretrain (SG rows only) → DIR/finetune → DIR/finetune/eval/<step>/.

What is scaled down, and what is not (docs/reproduction.md):
- Data as the paper: SynthGait-B with all 11 views, the 74 / 50 subject split, NM/BG/CL; the SG
  pools sized 2x, 4x, 6x the labelled training set's 8,140 sequences (synthgait_pool, OU-MVLP's
  14 views, 18-35 frames, as the paper pretrains on OU-MVLP).
- Smaller: the network (the quickstart's widths), steps, batches, frames per sample, and the
  evaluation embeds the first `EVAL_FRAMES` frames of each test sequence.

Config level: this module imports only config_defaults, so a config file loads it from any folder.
"""

import dataclasses

import ml_collections

from selfgait_jax import config_defaults

# row -> its name in the paper's tables (`_row_chain` builds it)
ROWS = {
    "wo_pt": "SG-6 w/o PT",
    "sg2": "SG-2",
    "sg4": "SG-4",
    "sg6": "SG-6",
    "sg6_no_hpm": "SG-6 w/o HPM",
    "sg6_no_mtb": "SG-6 w/o MTB",
    "gaitset": "GaitSet (100 % labels)",
    "gaitpart": "GaitPart (100 % labels)",
    "gaitset_40": "GaitSet (40 % labels)",
    # Not in the paper: SG-6 with a pretext that carries cross-view information (the target is a
    # frame of the same walk from another camera, per-part BatchNorm against collapse). It asks
    # whether pretraining that learns view invariance helps fine-tuning where the paper's does not.
    "sg6_other_view": "SG-6, other-view target (extension)",
}
SEEDS = {"wo_pt": 3, "sg2": 3, "sg6": 3}  # the other rows: 2
DEFAULT_SEEDS = 2

CHANNELS, WIDTH, HEAD_HIDDEN = (8, 16, 32), 32, 64
# Pretraining: the paper's Adam 1e-4, and pretext batches of one camera view each (byol.batch_by):
# of the variants compared on the validation probe (docs/reproduction.md) these moved the
# embedding least below its random initialisation.
PRETRAIN_STEPS, PRETEXT_BATCH, PRETEXT_K, PRETRAIN_LR, PRETEXT_BATCH_BY = 1000, 16, 12, 1e-4, "view"
FINETUNE_STEPS, P, K, FRAMES, FINETUNE_LR = 1000, 6, 4, 10, 1e-3
EVAL_FRAMES = 30
PROBE_EVERY, VALIDATION_SUBJECTS = 250, 24


def seeds(row: str) -> int:
    return SEEDS.get(row, DEFAULT_SEEDS)


@dataclasses.dataclass(frozen=True)
class Row:
    """One seed of a row: the chain ``configs/study.py:ROW,SEED`` in the workdir ``ROW/seedSEED``, a
    run of the study engine (``study/runs.py`` reads what it declares here)."""

    row: str
    seed: int
    # What the engine reads (study/runs.py): the config file, the files kept in the archive (archive
    # name -> path in the workdir; {step}: the highest numbered folder) and those that finish it.
    config = "study"
    files = {"results.json": "finetune/eval/{step}/results.json", "pretrain_metrics.jsonl": "pretrain/metrics.jsonl"}
    required = ("results.json",)
    metrics = "pretrain_metrics.jsonl"
    checkpoint = ""  # a chain is trained when it is finished
    init = None  # it starts from no other run
    probes = ()  # and has no zero-shot probe

    @property
    def spec(self) -> str:
        return f"{self.row},{self.seed}"

    @property
    def folder(self) -> str:
        return f"{self.row}/seed{self.seed}"

    def overrides(self, root: str) -> list[str]:
        return []

    def __str__(self):
        return f"{self.row} seed {self.seed}"


def _row_chain(row: str):
    if row in ("wo_pt", "sg2", "sg4", "sg6", "sg6_no_hpm", "sg6_no_mtb", "sg6_other_view"):
        model = {"sg6_no_hpm": "selfgait_no_hpm", "sg6_no_mtb": "selfgait_no_mtb"}.get(row, "selfgait")
        ratio = {"sg2": 2.0, "sg4": 4.0}.get(row, 6.0)
        return config_defaults.selfgait_chain("full", name=row, model=model, pool_ratio=ratio,
                                              pretrain=row != "wo_pt")
    recipe = config_defaults.gaitpart_config if row == "gaitpart" else config_defaults.gaitset_config
    stage = recipe("full")
    stage.name = "finetune"
    if row == "gaitset_40":
        stage.triplet.label_fraction = 0.4
    return config_defaults.chain_config(row, "full", {"finetune": stage}, evaluate="finetune")


def study_config(row: str, seed: int = 0, validation: bool = False) -> ml_collections.ConfigDict:
    """The chain of ``row`` at the study's scale, seeded with ``seed``. With ``validation`` it fine-tunes
    on the training subjects minus `VALIDATION_SUBJECTS` and evaluates on those (how the fine-tuning
    steps and learning rate were chosen, never on test subjects)."""
    if row not in ROWS:
        raise ValueError(f"study row {row!r} is not one of {sorted(ROWS)}")
    c = _row_chain(row)
    c.size = "study"
    for name in c.stages.split(","):
        scale_stage(c[name], seed)
    fine = c.finetune
    if "pretrain" in c:
        pre = c.pretrain
        scale_pretraining(pre)
        if row == "sg6_other_view":
            pre.pretext.name = "other_view"
            pre.model.head_bn_per_part = True
    scale_finetuning(fine)
    if validation:
        fine.data.validation_subjects = VALIDATION_SUBJECTS
        fine.probe.every = PROBE_EVERY
        fine.probe.validation_subjects = VALIDATION_SUBJECTS
    c.name = f"study_{row}"
    return c


def scale_stage(stage: ml_collections.ConfigDict, seed: int) -> None:
    """What every stage of the study shares: the network's widths, the logging, a constant lr, the
    validation probe's settings, and the seed."""
    stage.size = "study"
    stage.seed = seed
    stage.model.channels = CHANNELS
    stage.model.d1 = 2 * WIDTH if stage.model.name == "gaitset" else WIDTH
    stage.model.d2, stage.model.head_hidden = WIDTH, HEAD_HIDDEN
    stage.log_every, stage.checkpoint_every = 50, 250
    stage.optimizer.schedule, stage.optimizer.boundaries = "constant", ()
    stage.probe.every = PROBE_EVERY
    stage.probe.max_length = EVAL_FRAMES
    stage.probe.validation_subjects = VALIDATION_SUBJECTS


def scale_pretraining(pre: ml_collections.ConfigDict) -> None:
    """The pretraining stage at the study's scale: steps, pretext batch and k, Adam 1e-4, one camera
    view a batch."""
    pre.total_steps = PRETRAIN_STEPS
    pre.byol.batch_size, pre.byol.k = PRETEXT_BATCH, PRETEXT_K
    pre.optimizer.lr = PRETRAIN_LR
    pre.byol.batch_by = PRETEXT_BATCH_BY


def scale_finetuning(fine: ml_collections.ConfigDict) -> None:
    """The fine-tuning stage at the study's scale: steps, P x K x frames, Adam 1e-3, and the test
    evaluation on the first `EVAL_FRAMES` frames."""
    fine.total_steps = FINETUNE_STEPS
    fine.triplet.P, fine.triplet.K, fine.triplet.frames = P, K, FRAMES
    fine.optimizer.lr = FINETUNE_LR
    fine.eval.max_length = EVAL_FRAMES
    fine.probe.every = 0  # fine-tuning is judged on the test table (or on validation with ",val")
