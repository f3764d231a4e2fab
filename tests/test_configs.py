"""Every config file under configs/ loads (by its path, from any folder) and passes the config checks at
each size it offers, and the configs of the paper's Tables 1-3 say what the paper says (pool ratios, label
fraction, what each ablation changes, the baselines' schedules). Nothing is generated or compiled."""

import functools
import hashlib
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import pytest

from selfgait_jax.errors import ConfigError
from selfgait_jax.study import label_rows
from selfgait_jax.study import rows as study_rows
from selfgait_jax.train import config_checks

ROOT = pathlib.Path(__file__).resolve().parents[1]

CONFIG_NAMES = sorted(p.stem for p in (ROOT / "configs").glob("*.py") if p.stem != "__init__")
# quickstart: "quick" (the default) and "tiny"; study: ROW,SEED[,val] for every row; label_study:
# each kind of run (every pretext, SG-2 and SG-6, the 1-step twin, every start) and the tiny size
SIZES = {"quickstart": (None, "tiny"),
         "study": ("wo_pt", "sg2,1", "sg4", "sg6,2,val", "sg6_no_hpm", "sg6_no_mtb", "gaitset",
                   "gaitpart,1", "gaitset_40", "sg6_other_view"),
         "label_study": ("pretrain,paper,0", "pretrain,contrastive,1", "pretrain,contrastive,2,6",
                         "pretrain,paper,0,onestep", "finetune,wo_pt,0.05,0", "finetune,paper,0.1,1",
                         "finetune,contrastive,0.4,2", "pretrain,contrastive,0,tiny",
                         "finetune,paper,0.05,0,tiny")}
SG_ROWS = {"sg2": 2.0, "sg4": 4.0, "sg6": 6.0}
ABLATIONS = ("ablation_no_pt", "ablation_no_hpm", "ablation_no_mtb")


@functools.cache
def module(name):
    """configs/<name>.py loaded by its path, as ``--config=configs/<name>.py`` loads it."""
    spec = importlib.util.spec_from_file_location(f"config_{name}", ROOT / "configs" / f"{name}.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def load(name, arg=None):
    return module(name).get_config(arg)


def stages_of(config):
    """(stage name, resolved stage config) of a chain, or ("", config) of a single stage."""
    if "stages" not in config:
        return [("", config)]
    return [(n, config[n].copy_and_resolve_references()) for n in config.stages.split(",")]


def flat(config, prefix=""):
    out = {}
    for key, value in config.items():
        if hasattr(value, "items"):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def diff_keys(a, b):
    fa, fb = flat(a.to_dict()), flat(b.to_dict())
    return {k for k in set(fa) | set(fb) if fa.get(k, "<absent>") != fb.get(k, "<absent>")}


DIGESTS = ROOT / "tests" / "data" / "config_digests.json"


def digest_args():
    """(file, arg) of every config the digests pin: each file at each size, every study row, every
    run of the label study's plans (SynthGait and CASIA-B)."""
    study_args = [f"{row},0" for row in study_rows.ROWS] + ["sg6,1", "wo_pt,0,val", "sg6,0,val"]
    label_args = sorted({run.spec for data in ("", label_rows.CASIA_B) for run in label_rows.plan(data=data)})
    pinned = {"study": study_args, "label_study": label_args}
    return [(name, arg) for name in CONFIG_NAMES for arg in pinned.get(name, SIZES.get(name, (None, "tiny")))]


def config_digest(config) -> str:
    """sha256 of the config's values (sorted keys, references resolved)."""
    canonical = json.dumps(json.loads(config.to_json()), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_configs_produce_the_pinned_values():
    """Every config builds exactly the values pinned in tests/data/config_digests.json: a refactor
    of the builders must not move a number (a running study resumes from configs/study.py). A change
    that is meant: rewrite the file with ``python tests/test_configs.py --write-digests`` and say in
    the commit which values changed and why."""
    pinned = json.loads(DIGESTS.read_text())
    now = {f"{name}:{arg}": config_digest(load(name, arg)) for name, arg in digest_args()}
    changed = sorted(k for k in now if pinned.get(k) != now[k])
    assert not changed and set(pinned) == set(now), (
        f"configs whose values changed: {changed}; missing or new: {sorted(set(pinned) ^ set(now))}")


def test_each_stage_carries_only_its_own_section():
    for name in CONFIG_NAMES:
        for arg in SIZES.get(name, (None, "tiny")):
            for stage_name, stage in stages_of(load(name, arg)):
                where = f"{name}:{arg} {stage_name}"
                assert ("byol" in stage, "triplet" in stage) == (
                    (True, False) if stage.stage == "pretrain" else (False, True)), where
    pre, fine = load("pretrain", "tiny"), load("gaitset", "tiny")
    fine.byol = pre.byol  # the other stage's section
    with pytest.raises(ValueError, match=r"^config\.byol: a triplet config carries only its own section"):
        config_checks.check_config(fine, jax.device_count())
    pre.stage = "triplet"  # a stage without its section
    del pre["byol"]
    with pytest.raises(ValueError, match=r"^config\.triplet: missing"):
        config_checks.check_config(pre, jax.device_count())


def test_the_probe_is_checked_before_the_run(tmp_path):
    config = load("pretrain", "tiny")
    config.probe.every = 5
    config_checks.check_config(config, jax.device_count())  # synthgait_b:tiny, generated
    for key, value, message in (("data", "synthgait_pool", "probe.data: 'synthgait_pool' is not a labelled"),
                                ("data", "synthgait_b:huge", "probe.data: size 'huge'"),
                                ("data", "casia_b", "probe.root: '' is not a folder"),
                                ("validation_subjects", 0, "probe.validation_subjects: must be a positive")):
        bad = config.copy_and_resolve_references()
        bad.probe[key] = value
        with pytest.raises(ValueError, match="^" + re.escape(f"config.{message}")):
            config_checks.check_config(bad, jax.device_count())


def test_a_stage_on_real_data_is_not_probed_on_synthgait(tmp_path):
    config = load("pretrain", "tiny")
    config.data.name, config.data.root, config.probe.every = "opengait_pkl", str(tmp_path), 5
    with pytest.raises(ValueError, match="^" + re.escape("config.probe.data: 'synthgait_b:tiny' is SynthGait, "
                                                         "but this stage trains on opengait_pkl")):
        config_checks.check_config(config, jax.device_count())
    config.probe.data, config.probe.root = "opengait_pkl", str(tmp_path)
    config_checks.check_config(config, jax.device_count())


def test_the_evaluation_settings_are_checked_before_training():
    """A chain reads eval.* only after its last stage has trained: a typo must fail first (the
    types themselves are ml_collections' to check)."""
    config = load("gaitset", "tiny")
    for key, value, message in (("metric", "cosinus", "eval.metric: 'cosinus' is not one of euclidean, cosine"),
                                ("max_length", -1, "eval.max_length: must be an integer >= 0"),
                                ("batch_size", -8, "eval.batch_size: must be an integer >= 0")):
        bad = config.copy_and_resolve_references()
        bad.eval[key] = value
        with pytest.raises(ValueError, match="^" + re.escape(f"config.{message}")):
            config_checks.check_config(bad, jax.device_count())
    chain = load("sg2", "tiny")
    chain.finetune.eval.metric = "cosinus"
    with pytest.raises(ConfigError, match=r"^config\.finetune\.eval\.metric: 'cosinus'") as error:
        config_checks.check_chain(chain, "unused", jax.device_count())  # the key as a chain sets it
    assert error.value.key == "finetune.eval.metric"


def test_a_chain_is_checked_whole_and_its_stages_resolved(tmp_path):
    stages = config_checks.check_chain(load("sg2", "tiny"), str(tmp_path), jax.device_count())
    assert list(stages) == ["pretrain", "finetune"]
    assert stages["finetune"].init_from == str(tmp_path / "pretrain")
    for stages_value, key, message in (
            ("finetune,pretrain", "finetune.init_from",
             "config.finetune.init_from: '@pretrain' must name an earlier stage"),
            ("pretrain,finetun", "stages", "config.stages: names 'finetun' but config.finetun does not exist")):
        chain = load("sg2", "tiny")
        chain.stages = stages_value
        with pytest.raises(ConfigError, match="^" + re.escape(message)) as error:
            config_checks.check_chain(chain, str(tmp_path), jax.device_count())
        assert error.value.key == key


def test_every_config_file_is_covered():
    assert {"sg2", "sg4", "sg6", "sg2_ou_mvlp", "gaitset", "gaitpart", "gaitset_ou_mvlp",
            "gaitpart_ou_mvlp", "finetune", "pretrain", "quickstart", *ABLATIONS} <= set(CONFIG_NAMES)


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_loads_and_passes_the_config_checks_at_every_size(name, tmp_path):
    for arg in SIZES.get(name, (None, "tiny")):
        config = load(name, arg)
        for stage_name, stage in stages_of(config):
            where = f"{name}:{arg or 'default'} {stage_name}"
            if stage.data.name in ("ou_mvlp", "casia_b", "opengait_pkl", "casia_b_pkl"):
                # Full-size real-data configs pass the checks only once data.root names the dataset.
                assert arg != "tiny", where
                with pytest.raises(ValueError, match=re.escape("config.data.root:")):
                    config_checks.check_config(stage, jax.device_count(), check_init_from=False)
                stage.data.root = str(tmp_path)
            if stage.get("require_init_from", False) and not stage.init_from:
                assert name in ("finetune", "label_study"), where  # the label study's runner gives it
                with pytest.raises(ValueError, match="init_from=PRETRAIN_WORKDIR.*ablation_no_pt"):
                    config_checks.check_config(stage, jax.device_count())
                stage.init_from = "PRETRAIN_WORKDIR"
            if stage.init_from.startswith("@"):  # an earlier stage of the chain
                names = config.stages.split(",")
                assert stage.init_from[1:] in names[:names.index(stage_name)], where
                stage.init_from = str(tmp_path / stage.init_from[1:])
            config_checks.check_config(stage, jax.device_count(), check_init_from=False)
        if "stages" in config and config.evaluate:
            assert config.evaluate in config.stages.split(","), name


@pytest.mark.parametrize("arg", [None, "tiny"])
def test_sg_rows_pool_ratios_and_fine_tuning_set(arg):
    for name, ratio in SG_ROWS.items():
        c = load(name, arg)
        assert c.stages == "pretrain,finetune" and c.evaluate == "finetune"
        assert c.pretrain.stage == "pretrain" and c.pretrain.data.name == "synthgait_pool"
        assert c.pretrain.data.pool_ratio == ratio
        assert c.finetune.data.name == "synthgait_b" and c.finetune.init_from == "@pretrain"
    for name in (*SG_ROWS, *ABLATIONS, "sg2_ou_mvlp"):
        assert load(name, arg).finetune.triplet.label_fraction == 0.4, name
    # The SG-n rows differ only in the pool ratio (and their names).
    assert diff_keys(load("sg2", arg), load("sg6", arg)) == {"name", "pretrain.data.pool_ratio"}


@pytest.mark.parametrize("arg", [None, "tiny"])
def test_ablations_differ_from_sg6_only_in_the_intended_keys(arg):
    sg6 = load("sg6", arg)
    no_hpm, no_mtb, no_pt = (load(n, arg) for n in ABLATIONS[1:] + ABLATIONS[:1])
    assert diff_keys(sg6, no_hpm) == {"name", "pretrain.model.name", "pretrain.model.bins",
                                      "finetune.model.name", "finetune.model.bins"}
    assert tuple(no_hpm.finetune.model.bins) == (1,)  # global pooling, same conv stack
    assert diff_keys(sg6, no_mtb) == {"name", "pretrain.model.name", "finetune.model.name"}
    assert no_pt.stages == "finetune" and no_pt.evaluate == "finetune"
    assert no_pt.finetune.init_from == "" and not no_pt.finetune.require_init_from
    without_pretrain = {k for k in diff_keys(sg6, no_pt) if not k.startswith("pretrain.")}
    assert without_pretrain == {"name", "stages", "finetune.init_from", "finetune.require_init_from"}


def test_finetune_refuses_to_become_the_no_pt_row():
    c = load("finetune")
    assert c.require_init_from and not c.init_from
    with pytest.raises(ValueError) as e:
        config_checks.check_config(c, jax.device_count())
    assert "config.init_from:" in str(e.value)
    assert "--config.init_from=PRETRAIN_WORKDIR" in str(e.value)
    assert "configs/ablation_no_pt.py" in str(e.value)
    for name in CONFIG_NAMES:  # every other config (and stage) declares the key False
        if name not in ("finetune", "label_study"):  # label_study: tests/test_label_study.py
            for _, stage in stages_of(load(name, SIZES.get(name, (None, "tiny"))[-1])):
                assert stage.require_init_from == stage.init_from.startswith("@"), name


@pytest.mark.parametrize("arg", [None, "tiny"])
def test_baseline_recipes(arg):
    full = arg is None
    part = load("gaitpart", arg)
    assert (part.optimizer.name, part.optimizer.lr, part.optimizer.schedule) == ("adam", 1e-4, "multistep")
    assert part.optimizer.decay_factor == 0.1 and part.triplet.ordered
    if full:  # OpenGait: x0.1 at 100k of 120k
        assert part.total_steps == 120_000 and tuple(part.optimizer.boundaries) == (100_000,)
    gs = load("gaitset", arg)
    assert (gs.optimizer.name, gs.optimizer.lr, gs.optimizer.schedule) == ("adam", 1e-4, "constant")
    assert not gs.triplet.ordered and (gs.total_steps == 80_000) == full
    for name in ("gaitset_ou_mvlp", "gaitpart_ou_mvlp"):
        c = load(name, arg)
        assert c.data.name == ("ou_mvlp" if full else "synthgait_mv") and c.optimizer.schedule == "multistep"
        if full:
            assert c.total_steps == 250_000 and tuple(c.optimizer.boundaries) == (150_000,)
            assert (c.triplet.P, c.triplet.K) == (32, 16)


def test_ou_mvlp_rows_use_pool_mode_and_one_data_root():
    c = load("sg2_ou_mvlp")
    for stage in (c.pretrain, c.finetune):
        assert stage.data.name == "ou_mvlp" and stage.total_steps == 150_000
        assert stage.optimizer.schedule == "multistep" and tuple(stage.optimizer.boundaries) == (100_000,)
    assert c.pretrain.data.pool_ratio == 2.0 and c.pretrain.data.pool_base_sequences == 74 * 10 * 11
    c.pretrain.data.root = "/data/oumvlp"  # what --config.pretrain.data.root=... does
    assert [s.data.root for _, s in stages_of(c)] == ["/data/oumvlp", "/data/oumvlp"]
    tiny = load("sg2_ou_mvlp", "tiny")
    assert tiny.pretrain.data.name == "synthgait_mv" and tiny.pretrain.data.pool_ratio == 2.0


def test_pool_mode_errors_are_config_errors():
    """A SynthGait labelled set's pool is checked before anything is generated."""
    c = load("sg2_ou_mvlp", "tiny").pretrain.copy_and_resolve_references()
    c.data.pool_ratio = 3.0  # 3 x 5 = 15 > the 12 training sequences of tiny synthgait_mv
    with pytest.raises(ValueError, match=r"config\.data\.pool_ratio: .*asks for 15 .* has only 12"):
        config_checks.check_config(c, jax.device_count())
    c.data.pool_ratio, c.data.pool_base_sequences = 2.0, 0
    with pytest.raises(ValueError, match=re.escape("config.data.pool_base_sequences:")):
        config_checks.check_config(c, jax.device_count())
    fine = load("gaitset", "tiny")
    fine.data.pool_ratio = 2.0  # pool mode is for pretraining only
    with pytest.raises(ValueError, match=re.escape("config.data.pool_ratio:")):
        config_checks.check_config(fine, jax.device_count())


def test_study_rows_are_the_paper_rows_at_one_scale():
    sg6, no_hpm, wo_pt = load("study", "sg6"), load("study", "sg6_no_hpm"), load("study", "wo_pt")
    assert diff_keys(sg6, no_hpm) == {"name", "pretrain.model.name", "pretrain.model.bins",
                                      "finetune.model.name", "finetune.model.bins"}
    assert wo_pt.stages == "finetune" and sg6.stages == "pretrain,finetune"
    assert diff_keys(sg6.finetune, wo_pt.finetune) == {"init_from", "require_init_from"}
    for row in ("sg2", "sg4", "sg6"):
        assert load("study", row).pretrain.data.pool_ratio == SG_ROWS[row]
        assert load("study", row).pretrain.data.pool_base_sequences == 74 * 10 * 11
    full_split = load("study", "gaitset").finetune.data
    assert full_split.num_subjects == 124 and len(full_split.views) == 11
    assert load("study", "gaitset").finetune.triplet.label_fraction == 1.0
    assert load("study", "gaitset_40").finetune.triplet.label_fraction == 0.4
    assert load("study", "sg6,1").finetune.seed == load("study", "sg6,1").pretrain.seed == 1
    val = load("study", "wo_pt,0,val").finetune
    assert val.data.validation_subjects == study_rows.VALIDATION_SUBJECTS
    assert load("study", "wo_pt").finetune.data.validation_subjects == 0
    other = load("study", "sg6_other_view")
    assert diff_keys(sg6, other) == {"name", "pretrain.pretext.name", "pretrain.model.head_bn_per_part"}
    with pytest.raises(ValueError, match="ROW"):
        load("study", "sg9")


def _package_only(tmp_path):
    """A copy of configs/ and a folder that holds only a link to the package, as after ``pip
    install``: neither the repository root nor a ``configs`` package is importable from there."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "selfgait_jax").symlink_to(ROOT / "selfgait_jax", target_is_directory=True)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "configs", elsewhere / "configs")
    env = dict(os.environ, PYTHONPATH=str(site))
    return elsewhere / "configs", env


_LOAD_EVERY_CONFIG = """
import importlib.util, json, pathlib, sys
assert not any(pathlib.Path(p or '.').resolve() == pathlib.Path(sys.argv[2]) for p in sys.path)
try:
    import configs
    raise SystemExit('configs is importable: the check would prove nothing')
except ModuleNotFoundError:
    pass
out = {}
for name, args in json.loads(sys.argv[3]).items():
    spec = importlib.util.spec_from_file_location(name, pathlib.Path(sys.argv[1]) / (name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for arg in args:
        out[name + ':' + str(arg)] = module.get_config(arg).to_json(sort_keys=True)
print(json.dumps(out))
"""


def test_every_config_loads_by_path_outside_the_repository(tmp_path):
    """configs/*.py import only selfgait_jax (and ml_collections): loaded by path with the repository
    root off sys.path and the working directory elsewhere, they build the same configs."""
    folder, env = _package_only(tmp_path)
    args = {name: list(SIZES.get(name, (None, "tiny"))) for name in CONFIG_NAMES}
    done = subprocess.run([sys.executable, "-c", _LOAD_EVERY_CONFIG, str(folder), str(ROOT),
                           json.dumps(args)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert len(loaded) == sum(len(a) for a in args.values())
    for name, name_args in args.items():
        for arg in name_args:
            assert loaded[f"{name}:{arg}"] == load(name, arg).to_json(sort_keys=True), (name, arg)


@pytest.mark.slow  # starts python -m selfgait_jax.main (JAX, absl): a few seconds
def test_main_loads_a_config_by_path_from_any_folder(tmp_path):
    folder, env = _package_only(tmp_path)
    done = subprocess.run([sys.executable, "-m", "selfgait_jax.main", f"--config={folder}/pretrain.py:tiny",
                           "--config.total_step=5", f"--workdir={tmp_path / 'run'}"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "No module named" not in done.stderr, done.stderr
    assert "did you mean total_steps?" in done.stderr  # the config loaded: its keys were offered


def test_config_files_import_only_the_config_level_of_the_package():
    """configs/*.py import config_defaults (and the studies' rows, which sit at its level), never the
    training, evaluation or data code directly."""
    import ast

    allowed = {"selfgait_jax.config_defaults", "selfgait_jax.study.rows", "selfgait_jax.study.label_rows",
               "ml_collections", "__future__"}
    for path in sorted((ROOT / "configs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):  # from selfgait_jax.study import rows: the module imported
                names = [node.module if node.module in allowed else f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                assert name in allowed or name.startswith("ml_collections."), f"{path.name} imports {name}"


if __name__ == "__main__" and sys.argv[1:] == ["--write-digests"]:
    DIGESTS.write_text(json.dumps({f"{name}:{arg}": config_digest(load(name, arg))
                                   for name, arg in digest_args()}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {DIGESTS}")
