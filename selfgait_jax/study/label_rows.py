"""The label-efficiency study's runs and their configs (docs/label_efficiency.md): does a pretext's
pretraining pay for itself when labels are few? ``configs/label_study.py`` is the config file over
`label_config`; the study engine (``study/runs.py``, ``study/runner.py``) and the report read the
plan, the constants and the run types here.

Two kinds of run, each named by a spec (the argument of ``configs/label_study.py:SPEC``):

    pretrain,PRETEXT,SEED[,POOL_RATIO[,PASSES]][,onestep][,NETWORK][,casia_b][,tiny]   `Pretraining`: one stage
    finetune,START,FRACTION,SEED[,NETWORK][,casia_b][,tiny]          `FineTuning`: a chain of one stage, evaluated

A pretraining run serves every fine-tuning run that starts from it (the runner passes its workdir
as ``--config.finetune.init_from``); its ``onestep`` twin is the same network after one step, the
baseline of the zero-shot probe. START is ``wo_pt`` (random initialisation), a pretext of
`PRETEXT_OPTIONS`, or a supervised baseline of `BASELINES` (its own network, from random
initialisation). NETWORK (``no_hpm``, ``no_mtb``: `NETWORKS`) swaps SelfGait for Table 3's ablated
networks, pretrained and fine-tuned alike. ``tiny`` builds the same run at the tiny size (tests and
smoke runs).

The data is a field of a run: SynthGait (the default: SG-n pools, SynthGait-B's labels), or
``casia_b``, real CASIA-B in OpenGait's pkl layout (docs/casia_b.md): pretraining on its 74 training
subjects with their labels dropped (POOL_RATIO 0; a POOL_RATIO > 0 pretrains on the SynthGait SG-n
pool instead, the transfer question), fine-tuning and evaluation on its LT protocol, at a scale of
its own (`CASIA_B_FINETUNE_STEPS`, ...). The tree's folder is not part of the config: the runner
passes it as overrides (`data_overrides`), so no machine path enters a spec or the archive.

The scale is the reproduction study's (``study/rows.py``: network, batches, fine-tuning steps and
learning rate, evaluation frames); what is new is the label fraction, the pretraining length (at
least `PASSES` passes over the pool) and the pretexts compared.

Config level: this module imports only config_defaults and the reproduction's rows.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections

from selfgait_jax import config_defaults
from selfgait_jax.study import rows

# The pretext compared with the paper's, chosen on the validation subjects (docs/label_efficiency.md).
OTHER_PRETEXT = "contrastive"
# Per pretext, the pretraining keys set on top of the reproduction's recipe (rows.scale_pretraining:
# Adam rows.PRETRAIN_LR, one camera view a batch, k and batch as there): "key.sub": value.
PRETEXT_OPTIONS = {
    "paper": {},
    # Chosen on the validation probe (docs/pretexts.md): one camera view a batch, so that a query's
    # negatives share its view, and the flip as the only augmentation (GaitSSB's warps and part
    # operations change a walker's build, which is most of what tells SynthGait's walkers apart).
    # Its clips as the study's other windows: the fine-tuning's 10 frames out of a 12-frame span
    # (GaitSSB's 16 of 20, scaled to the paper pretext's k = 12), and the paper pretext's Adam 1e-4.
    "contrastive": {"pretext.clip_frames": rows.FRAMES, "pretext.clip_span": rows.PRETEXT_K,
                    "byol.batch_by": rows.PRETEXT_BATCH_BY, "optimizer.lr": rows.PRETRAIN_LR,
                    **{f"pretext.augment.{op}": 0.0 for op in ("affine", "perspective", "dilate", "blur")}},
}
PRETEXTS = ("paper", OTHER_PRETEXT)  # the pretexts pretrained, in the order they run
STARTS = ("wo_pt", *PRETEXTS)  # what fine-tuning starts from
FRACTIONS = (0.05, 0.1, 0.2, 0.4)  # labelled share of the training sequences, most informative first
SEEDS = 3

# Pretraining: the SG-2 pool, passed at least PASSES times (steps x batch >= PASSES x pool).
POOL_RATIO, PASSES = 2.0, 2
# The pool-size row, run last with its control: the other pretext on the SG-6 pool, as many passes,
# at one fraction.
POOL_ROW_RATIO, POOL_ROW_FRACTION = 6.0, 0.05
# Its control, the steps row: the other pretext on the SG-2 pool for the pool-size row's steps
# (6 passes: 6,111 steps against 6,108), so that the pool-size row's gain splits into what more
# steps give and what a larger pool gives at the same steps.
STEPS_ROW_PASSES = 6
# The validation probe during pretraining (its rank-1 curve in metrics.jsonl); the 1-step twin has none.
PROBE_EVERY = 500
# The zero-shot probe's splits: the last rows.VALIDATION_SUBJECTS training subjects, and the test split.
SPLITS = ("validation", "test")
TINY_VALIDATION_SUBJECTS = 2  # of tiny synthgait_b's 4 training subjects

# Real CASIA-B (OpenGait's pkl tree at the runner's data root): the run's ``data`` field.
CASIA_B = "casia_b"
DATA = ("", CASIA_B)  # "" = SynthGait
CASIA_B_DATASET = "opengait_pkl"  # how the tree is read (its LT protocol follows from its nm/bg/cl types)
# The 74 training subjects' sequences in OpenGait's CASIA-B pkl tree: 74 x 10 x 11 = 8,140, less 33
# missing (005's 000 view, and a few of 026/037/048/...). The pretraining pool (labels dropped).
CASIA_B_TRAIN_SEQUENCES = 8107
CASIA_B_FRACTIONS = (0.05, 0.1, 0.2, 0.4, 1.0)
# The yardstick runs first: 10 % of the labels, every start, three seeds (docs/casia_b.md).
CASIA_B_YARDSTICK_FRACTION = 0.1
# Pretraining: the training subjects' sequences passed six times (3,041 steps of `rows.PRETEXT_BATCH`):
# on SynthGait two passes never beat the random network frozen, six did on two seeds of three.
CASIA_B_PASSES = 6
# Fine-tuning: steps chosen on the validation subjects' learning curve (docs/casia_b.md, "Scale").
CASIA_B_FINETUNE_STEPS = 6000
# The transfer question (issue #26): the paper's pretext pretrained on SynthGait's SG-2 pool of
# rendered walkers instead of CASIA-B's training subjects, for as many steps (3 passes of its 16,296
# sequences: 3,056 steps against 3,041), then fine-tuned at the yardstick fraction. As the paper
# pretrains on OU-MVLP and fine-tunes on CASIA-B; here the question is whether synthetic walkers
# transfer to real ones.
CASIA_B_TRANSFER_POOL, CASIA_B_TRANSFER_PASSES = 2.0, 3
# The goal a self-supervised tool exists for (issue #26): at the yardstick fraction, a pretraining
# beats w/o PT by this many points on every seed, and its frozen embedding its 1-step twin by this many.
GOAL_FINETUNED, GOAL_ZERO_SHOT = 5.0, 10.0
# The reproduction's rows on CASIA-B, after the label study's runs (seed 0's baselines earlier, as scale checks):
# Table 3's ablated networks pretrained as the `paper` start is and fine-tuned at
# `CASIA_B_ABLATION_FRACTION`, and the supervised baselines at 100 % of the labels, for
# `CASIA_B_REPRODUCTION_SEEDS` seeds each (the reproduction's seeds for its other rows).
CASIA_B_ABLATION_FRACTION, CASIA_B_BASELINE_FRACTION = 0.4, 1.0
CASIA_B_REPRODUCTION_SEEDS = rows.DEFAULT_SEEDS

# Table 3's networks (the spec's NETWORK field -> the model) and the supervised baselines (a START).
NETWORKS = {"no_hpm": "selfgait_no_hpm", "no_mtb": "selfgait_no_mtb"}
BASELINES = {"gaitset": config_defaults.gaitset_config, "gaitpart": config_defaults.gaitpart_config}

_SPEC_FORMS = ("pretrain,PRETEXT,SEED[,POOL_RATIO[,PASSES]][,onestep][,no_hpm|no_mtb][,casia_b][,tiny] or "
               "finetune,START,FRACTION,SEED[,no_hpm|no_mtb][,casia_b][,tiny]")


def pool_sequences(pool_ratio: float, tiny: bool = False) -> int:
    """The size of the SG-``pool_ratio`` synthgait_pool as it is generated: pool_ratio x the labelled
    training set's sequences, rounded up to whole walkers (every walker walks twice in every view)."""
    data = config_defaults.pretrain_config("tiny" if tiny else "full").data
    per_walker = len(data.views) * len(data.types)
    return math.ceil(pool_ratio * data.pool_base_sequences / per_walker) * per_walker


def pretrain_steps(pool_ratio: float, passes: int = PASSES) -> int:
    """Steps of `rows.PRETEXT_BATCH` sequences that pass the pool ``passes`` times (pool_ratio 0:
    CASIA-B's training sequences)."""
    size = pool_sequences(pool_ratio) if pool_ratio > 0 else CASIA_B_TRAIN_SEQUENCES
    return math.ceil(passes * size / rows.PRETEXT_BATCH)


def default_pool(data: str) -> float:
    """The pool a pretraining on ``data`` uses unless told: SG-2, or CASIA-B's own training split (0)."""
    return 0.0 if data == CASIA_B else POOL_RATIO


def default_passes(data: str) -> int:
    return CASIA_B_PASSES if data == CASIA_B else PASSES


def _variant(pool_ratio: float, passes: int, data: str = "") -> str:
    """What a run's name adds for a pool and passes other than its data's defaults: ``_sg6``,
    ``_6passes`` (on CASIA-B, ``_sg2`` is the SynthGait SG-2 pool)."""
    return ("" if pool_ratio == default_pool(data) else f"_sg{pool_ratio:g}") + (
        "" if passes == default_passes(data) else f"_{passes}passes")


def _network(network: str) -> str:
    """What a run's name adds for a network other than SelfGait: ``_no_hpm``."""
    return f"_{network}" if network else ""


def _suffix(network: str, data: str, tiny: bool) -> list[str]:
    """A spec's last fields: the network, the data and the size, each unless its default."""
    return [network] * bool(network) + [data] * bool(data) + ["tiny"] * tiny


@dataclasses.dataclass(frozen=True)
class Pretraining:
    """A pretext's pretraining, ``passes`` times over an SG-``pool_ratio`` pool (on CASIA-B,
    pool_ratio 0: its training subjects' sequences) (``onestep``: stopped after one step)."""

    pretext: str
    seed: int
    pool_ratio: float = POOL_RATIO
    onestep: bool = False
    tiny: bool = False
    passes: int = PASSES
    data: str = ""  # one of DATA: "" = SynthGait, or CASIA_B
    network: str = ""  # "" = SelfGait, or one of NETWORKS

    # What the study engine reads (study/runs.py): the config file, the files kept in the archive
    # (archive name -> path in the workdir), those that finish it (its zero-shot tables), and the
    # checkpoint that says it is trained (orbax names a step's folder only once it is complete).
    config = "label_study"
    files = {"zero_shot_validation.json": "zero_shot_validation/results.json",
             "zero_shot_test.json": "zero_shot_test/results.json", "metrics.jsonl": "metrics.jsonl"}
    required = ("zero_shot_validation.json", "zero_shot_test.json")
    metrics = "metrics.jsonl"
    init = None  # a pretraining starts from random initialisation
    probes = ("validation", "test")  # SPLITS: its zero-shot probe, made by the runner

    @property
    def checkpoint(self) -> str:
        return f"checkpoints/{self.steps}"

    @property
    def spec(self) -> str:
        if self.passes != default_passes(self.data):
            pool = [f"{self.pool_ratio:g}", str(self.passes)]
        else:
            pool = [] if self.pool_ratio == default_pool(self.data) else [f"{self.pool_ratio:g}"]
        return ",".join(["pretrain", self.pretext, str(self.seed), *pool] + ["onestep"] * self.onestep
                        + _suffix(self.network, self.data, self.tiny))

    @property
    def name(self) -> str:
        """The pretext, its pool and passes unless its data's defaults, its network unless SelfGait,
        and _1step for the twin: ``contrastive_sg6_1step``, ``contrastive_6passes``, ``paper_no_hpm``."""
        return (f"{self.pretext}{_variant(self.pool_ratio, self.passes, self.data)}{_network(self.network)}"
                f"{'_1step' if self.onestep else ''}")

    @property
    def folder(self) -> str:
        return f"pretrain/{self.name}/seed{self.seed}"

    def overrides(self, root: str) -> list[str]:
        return data_overrides(self, root)

    @property
    def steps(self) -> int:
        if self.onestep:
            return 1
        if self.tiny:
            return config_defaults.pretrain_config("tiny").total_steps
        return pretrain_steps(self.pool_ratio, self.passes)

    @property
    def full(self) -> "Pretraining":
        """The pretraining itself: this run, or the one this 1-step run is the twin of."""
        return dataclasses.replace(self, onestep=False)

    @property
    def twin(self) -> "Pretraining":
        """The same pretraining stopped after one step (the zero-shot baseline)."""
        return dataclasses.replace(self, onestep=True)

    def __str__(self):
        return f"pretraining {self.name} seed {self.seed}"


@dataclasses.dataclass(frozen=True)
class FineTuning:
    """Fine-tuning on ``fraction`` of the labels from ``start`` (wo_pt, or the seed's pretraining
    with that pretext, ``passes`` times over the SG-``pool_ratio`` pool), then the test table."""

    start: str
    fraction: float
    seed: int
    pool_ratio: float = POOL_RATIO  # of the pretraining it starts from; not part of the config
    tiny: bool = False
    passes: int = PASSES  # of the pretraining it starts from; not part of the config
    data: str = ""  # one of DATA: "" = SynthGait, or CASIA_B
    network: str = ""  # "" = SelfGait, or one of NETWORKS

    # What the study engine reads (study/runs.py), as for `Pretraining`: it is trained once finished.
    config = "label_study"
    files = {"results.json": "finetune/eval/{step}/results.json"}
    required = ("results.json",)
    checkpoint = ""
    probes = ()

    @property
    def spec(self) -> str:
        return ",".join(["finetune", self.start, f"{self.fraction:g}", str(self.seed)]
                        + _suffix(self.network, self.data, self.tiny))

    @property
    def row(self) -> str:
        """The report's row: the start, with its pool and passes where they are not its data's
        defaults and its network unless SelfGait (``contrastive_sg6``, ``contrastive_6passes``,
        ``paper_no_hpm``)."""
        return self.start + _variant(self.pool_ratio, self.passes, self.data) + _network(self.network)

    @property
    def folder(self) -> str:
        return f"finetune/{self.row}/{self.fraction:g}/seed{self.seed}"

    @property
    def pretraining(self) -> Pretraining | None:
        if self.start == "wo_pt" or self.start in BASELINES:
            return None
        return Pretraining(self.start, self.seed, self.pool_ratio, tiny=self.tiny, passes=self.passes,
                           data=self.data, network=self.network)

    @property
    def init(self) -> Pretraining | None:
        """The run it starts from (the engine trains it first and passes its workdir as init_from)."""
        return self.pretraining

    def overrides(self, root: str) -> list[str]:
        return data_overrides(self, root)

    def __str__(self):
        return f"fine-tuning {self.row} {self.fraction:g} seed {self.seed}"


def pretraining(pretext: str, seed: int, data: str = "", **fields) -> Pretraining:
    """A pretraining on ``data`` with that data's default pool and passes unless ``fields`` say."""
    return Pretraining(pretext, seed, **{"pool_ratio": default_pool(data), "passes": default_passes(data),
                                         "data": data, **fields})


def fine_tuning(start: str, fraction: float, seed: int, data: str = "", **fields) -> FineTuning:
    """A fine-tuning on ``data`` from a start with that data's default pool and passes unless told."""
    return FineTuning(start, fraction, seed, **{"pool_ratio": default_pool(data),
                                                "passes": default_passes(data), "data": data, **fields})


def parse(spec: str) -> Pretraining | FineTuning:
    """The run a spec names; a ValueError that says what is wrong and what the forms are."""
    parts = [p.strip() for p in (spec or "").split(",")]

    def bad(problem):
        # main prefixes the flag, --config=configs/label_study.py:SPEC, so the spec is not repeated
        return ValueError(f"{problem}; configs/label_study.py takes {_SPEC_FORMS}")

    def number(text, what, kind=int):
        try:
            return kind(text)
        except ValueError:
            pass
        raise bad(f"{what} {text!r} is not a number")  # outside the except: this error is the cause

    tiny = parts[-1] == "tiny"
    if tiny:
        parts = parts[:-1]
    data = parts[-1] if parts[-1] in DATA[1:] else ""
    if data:
        parts = parts[:-1]
    network = parts[-1] if parts[-1] in NETWORKS else ""
    if network:
        parts = parts[:-1]
    if not parts or parts[0] not in ("pretrain", "finetune"):
        raise bad(f"the first field is pretrain or finetune, not {parts[0] if parts else ''!r}")
    if parts[0] == "pretrain":
        onestep = parts[-1] == "onestep"
        if onestep:
            parts = parts[:-1]
        if len(parts) not in (3, 4, 5):
            raise bad(f"pretrain takes PRETEXT,SEED[,POOL_RATIO[,PASSES]], got {len(parts) - 1} fields")
        if parts[1] not in PRETEXT_OPTIONS:
            raise bad(f"PRETEXT {parts[1]!r} is not one of {', '.join(PRETEXT_OPTIONS)}")
        ratio = number(parts[3], "POOL_RATIO", float) if len(parts) >= 4 else default_pool(data)
        if not (ratio > 0 or (data == CASIA_B and ratio == 0)):
            raise bad(f"POOL_RATIO {ratio:g} must be positive (0, the training split, on {CASIA_B} only)")
        passes = number(parts[4], "PASSES") if len(parts) == 5 else default_passes(data)
        if passes < 1:
            raise bad(f"PASSES {passes} must be >= 1")
        job = Pretraining(parts[1], number(parts[2], "SEED"), ratio, onestep, tiny, passes, data, network)
    else:
        if len(parts) != 4:
            raise bad(f"finetune takes START,FRACTION,SEED, got {len(parts) - 1} fields")
        if parts[1] not in (*STARTS, *BASELINES):
            raise bad(f"START {parts[1]!r} is not one of {', '.join((*STARTS, *BASELINES))}")
        if network and parts[1] in BASELINES:
            raise bad(f"NETWORK {network} is a SelfGait network; {parts[1]} has its own")
        fraction = number(parts[2], "FRACTION", float)
        if not 0 < fraction <= 1:
            raise bad(f"FRACTION {fraction:g} must be in (0, 1]")
        job = fine_tuning(parts[1], fraction, number(parts[3], "SEED"), data, tiny=tiny, network=network)
    if job.seed < 0:
        raise bad(f"SEED {job.seed} must be >= 0")
    return job


def _set(stage: ml_collections.ConfigDict, dotted: str, value) -> None:
    """``stage.<dotted> = value`` for a key the stage declares (an option never adds a key)."""
    *parents, key = dotted.split(".")
    node = stage
    for name in parents:
        node = node[name]
    if key not in node:
        raise KeyError(f"PRETEXT_OPTIONS: the pretraining config has no key {dotted!r}")
    node[key] = value


def pretraining_config(job: Pretraining) -> ml_collections.ConfigDict:
    """One pretraining stage (checkpoints in the workdir itself, ready to be an ``init_from``)."""
    size = "tiny" if job.tiny else "full"
    real_pool = job.data == CASIA_B and job.pool_ratio == 0  # CASIA-B's training split, labels dropped
    c = config_defaults.pretrain_config(size, model=NETWORKS.get(job.network, "selfgait"),
                                        data=CASIA_B_DATASET if real_pool else "synthgait_pool")
    c.data.pool_ratio = job.pool_ratio
    c.seed = job.seed
    if not job.tiny:
        rows.scale_stage(c, job.seed)
        rows.scale_pretraining(c)
        c.probe.every = PROBE_EVERY
    if job.data == CASIA_B:
        c.probe.data = CASIA_B_DATASET  # the validation subjects of the labelled set it is for
    c.pretext.name = job.pretext
    for key, value in PRETEXT_OPTIONS[job.pretext].items():
        _set(c, key, value)
    c.total_steps = job.steps
    if job.onestep:
        c.probe.every = 0  # its zero-shot probe is the evaluation the runner makes
    c.name = f"labels_pretrain_{job.name}"
    return c


def finetuning_config(job: FineTuning) -> ml_collections.ConfigDict:
    """A chain of one fine-tuning stage, evaluated on the test split at the end. A pretrained start
    requires ``--config.finetune.init_from=PRETRAIN_WORKDIR`` (the runner gives it)."""
    size = "tiny" if job.tiny else "full"
    data = CASIA_B_DATASET if job.data == CASIA_B else "synthgait_b"
    if job.start in BASELINES:  # the baseline's own recipe, at the study's scale as the reproduction's rows
        fine = BASELINES[job.start](size, data=data)
        fine.name = "finetune"
    else:
        fine = config_defaults.finetune_config(size, model=NETWORKS.get(job.network, "selfgait"), data=data)
    fine.seed = job.seed
    if not job.tiny:
        rows.scale_stage(fine, job.seed)
        rows.scale_finetuning(fine)
        if job.data == CASIA_B:
            fine.total_steps = CASIA_B_FINETUNE_STEPS
    fine.triplet.label_fraction = job.fraction
    fine.require_init_from = job.pretraining is not None  # wo_pt, a baseline: from random initialisation
    c = config_defaults.chain_config(f"labels_finetune_{job.start}{_network(job.network)}_{job.fraction:g}", size,
                                     {"finetune": fine}, evaluate="finetune")
    if not job.tiny:
        c.size = "study"
    return c


def label_config(spec: str) -> ml_collections.ConfigDict:
    """The config of the run ``spec`` names (configs/label_study.py)."""
    job = parse(spec)
    return pretraining_config(job) if isinstance(job, Pretraining) else finetuning_config(job)


def data_overrides(job: Pretraining | FineTuning, root: str) -> list[str]:
    """The command-line overrides that point a CASIA-B run at the tree in ``root`` (the data it
    trains on and its validation probe's); none for SynthGait."""
    if job.data != CASIA_B:
        return []
    if isinstance(job, FineTuning):
        return [f"--config.finetune.data.root={root}"]
    keys = ["probe.root"] + ["data.root"] * (job.pool_ratio == 0)
    return [f"--config.{key}={root}" for key in keys]


def validation_subjects(tiny: bool = False) -> int:
    """The zero-shot probe's validation subjects at the size (the last training subjects)."""
    return TINY_VALIDATION_SUBJECTS if tiny else rows.VALIDATION_SUBJECTS


Run = Pretraining | FineTuning


def plan(seeds: int = SEEDS, tiny: bool = False, data: str = "") -> list[Run]:
    """The runs in the order they go (on CASIA-B: `casia_b_plan`). Seed by seed: the pretexts'
    pretraining runs and their 1-step twins (each with its zero-shot probe), then every start's
    fine-tuning at the smallest fraction, then the next fraction, up to the largest but one. The
    largest fraction, where labels are least scarce and pretraining has least to show, comes after
    every seed's scarce ones, so that a study cut short has all its seeds where the question is;
    then the pool-size row, seed by seed; last, its control, the steps row (the SG-2 pool for as
    many steps), seed by seed."""
    if data == CASIA_B:
        return casia_b_plan(seeds, tiny)
    scarce, largest = FRACTIONS[:-1], FRACTIONS[-1]
    out = []
    for seed in range(seeds):
        for pretext in PRETEXTS:
            pretraining = Pretraining(pretext, seed, tiny=tiny)
            out += [pretraining, pretraining.twin]
        out += [FineTuning(start, fraction, seed, tiny=tiny) for fraction in scarce for start in STARTS]
    for seed in range(seeds):
        out += [FineTuning(start, largest, seed, tiny=tiny) for start in STARTS]
    for pool, passes in ((POOL_ROW_RATIO, PASSES), (POOL_RATIO, STEPS_ROW_PASSES)):
        for seed in range(seeds):
            pretraining = Pretraining(OTHER_PRETEXT, seed, pool, tiny=tiny, passes=passes)
            out += [pretraining, pretraining.twin,
                    FineTuning(OTHER_PRETEXT, POOL_ROW_FRACTION, seed, pool, tiny, passes)]
    return out


def casia_b_plan(seeds: int = SEEDS, tiny: bool = False) -> list[Run]:
    """The study on real CASIA-B, the yardstick first: seed by seed, the paper pretext's pretraining
    on the training subjects (with its 1-step twin and their zero-shot probes) and at once its
    fine-tuning at `CASIA_B_YARDSTICK_FRACTION`, then w/o PT's (the first paired answer), then the
    other pretext's the same way; then the transfer row (`transfer_runs`), seed by seed; then the
    other fractions, scarcest first, each for every seed, with the scale's checks
    (`scale_checks`) after the scarcest. A
    fine-tuning follows its pretraining directly: a session that ends between the two loses the
    pretraining's checkpoint (the archive keeps tables, not weights), so it is trained again.
    Last, the reproduction's rows (`casia_b_reproduction`)."""
    data, first = CASIA_B, CASIA_B_YARDSTICK_FRACTION
    out = []
    for seed in range(seeds):
        for pretext in PRETEXTS:
            pretraining_run = pretraining(pretext, seed, data, tiny=tiny)
            out += [pretraining_run, pretraining_run.twin, fine_tuning(pretext, first, seed, data, tiny=tiny)]
            if pretext == PRETEXTS[0]:
                out.append(fine_tuning("wo_pt", first, seed, data, tiny=tiny))
    out += [run for seed in range(seeds) for run in transfer_runs(seed, tiny)]
    others = [fraction for fraction in CASIA_B_FRACTIONS if fraction != first]
    for fraction in others:
        out += [fine_tuning(start, fraction, seed, data, tiny=tiny) for seed in range(seeds) for start in STARTS]
        if fraction == others[0]:
            out += scale_checks(tiny)
    out += casia_b_reproduction(min(seeds, CASIA_B_REPRODUCTION_SEEDS), tiny)
    return list(dict.fromkeys(out))  # each run where it first comes


def scale_checks(tiny: bool = False) -> list[Run]:
    """What the CPU scale must show on test (issue #26), seed 0, run before the middle fractions'
    15 hours: w/o PT at 100 % of the labels against its 5 % (labels must bind) and against GaitSet's
    published mean, and GaitSet against GaitPart at 100 % (the paper has GaitPart ahead)."""
    return [fine_tuning(start, CASIA_B_BASELINE_FRACTION, 0, CASIA_B, tiny=tiny) for start in ("wo_pt", *BASELINES)]


def transfer_runs(seed: int, tiny: bool = False) -> list[Run]:
    """The transfer row's runs of one seed: the paper pretext's pretraining on the SynthGait pool,
    its 1-step twin, and its fine-tuning on CASIA-B at the yardstick fraction."""
    pool = {"pool_ratio": CASIA_B_TRANSFER_POOL, "passes": CASIA_B_TRANSFER_PASSES, "tiny": tiny}
    pretraining_run = pretraining("paper", seed, CASIA_B, **pool)
    return [pretraining_run, pretraining_run.twin,
            fine_tuning("paper", CASIA_B_YARDSTICK_FRACTION, seed, CASIA_B, **pool)]


def casia_b_reproduction(seeds: int = CASIA_B_REPRODUCTION_SEEDS, tiny: bool = False) -> list[Run]:
    """The reproduction's rows the label study does not run, seed by seed: GaitSet and GaitPart at
    100 % of the labels, then SelfGait w/o HPM and w/o MTB pretrained with the `paper` pretext (its
    fine-tuning trains it first) and fine-tuned at 40 %."""
    out = []
    for seed in range(seeds):
        out += [fine_tuning(start, CASIA_B_BASELINE_FRACTION, seed, CASIA_B, tiny=tiny) for start in BASELINES]
        out += [fine_tuning("paper", CASIA_B_ABLATION_FRACTION, seed, CASIA_B, tiny=tiny, network=network)
                for network in NETWORKS]
    return out


def in_label_study(run: Run) -> bool:
    """Whether a run is one of the label study's own (not a reproduction row it runs on CASIA-B)."""
    return not run.network and not (isinstance(run, FineTuning) and run.start in BASELINES)
