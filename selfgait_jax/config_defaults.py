"""The shared defaults of every training config and the builders that configs/*.py call.

The files under configs/ are the project's card: each ``get_config(arg)`` builds its run from
``base_config`` (one training stage: the defaults of every key a run reads) or ``chain_config``
(stages run in order), and the recipes here that several of them share (the SG-n and OU-MVLP
chains, the pretraining / fine-tuning stages, the GaitSet / GaitPart baselines). They import only
this module, so ``--config=ANY/PATH/configs/<name>.py`` loads from any folder.

Stable keys that scripts may rely on: ``total_steps``, ``log_every``, ``checkpoint_every``,
``seed``, ``init_from``, ``data.name``; in a chain they belong to each stage
(``finetune.total_steps``). Sizes (``config_names.SIZES``): "full" (the paper's setting)
and "tiny" (tests and CPU smoke runs: tiny network, tiny SynthGait, a few steps).
"""

import ml_collections
from ml_collections import config_dict

from selfgait_jax.config_names import SIZES, STAGES
from selfgait_jax.data.sources import RENAMED_KEYS, data_config
from selfgait_jax.models.registry import model_config


def parse_size(arg) -> str:
    size = arg or "full"
    if size not in SIZES:
        raise ValueError(f"config size {size!r} is not one of {', '.join(SIZES)}")
    return size


def base_config(size: str, *, stage: str, model: str, data: str) -> ml_collections.ConfigDict:
    """Defaults for a ``stage`` ("pretrain" or "triplet") of ``model`` on dataset ``data``: every key
    that stage reads. Each stage carries only its own section: ``byol`` (pretrain) or ``triplet``."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}")
    tiny = size == "tiny"
    c = ml_collections.ConfigDict()
    c.name = stage
    c.stage = stage
    c.size = size
    c.seed = 0
    c.total_steps = 12 if tiny else 80_000  # the paper: 80k iterations on CASIA-B
    c.log_every = 2 if tiny else 100
    c.checkpoint_every = 4 if tiny else 2_000
    c.keep_checkpoints = 3
    c.init_from = ""  # a pretraining workdir to initialise the embedding network from
    # True: the config check stops a run whose init_from is empty (configs/finetune.py must not silently become
    # the w/o PT row, which is configs/ablation_no_pt.py).
    c.require_init_from = False

    c.model = model_config(model, size)  # model.dtype: compute dtype float32 | bfloat16; params fp32
    c.data = data_config(data, size)

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"  # adam | sgd (the authors' code: sgd 0.03, momentum 0.9, wd 4e-4)
    c.optimizer.lr = 1e-4
    c.optimizer.schedule = "constant"  # constant | warmup_cosine | multistep
    c.optimizer.warmup_steps = 0
    c.optimizer.boundaries = ()  # multistep: the lr is multiplied by decay_factor at each
    c.optimizer.decay_factor = 0.1
    c.optimizer.momentum = 0.9
    c.optimizer.weight_decay = 0.0
    # N micro-batches per update (optax.MultiSteps): effective batch = global batch x N; BatchNorm
    # statistics and triplet mining stay per micro-batch (docs/design.md).
    c.optimizer.accumulate = 1
    # "linear": lr x effective batch / lr_base_batch (the batch lr was tuned for); "none": lr as is.
    c.optimizer.lr_scaling = "none"
    c.optimizer.lr_base_batch = 0
    # A gentle fine-tune (GaitSSB's): "PATH=FACTOR,..." scales the lr of the parameters under each
    # path prefix (e.g. "backbone=0.1"), and "PATH,..." freezes them (e.g. "backbone/block1").
    c.optimizer.lr_multipliers = ""
    c.optimizer.frozen = ""

    if stage == "pretrain":
        c.byol = _byol_section(tiny)
        c.pretext = _pretext_section(tiny)
    else:
        c.triplet = _triplet_section(tiny)

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 0  # > 0: rank-1/rank-5/mAP on the test split every this many steps (labelled data)
    c.eval.metric = "euclidean"  # euclidean | cosine (read by selfgait_jax.evaluation)
    c.eval.batch_size = 0  # global inference batch; 0 = the evaluation's default
    c.eval.max_length = 0  # frames embedded per test sequence (its first ones); 0 = all
    # True: probes whose subject has no gallery sequence at a view are left out at that view
    # (tools/evaluate.py --keep_missing_gallery counts them as misses).
    c.eval.drop_missing_gallery = True

    # Validation probe (any stage): rank-1 of the current embedding on the last
    # `validation_subjects` TRAINING subjects of the labelled dataset `data` (never its test
    # subjects), every `every` steps (0 = off) and at the last step; logged as probe/<COND>_rank1.
    c.probe = ml_collections.ConfigDict()
    c.probe.every = 0
    c.probe.data = "synthgait_b:tiny" if tiny else "synthgait_b"  # NAME or NAME:SIZE, labelled
    c.probe.root = ""  # its folder, for casia_b / ou_mvlp / opengait_pkl
    c.probe.validation_subjects = 24 if not tiny else 2
    c.probe.max_length = 40  # frames embedded per sequence (0 = all)
    return c


def _byol_section(tiny: bool) -> ml_collections.ConfigDict:
    """The pretraining stage's BYOL settings."""
    byol = ml_collections.ConfigDict()
    byol.batch_size = 8 if tiny else 128  # global batch of pretext windows
    byol.k = 4 if tiny else 30  # online frames; the target gets frame k
    # A sequence of L <= k frames gives L-1 online frames (masked padding) and frame L-1 as the
    # target; one with fewer than min_online_frames + 1 frames is skipped (docs/design.md).
    byol.min_online_frames = 1
    # "view": every pretext batch holds sequences of one camera view (camera ids are metadata, not
    # identity labels), so the heads' BatchNorm contrasts walkers, not views (docs/reproduction.md).
    # "": sequences of any views together.
    byol.batch_by = ""
    byol.flip = False  # True: random left-right flips of the online window and the target frame
    byol.tau = 0.996
    byol.tau_schedule = "constant"  # constant | cosine (BYOL's schedule to 1)
    # The paper: the target branch uses the online FC bins ("FCs shared with the parameters of the
    # Transition Model"); False keeps an EMA copy, as the authors' code does.
    byol.share_target_fcs = True
    return byol


def _pretext_section(tiny: bool) -> ml_collections.ConfigDict:
    """Which pretext the pretraining stage trains (``train/pretexts.py``: paper | other_view |
    authors | contrastive) and the options of the two-clip ones. ``byol`` keeps what they share
    (batch, k, the EMA)."""
    pretext = ml_collections.ConfigDict()
    pretext.name = "paper"
    pretext.loss = ""  # "": the pretext's own; byol | byol_across_parts | info_nce
    pretext.clip_frames = 4 if tiny else 16  # two-clip pretexts: ordered frames per clip
    pretext.clip_span = 6 if tiny else 20  # ... drawn from a random window of this many frames
    pretext.scale = 16.0  # InfoNCE: cosine logits x scale (GaitSSB: 16)
    pretext.label_smoothing = 0.1  # InfoNCE (GaitSSB: 0.1)
    # InfoNCE: target keys of earlier batches kept as more negatives (MoCo's queue); 0 = none.
    pretext.queue_size = 0
    pretext.queue_same_view = False  # ... only those of the positive key's camera view (batch metadata)
    # Probabilities per clip (flip_per_frame: the flip drawn per frame); unset = the pretext's own.
    pretext.augment = ml_collections.ConfigDict()
    for op in ("affine", "perspective", "flip", "dilate", "blur"):
        pretext.augment[op] = config_dict.placeholder(float)
    pretext.augment.flip_per_frame = config_dict.placeholder(bool)
    return pretext


def _triplet_section(tiny: bool) -> ml_collections.ConfigDict:
    """The triplet (fine-tuning / supervised) stage's batch-all triplet settings."""
    triplet = ml_collections.ConfigDict()
    triplet.margin = 0.2
    triplet.P = 2 if tiny else 8
    triplet.K = 4 if tiny else 16
    triplet.frames = 6 if tiny else 30
    triplet.ordered = True  # consecutive windows (MTB); False: random frame sets (GaitSet)
    triplet.label_fraction = 1.0  # share of the training split's sequences that carry labels
    return triplet


def with_defaults(stored: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A training stage's config as an earlier version stored it (a checkpoint's), with every key
    declared since filled with its default, so that every reader reads keys plainly. The stored
    values are kept, and so are keys no longer declared. A key takes the full size's default (the
    declared default of ``model_config`` and ``data_config``), whatever size the run was.

    The one place a stored config is completed: ``workdir.Checkpoints.restore_config`` calls it."""
    filled = ml_collections.ConfigDict(stored.to_dict())
    stage = filled.stage if "stage" in filled else ("pretrain" if "byol" in filled else "triplet")
    defaults = base_config("full", stage=stage, model=filled.model.name, data=filled.data.name)
    if "byol" in filled and "target" in filled.byol and "pretext" not in filled:
        # Stored before the pretext table: byol.target chose between the paper's target frame and
        # the other-view extension, now pretext.name's "paper" and "other_view".
        defaults.pretext.name = "other_view" if filled.byol.target == "other_view" else "paper"
    for old, new in RENAMED_KEYS.items():  # a data key stored under its old name keeps its value
        if old in filled.data and new not in filled.data:
            defaults.data[new] = filled.data[old]
    _fill(filled, defaults)
    return filled


def _fill(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict) -> None:
    for key, default in defaults.items():
        if key not in config:
            config[key] = default
        elif isinstance(default, ml_collections.ConfigDict) and isinstance(config[key], ml_collections.ConfigDict):
            _fill(config[key], default)


def pretrain_config(size: str, *, model: str = "selfgait",
                    data: str = "synthgait_pool") -> ml_collections.ConfigDict:
    """BYOL pretraining of ``model`` on ``data`` (configs/pretrain.py: SelfGait on the unlabelled
    SynthGait pool)."""
    return base_config(size, stage="pretrain", model=model, data=data)


def finetune_config(size: str, *, model: str = "selfgait",
                    data: str = "synthgait_b") -> ml_collections.ConfigDict:
    """Fine-tuning of a pretrained ``model`` on 40 % of ``data``'s training split, the paper's
    fine-tuning set (configs/finetune.py; a chain's "finetune" stage). ``require_init_from``: it is
    refused without ``init_from`` (fine-tuning from random initialisation is the w/o PT row)."""
    c = base_config(size, stage="triplet", model=model, data=data)
    c.name = "finetune"
    c.triplet.label_fraction = 0.4  # the paper's fine-tuning set
    c.require_init_from = True
    return c


def chain_config(name: str, size: str, stages: dict, evaluate: str) -> ml_collections.ConfigDict:
    """A chain: ``stages`` (name → training config) run in order in ``workdir/<name>``.

    A stage's ``init_from="@<earlier stage>"`` starts it from that stage's workdir; ``evaluate``
    names the stage evaluated at the end ("" = none). See ``train.loop.run_chain``.
    """
    c = ml_collections.ConfigDict()
    c.name = name
    c.size = size
    c.stages = ",".join(stages)
    c.evaluate = evaluate
    for stage_name, stage in stages.items():
        c[stage_name] = stage
    return c


def selfgait_chain(arg, *, name: str, model: str = "selfgait", pool_ratio: float = 6.0,
                   pretrain: bool = True) -> ml_collections.ConfigDict:
    """A Table 1 / Table 3 row: BYOL pretraining of ``model`` on an SG-``pool_ratio`` SynthGait pool
    (the paper's OU-MVLP subset) → fine-tuning on 40 % of synthgait_b's training split (the paper's
    CASIA-B LT) → evaluation. ``pretrain=False``: the fine-tuning stage alone, from random
    initialisation (w/o PT). Stages run in DIR/pretrain and DIR/finetune."""
    size = parse_size(arg)
    stages = {}
    fine = finetune_config(size, model=model)
    if pretrain:
        pre = pretrain_config(size, model=model)
        pre.data.pool_ratio = pool_ratio
        stages["pretrain"] = pre
        fine.init_from = "@pretrain"
    else:
        fine.require_init_from = False  # the w/o PT row: from random initialisation on purpose
    stages["finetune"] = fine
    return chain_config(name, size, stages, evaluate="finetune")


# The paper: "150K iterations with learning rate decay for OU-MVLP" (Adam 1e-4); it does not say
# which decay. Ours: x0.1 once, at 100k (2/3 of the run). Tiny: 12 steps, x0.1 at step 8.
OU_MVLP_STEPS, OU_MVLP_BOUNDARIES = 150_000, (100_000,)


def selfgait_ou_mvlp_chain(arg, *, name: str, pool_ratio: float) -> ml_collections.ConfigDict:
    """A Table 2 row: SG-``pool_ratio`` on OU-MVLP (``data.name=ou_mvlp``, read from
    ``data.root``). Pretraining uses pool mode: ``pool_ratio`` × ``data.pool_base_sequences``
    (default 8,140, the CASIA-B LT training set the paper measures SG-n against) sequences of
    OU-MVLP's training half, drawn by ``data.seed``; fine-tuning uses 40 % of that half; then the
    14-view evaluation. Both stages: 150k iterations with a decay (``OU_MVLP_BOUNDARIES``).
    The two stages share one ``data.root`` (a FieldReference): setting
    ``--config.pretrain.data.root=PATH`` sets both. ``:tiny`` runs the same chain on a tiny
    synthgait_mv (no data.root needed)."""
    size = parse_size(arg)
    tiny = size == "tiny"
    data = "synthgait_mv" if tiny else "ou_mvlp"
    root = ml_collections.FieldReference("")
    pre = pretrain_config(size, data=data)
    pre.data.pool_ratio = pool_ratio
    if tiny:  # tiny synthgait_mv's training split: 3 subjects x 2 types x 2 views = 12 sequences
        pre.data.pool_base_sequences = 5  # SG-2: 10 of them
    fine = finetune_config(size, data=data)
    fine.init_from = "@pretrain"
    for stage in (pre, fine):
        stage.data.root = root
        stage.total_steps = 12 if tiny else OU_MVLP_STEPS
        stage.optimizer.schedule = "multistep"
        stage.optimizer.boundaries = (8,) if tiny else OU_MVLP_BOUNDARIES
    return chain_config(name, size, {"pretrain": pre, "finetune": fine}, evaluate="finetune")


def gaitset_config(size: str, data: str = "synthgait_b") -> ml_collections.ConfigDict:
    """The supervised GaitSet baseline on ``data`` with the original GaitSet's recipe (Adam 1e-4,
    constant, 80k iterations, unordered frame sets); configs/gaitset.py says where it comes from."""
    c = base_config(size, stage="triplet", model="gaitset", data=data)
    c.name = "gaitset"
    c.triplet.ordered = False  # GaitSet treats a sequence as an unordered set of frames
    return c


def gaitpart_config(size: str, data: str = "synthgait_b") -> ml_collections.ConfigDict:
    """The supervised GaitPart baseline on ``data`` with OpenGait's recipe (Adam 1e-4, x0.1 at
    100k of 120k iterations, ordered windows); configs/gaitpart.py says where it comes from."""
    c = base_config(size, stage="triplet", model="gaitpart", data=data)
    c.name = "gaitpart"
    c.total_steps = 12 if size == "tiny" else 120_000
    c.optimizer.schedule = "multistep"
    c.optimizer.boundaries = (10,) if size == "tiny" else (100_000,)
    return c
