"""Config checks that run before any data is generated or anything is compiled.

Each failure is one ``ConfigError`` naming the offending config key, so a bad command line fails
in seconds instead of after minutes of data generation and compilation.
"""

import os

import jax

from selfgait_jax.config_names import METRICS, SIZES, STAGE_SECTIONS, STAGES
from selfgait_jax.data import datasets, sampling, sources, splits
from selfgait_jax.errors import ConfigError
from selfgait_jax.models import conv, registry
from selfgait_jax.train import experiment, optim, pretexts
from selfgait_jax.workdir import checkpoint_dir


def _fail(key: str, message: str):
    raise ConfigError(key, message)


def _positive_int(value, key: str):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(key, f"must be a positive integer, got {value!r}")


def _non_negative_int(value, key: str):
    """A count where 0 means "the default" or "all"."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(key, f"must be an integer >= 0 (0: the default), got {value!r}")


def check_chain(config, workdir: str, device_count: int) -> dict:
    """Checks a chain config (``config_defaults.chain_config``) and every one of its stages before
    the first starts; returns ``{stage name: stage config}`` in run order, each resolved, with an
    ``init_from="@<earlier stage>"`` turned into that stage's folder ``workdir/<earlier stage>``.
    A stage's error names its key, and any flag it suggests, as the command line sets them on a
    chain: ``config.finetune.init_from``, ``--config.finetune.init_from=...``."""
    names = [n.strip() for n in config.stages.split(",") if n.strip()]
    for name in names:
        if name not in config:
            _fail("stages", f"names {name!r} but config.{name} does not exist")
    if config.evaluate and config.evaluate not in config:
        _fail("evaluate", f"{config.evaluate!r} names no stage of this chain")
    stages = {}
    for name in names:
        stage = config[name].copy_and_resolve_references()
        chained = stage.init_from.startswith("@")
        if chained:
            ref = stage.init_from[1:]
            if ref not in names[:names.index(name)]:
                _fail(f"{name}.init_from", f"{stage.init_from!r} must name an earlier stage")
            stage.init_from = os.path.join(workdir, ref)
        try:
            check_config(stage, device_count, check_init_from=not chained)
        except ConfigError as error:
            key = "*".join(f"{name}.{part}" for part in error.key.split("*"))  # P*K: a product of keys
            problem = error.problem.replace(f"--config.{error.key}=", f"--config.{key}=")
            raise ConfigError(key, problem) from None
        stages[name] = stage
    return stages


def check_config(config, device_count: int, check_init_from: bool = True) -> None:
    """Raises ``ConfigError`` naming the key of the first invalid setting, one section after another.

    ``check_init_from=False`` skips checking that ``init_from`` holds checkpoints (a chain's earlier
    stage that has not run yet).
    """
    _check_stage(config)
    _check_model(config)
    _check_data(config)
    _check_optimizer(config)
    if config.stage == "pretrain":
        _check_byol(config, device_count)
    else:
        _check_triplet(config.triplet, device_count)
    _check_eval(config)
    _check_probe(config.probe, config.data)
    _check_init_from(config, check_init_from)


def _check_stage(config):
    """The stage, its own section (and no other stage's), and the run's step counts."""
    if config.stage not in STAGES:
        _fail("stage", f"{config.stage!r} is not one of {', '.join(STAGES)}")
    own = STAGE_SECTIONS[config.stage]
    if own not in config:
        _fail(own, f"missing: a {config.stage} config carries the {own} section "
              f"(config_defaults.base_config(stage={config.stage!r}) declares it)")
    for stage, section in STAGE_SECTIONS.items():
        if stage != config.stage and section in config:
            _fail(section, f"a {config.stage} config carries only its own section ({own}); {section} "
                  f"is the {stage} stage's")
    for key in ("total_steps", "log_every", "checkpoint_every", "keep_checkpoints"):
        _positive_int(config[key], key)


def _check_model(config):
    model = config.model
    if model.name not in registry.MODEL_NAMES:
        _fail("model.name", f"unknown model {model.name!r}; known: {', '.join(registry.MODEL_NAMES)}")
    if model.dtype not in registry.DTYPES:
        _fail("model.dtype", f"{model.dtype!r} is not one of {', '.join(registry.DTYPES)}")
    if model.conv_formulation not in conv.FORMULATIONS:
        _fail("model.conv_formulation",
              f"{model.conv_formulation!r} is not one of {', '.join(conv.FORMULATIONS)}")
    if config.stage == "pretrain" and model.name not in registry.SELFGAIT_NAMES:
        _fail("model.name", f"{model.name!r} has no BYOL form; pretraining needs one of "
              f"{', '.join(registry.SELFGAIT_NAMES)}")


def _check_data(config):
    data = config.data
    if data.name not in datasets.DATASETS:
        _fail("data.name", f"unknown dataset {data.name!r}; known: {', '.join(datasets.NAMES)}")
    dataset = datasets.DATASETS[data.name]
    if dataset.needs_root and not data.tfds_dir and not (data.root and os.path.exists(data.root)):
        _fail("data.root", f"{data.root!r} is not a folder or a packed file (tools/pack_dataset.py); "
              f"{data.name} is read from disk (or set data.tfds_dir to a prepared copy)")
    if dataset.generated and data.root:  # else the run would quietly train on SynthGait
        trees = ", ".join(n for n, d in datasets.DATASETS.items() if d.needs_root)
        _fail("data.root", f"{data.root!r} is given, but data.name={data.name!r} is generated and reads "
              f"no files; set data.name to the dataset it holds ({trees})")
    if data.partition:
        if not dataset.labelled:
            _fail("data.partition", f"{data.name} has no train/test protocol for a partition file")
        splits.load_partition(data.partition)  # a ConfigError naming data.partition
    _check_pool(config)
    if data.tfds_dir:  # read from its prepared TFDS records (data.root is not needed then)
        sources.prepared_tfds_dir(data)  # a ConfigError naming data.tfds_dir and how to prepare it


def _check_pool(config):
    """``data.pool_ratio`` / ``data.pool_base_sequences``; a SynthGait set's pool is checked in full
    (its sequence list is known without generating anything), a tree's when it is read."""
    data = config.data
    ratio = data.pool_ratio
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 0:
        _fail("data.pool_ratio", f"must be a number >= 0, got {ratio!r}")
    dataset = datasets.DATASETS[data.name]
    if not ratio or not dataset.labelled:  # the generated pool is made at its pool size
        return
    if config.stage != "pretrain":
        _fail("data.pool_ratio", f"pool mode (pool_ratio={ratio:g}) picks pretraining sequences; "
              f"{config.stage} training uses triplet.label_fraction of the training split: set it to 0")
    base = data.pool_base_sequences
    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        _fail("data.pool_base_sequences", f"must be a positive integer when data.pool_ratio > 0, "
              f"got {base!r}")
    if dataset.generated:
        try:
            splits.pool_indices(data.name, sources.synthgait_spec(data).metas(), ratio, base,
                                   data.seed, data.partition)
        except ConfigError:  # names its own key (data.pool_ratio, data.partition, ...)
            raise
        except ValueError as e:  # the split itself, e.g. too few subjects to draw the pool from
            _fail("data.pool_ratio", str(e))


def _check_optimizer(config):
    """The optimiser's keys; with ``lr_multipliers`` or ``frozen``, that each path prefix names
    parameters of this network."""
    optimizer = config.optimizer
    if optimizer.name not in optim.OPTIMIZERS:
        _fail("optimizer.name", f"{optimizer.name!r} is not one of {', '.join(optim.OPTIMIZERS)}")
    if optimizer.schedule not in optim.SCHEDULES:
        _fail("optimizer.schedule",
              f"{optimizer.schedule!r} is not one of {', '.join(optim.SCHEDULES)}")
    if not optimizer.lr > 0:
        _fail("optimizer.lr", f"must be positive, got {optimizer.lr}")
    accumulate = optimizer.accumulate
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        _fail("optimizer.accumulate", f"must be a positive integer (micro-batches per update), "
              f"got {accumulate!r}")
    scaling = optimizer.lr_scaling
    if scaling not in optim.LR_SCALINGS:
        _fail("optimizer.lr_scaling", f"{scaling!r} is not one of {', '.join(optim.LR_SCALINGS)}")
    base = optimizer.lr_base_batch
    if scaling == "linear" and (isinstance(base, bool) or not isinstance(base, int) or base < 1):
        _fail("optimizer.lr_base_batch", f"lr_scaling='linear' needs the batch that optimizer.lr was "
              f"tuned for (a positive integer), got {base!r}")

    if optimizer.lr_multipliers or optimizer.frozen:
        optim.parse_lr_multipliers(optimizer.lr_multipliers)  # ConfigError naming the key
        # Each path prefix must name parameters of this network: the optimiser's labels are computed
        # on the abstract state (no arrays, no compile), so a typo stops the run now, not after an
        # earlier stage of its chain.
        exp = experiment.build_experiment(config)
        jax.eval_shape(exp.init_state, jax.random.PRNGKey(0))


def _check_byol(config, device_count: int):
    """Pretraining: the batch, the frames of the pair and the pretext, the EMA rate."""
    byol = config.byol
    _check_batch("byol.batch_size", byol.batch_size, device_count)
    k = byol.k
    if not isinstance(k, int) or k < 1:
        _fail("byol.k", f"must be a positive integer, got {k!r}")
    m = byol.min_online_frames
    if not isinstance(m, int) or not 1 <= m <= k:
        _fail("byol.min_online_frames", f"must be an integer in [1, byol.k = {k}], got {m!r}")
    setting = pretexts.resolve(config)  # ValueError naming the pretext.* key
    max_frames = config.data.max_frames
    if not setting.pretext.two_clips and max_frames and k >= max_frames:
        _fail("byol.k", f"k={k} online frames + 1 target frame need k below the sequence length, "
              f"but data.max_frames={max_frames}")
    if byol.batch_by not in sampling.PRETEXT_BATCH_BY:
        _fail("byol.batch_by", f"{byol.batch_by!r} is not '' (any views) or 'view'")
    if byol.tau_schedule not in ("constant", "cosine"):
        _fail("byol.tau_schedule", f"{byol.tau_schedule!r} is not constant or cosine")
    if not 0.0 <= byol.tau <= 1.0:
        _fail("byol.tau", f"must be in [0, 1], got {byol.tau}")


def _check_triplet(t, device_count: int):
    """Triplet training: the P x K batch, the frames, the labelled fraction."""
    if t.P < 2 or t.K < 2:
        _fail("triplet.P", f"batch-all triplets need P >= 2 subjects and K >= 2 sequences each, "
              f"got P={t.P}, K={t.K}")
    _check_batch("triplet.P*triplet.K", t.P * t.K, device_count)
    _positive_int(t.frames, "triplet.frames")
    if not 0.0 < t.label_fraction <= 1.0:
        _fail("triplet.label_fraction", f"must be in (0, 1], got {t.label_fraction}")


def _check_eval(config):
    """The evaluation's settings, read only when a chain's training has ended: checked now."""
    section = config.eval
    if section.every:
        _positive_int(section.every, "eval.every")
        if not datasets.labelled(config.data.name):
            _fail("eval.every", f"{config.data.name} has no test protocol to evaluate on; set it to 0")
    if section.metric not in METRICS:
        _fail("eval.metric", f"{section.metric!r} is not one of {', '.join(METRICS)}")
    for key in ("batch_size", "max_length"):
        _non_negative_int(section[key], f"eval.{key}")


def _check_probe(probe, data):
    """The validation probe (``probe.every`` > 0): a labelled dataset, read before the first step;
    not SynthGait for a stage that trains on real data (probe.data's default would probe the wrong
    walkers)."""
    if not probe.every:
        return
    _positive_int(probe.every, "probe.every")
    name, _, size = probe.data.partition(":")
    if not datasets.labelled(name):
        _fail("probe.data", f"{probe.data!r} is not a labelled dataset NAME[:SIZE]; NAME is one of "
              f"{', '.join(datasets.labelled_names())}")
    if (size or "full") not in SIZES:
        _fail("probe.data", f"size {size!r} of {probe.data!r} is not one of {', '.join(SIZES)}")
    if datasets.DATASETS[name].needs_root and not (probe.root and os.path.exists(probe.root)):
        _fail("probe.root", f"{probe.root!r} is not a folder or a packed file; {name} is read from disk")
    if datasets.DATASETS[name].generated and data.name in datasets.DATASETS and datasets.DATASETS[data.name].needs_root:
        _fail("probe.data", f"{probe.data!r} is SynthGait, but this stage trains on {data.name} (data.root): probe "
              f"that data instead, e.g. probe.data={data.name} probe.root=<its folder>")
    _positive_int(probe.validation_subjects, "probe.validation_subjects")
    _non_negative_int(probe.max_length, "probe.max_length")


def _check_init_from(config, check_init_from: bool):
    """A fine-tuning config that needs ``init_from`` has one, and it holds checkpoints."""
    if config.require_init_from and not config.init_from:
        _fail("init_from", "this config fine-tunes a pretrained network (require_init_from=True) but "
              "init_from is empty: pass --config.init_from=PRETRAIN_WORKDIR, or run "
              "configs/ablation_no_pt.py to fine-tune from random initialisation (the w/o PT row)")
    if config.init_from:
        if config.stage != "triplet":
            _fail("init_from", "initialising from a pretraining run is for triplet training only")
        if check_init_from and not os.path.isdir(checkpoint_dir(config.init_from)):
            _fail("init_from", f"{config.init_from!r} has no checkpoints folder")


def _check_batch(key: str, batch: int, device_count: int):
    if not isinstance(batch, int) or batch < 1:
        _fail(key, f"must be a positive integer, got {batch!r}")
    if batch % device_count:
        _fail(key, f"the global batch {batch} is not divisible by the device count {device_count}")
