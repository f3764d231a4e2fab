"""The label-efficiency study (selfgait_jax/study/label_*.py, configs/label_study.py,
tools/label_study.py): the plan's order, the configs each spec builds, running and skipping runs,
the archive, and the report's numbers from hand-made results."""

import dataclasses
import json
import math
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import pytest

import repo_files
from selfgait_jax.data import sources
from selfgait_jax.study import label_report, label_rows, runner
from selfgait_jax.study import rows as study_rows
from selfgait_jax.study.label_rows import FineTuning, Pretraining
from selfgait_jax.study.runs import Runs
from selfgait_jax.train import config_checks, pretexts
from study_fixtures import fake_fine_tuning, fake_pretraining, results_json

ROOT = pathlib.Path(__file__).resolve().parents[1]
OTHER = label_rows.OTHER_PRETEXT


def _flat(config, prefix=""):
    out = {}
    for key, value in config.items():
        out.update(_flat(value, f"{prefix}{key}.") if hasattr(value, "items") else {f"{prefix}{key}": value})
    return out


def _diff(a, b):
    fa, fb = _flat(a.to_dict()), _flat(b.to_dict())
    return {k for k in set(fa) | set(fb) if fa.get(k, "<absent>") != fb.get(k, "<absent>")}


def _config(spec):
    return repo_files.config("label_study").get_config(spec)


# --- the plan ------------------------------------------------------------------------------------

def test_the_plan_goes_seed_by_seed_smallest_fraction_first_then_the_largest_then_the_pool_and_steps_rows():
    plan = label_rows.plan()
    seed0 = plan[:13]
    assert seed0[:4] == [Pretraining("paper", 0), Pretraining("paper", 0, onestep=True),
                         Pretraining(OTHER, 0), Pretraining(OTHER, 0, onestep=True)]
    assert seed0[4:7] == [FineTuning(start, 0.05, 0) for start in ("wo_pt", "paper", OTHER)]
    assert [r.fraction for r in seed0[4:]] == [f for f in (0.05, 0.1, 0.2) for _ in range(3)]
    assert [r.seed for r in plan[:39]] == [s for s in range(3) for _ in range(13)]
    assert plan[39:48] == [FineTuning(start, 0.4, s) for s in range(3) for start in ("wo_pt", "paper", OTHER)]
    sg6 = label_rows.POOL_ROW_RATIO
    assert plan[48:57] == [run for s in range(3) for run in (
        Pretraining(OTHER, s, sg6), Pretraining(OTHER, s, sg6, onestep=True), FineTuning(OTHER, 0.05, s, sg6))]
    assert plan[57:] == [run for s in range(3) for run in (  # its control, the steps row
        Pretraining(OTHER, s, passes=6), Pretraining(OTHER, s, onestep=True, passes=6),
        FineTuning(OTHER, 0.05, s, passes=6))]
    assert len(set(plan)) == len(plan) == 66
    for k, run in enumerate(plan):  # every pretrained start's pretraining comes before it
        if isinstance(run, FineTuning) and run.pretraining is not None:
            assert run.pretraining in plan[:k] and run.pretraining.seed == run.seed, run
    one_seed = label_rows.plan(seeds=1)
    assert one_seed[:13] == seed0 and one_seed[13:16] == plan[39:42] and len(one_seed) == 22
    assert all(run.tiny for run in label_rows.plan(tiny=True))


def test_every_run_of_the_plan_is_named_by_its_spec_and_has_its_own_folder():
    plan = label_rows.plan()
    for run in plan:
        parsed = label_rows.parse(run.spec)
        # A fine-tuning spec leaves out its start's pool and passes: the config is the same, init_from differs.
        assert parsed == (dataclasses.replace(run, pool_ratio=label_rows.POOL_RATIO, passes=label_rows.PASSES)
                          if isinstance(run, FineTuning) else run)
    assert len({run.folder for run in plan}) == len(plan)
    assert Pretraining(OTHER, 1, 6.0, onestep=True).spec == f"pretrain,{OTHER},1,6,onestep"
    assert Pretraining(OTHER, 1, 6.0, onestep=True).folder == f"pretrain/{OTHER}_sg6_1step/seed1"
    assert FineTuning(OTHER, 0.05, 2, 6.0).folder == f"finetune/{OTHER}_sg6/0.05/seed2"
    assert Pretraining(OTHER, 1, passes=6).spec == f"pretrain,{OTHER},1,2,6"
    assert Pretraining(OTHER, 1, passes=6).folder == f"pretrain/{OTHER}_6passes/seed1"
    assert FineTuning(OTHER, 0.05, 2, passes=6).folder == f"finetune/{OTHER}_6passes/0.05/seed2"
    assert FineTuning(OTHER, 0.05, 2, passes=6).pretraining == Pretraining(OTHER, 2, passes=6)
    assert label_rows.parse("finetune,paper,0.05,0,tiny") == FineTuning("paper", 0.05, 0, tiny=True)


@pytest.mark.parametrize("spec, words", [
    ("", "the first field is pretrain or finetune, not ''"),
    ("train,paper,0", "the first field is pretrain or finetune, not 'train'"),
    ("pretrain,authorz,0", "PRETEXT 'authorz' is not one of paper, " + OTHER),
    ("pretrain,paper", "pretrain takes PRETEXT,SEED[,POOL_RATIO[,PASSES]], got 1 fields"),
    ("pretrain,paper,one", "SEED 'one' is not a number"),
    ("pretrain,paper,0,0", "POOL_RATIO 0 must be positive (0, the training split, on casia_b only)"),
    ("pretrain,paper,0,-1,casia_b", "POOL_RATIO -1 must be positive"),
    ("pretrain,paper,0,2,6,1", "pretrain takes PRETEXT,SEED[,POOL_RATIO[,PASSES]], got 5 fields"),
    ("pretrain,paper,0,2,0", "PASSES 0 must be >= 1"),
    ("pretrain,paper,0,2,2.5", "PASSES '2.5' is not a number"),
    ("finetune,scratch,0.1,0", f"START 'scratch' is not one of wo_pt, paper, {OTHER}, gaitset, gaitpart"),
    ("finetune,gaitset,1,0,no_hpm", "NETWORK no_hpm is a SelfGait network; gaitset has its own"),
    ("finetune,paper,1.5,0", "FRACTION 1.5 must be in (0, 1]"),
    ("finetune,paper,0.1", "finetune takes START,FRACTION,SEED, got 2 fields"),
    ("finetune,paper,0.1,-1", "SEED -1 must be >= 0"),
])
def test_a_bad_spec_is_one_error_that_names_it_and_the_forms(spec, words):
    with pytest.raises(ValueError) as error:
        _config(spec)
    message = str(error.value)
    assert message.startswith(words)
    assert message.endswith("; configs/label_study.py takes "
                            "pretrain,PRETEXT,SEED[,POOL_RATIO[,PASSES]][,onestep][,no_hpm|no_mtb][,casia_b][,tiny] "
                            "or finetune,START,FRACTION,SEED[,no_hpm|no_mtb][,casia_b][,tiny]")


@pytest.mark.slow  # starts python -m selfgait_jax.main (JAX, absl): a few seconds
def test_main_says_what_is_wrong_with_a_spec_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "selfgait_jax.main",
                           f"--config={ROOT / 'configs' / 'label_study.py'}:finetune,paper,0.5x,0",
                           f"--workdir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: flag --config={ROOT / 'configs' / 'label_study.py'}:finetune,paper,0.5x,0: FRACTION '0.5x' is "
        "not a number; configs/label_study.py takes pretrain,PRETEXT,SEED[,POOL_RATIO[,PASSES]][,onestep]"
        "[,no_hpm|no_mtb][,casia_b][,tiny] or finetune,START,FRACTION,SEED[,no_hpm|no_mtb][,casia_b][,tiny] "
        "(see python3 -m selfgait_jax.main --help)")


# --- the configs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("ratio", [2.0, 6.0])
def test_pretraining_passes_the_pool_as_generated_at_least_twice(ratio):
    pool = label_rows.pool_sequences(ratio)
    data = _config(f"pretrain,{OTHER},0,{ratio:g}").data
    assert pool == len(sources.synthgait_spec(data).metas())  # the pool as SynthGait generates it
    assert pool == {2.0: 16_296, 6.0: 48_860}[ratio]  # 582 and 1,745 walkers x 14 views x 2 walks
    steps = _config(f"pretrain,{OTHER},0,{ratio:g}").total_steps
    assert steps == math.ceil(2 * pool / study_rows.PRETEXT_BATCH) == {2.0: 2037, 6.0: 6108}[ratio]
    assert (steps - 1) * study_rows.PRETEXT_BATCH < label_rows.PASSES * pool <= steps * study_rows.PRETEXT_BATCH
    tiny = _config("pretrain,paper,0,tiny")
    assert label_rows.pool_sequences(2.0, tiny=True) == len(sources.synthgait_spec(tiny.data).metas())


def test_the_steps_row_is_the_sg2_pretraining_run_for_the_pool_rows_steps():
    """Its control: the SG-2 pool passed 6 times, 6,111 steps against the SG-6 row's 6,108 (within
    0.05 %); nothing else differs from the SG-2 pretraining."""
    long, short = _config(f"pretrain,{OTHER},1,2,6"), _config(f"pretrain,{OTHER},1")
    assert long.total_steps == math.ceil(6 * 16_296 / study_rows.PRETEXT_BATCH) == 6111
    assert abs(long.total_steps - _config(f"pretrain,{OTHER},1,6").total_steps) == 3
    assert _diff(long, short) == {"name", "total_steps"}
    assert _config(f"pretrain,{OTHER},1,2,6,onestep").total_steps == 1


def test_the_papers_pretraining_is_the_reproductions_sg2_stage_run_longer():
    sg2 = repo_files.config("study").get_config("sg2,1").pretrain
    mine = _config("pretrain,paper,1")
    assert _diff(mine, sg2) == {"name", "total_steps", "probe.every"}
    assert (mine.data.name, mine.data.pool_ratio, mine.seed) == ("synthgait_pool", 2.0, 1)
    assert mine.probe.every == label_rows.PROBE_EVERY and mine.probe.validation_subjects == 24
    twin = _config("pretrain,paper,1,onestep")
    assert _diff(twin, mine) == {"name", "total_steps", "probe.every"}
    assert twin.total_steps == 1 and twin.probe.every == 0


def test_the_other_pretext_differs_from_the_papers_only_in_its_declared_options():
    assert OTHER in pretexts.PRETEXTS and OTHER in label_rows.PRETEXT_OPTIONS
    assert set(label_rows.PRETEXT_OPTIONS) <= set(pretexts.PRETEXTS)
    assert label_rows.PRETEXTS == ("paper", OTHER) and label_rows.STARTS == ("wo_pt", "paper", OTHER)
    paper, other = _config("pretrain,paper,0"), _config(f"pretrain,{OTHER},0")
    options = label_rows.PRETEXT_OPTIONS[OTHER]
    assert _diff(paper, other) <= {"name", "pretext.name", *options}
    flat = _flat(other.to_dict())
    assert other.pretext.name == OTHER and all(flat[k] == v for k, v in options.items())
    sg6 = _config(f"pretrain,{OTHER},0,6")
    assert _diff(sg6, other) == {"name", "total_steps", "data.pool_ratio"}


def test_an_option_that_names_no_key_is_refused(monkeypatch):
    monkeypatch.setitem(label_rows.PRETEXT_OPTIONS, "paper", {"byol.batchby": "view"})
    with pytest.raises(KeyError, match="no key 'byol.batchby'"):
        _config("pretrain,paper,0")


@pytest.mark.parametrize("fraction", label_rows.FRACTIONS)
def test_fine_tuning_is_the_reproductions_wo_pt_stage_at_the_fraction(fraction):
    wo_pt = repo_files.config("study").get_config("wo_pt,2").finetune
    chain = _config(f"finetune,wo_pt,{fraction:g},2")
    assert chain.stages == "finetune" and chain.evaluate == "finetune"
    assert _diff(chain.finetune, wo_pt) == ({"triplet.label_fraction"} if fraction != 0.4 else set())
    assert chain.finetune.triplet.label_fraction == fraction and chain.finetune.seed == 2
    assert not chain.finetune.require_init_from and chain.finetune.init_from == ""
    for start in label_rows.PRETEXTS:  # a pretrained start: the same, and refused without init_from
        pretrained = _config(f"finetune,{start},{fraction:g},2")
        assert _diff(pretrained.finetune, chain.finetune) == {"require_init_from"}
        assert pretrained.finetune.require_init_from and pretrained.finetune.init_from == ""


def test_a_pretrained_start_needs_init_from_and_validates_with_it(tmp_path):
    chain = _config("finetune,paper,0.05,0")
    with pytest.raises(ValueError, match=r"^config\.finetune\.init_from:.*--config\.finetune\.init_from=PRETRAIN"):
        config_checks.check_chain(chain, str(tmp_path / "run"), jax.device_count())
    (tmp_path / "pre" / "checkpoints" / "1").mkdir(parents=True)
    chain.finetune.init_from = str(tmp_path / "pre")  # what --config.finetune.init_from=PATH sets
    stages = config_checks.check_chain(chain, str(tmp_path / "run"), jax.device_count())
    assert stages["finetune"].init_from == str(tmp_path / "pre")


# --- running -------------------------------------------------------------------------------------

class FakeRuns:
    """Stands in for ``subprocess.run``: does what main and tools/evaluate.py would leave behind."""

    def __init__(self, runs, fail=()):
        self.runs, self.fail, self.commands = runs, set(fail), []

    def __call__(self, command, cwd, **_):
        self.commands.append(command)
        args = dict(a[2:].split("=", 1) for a in command[2:] if a.startswith("--"))
        if "evaluate.py" in command[1]:
            results_json(pathlib.Path(args["out"]), 30, 20, 10)
            return subprocess.CompletedProcess(command, 0)
        spec = args["config"].rsplit(":", 1)[1]
        if spec in self.fail:
            return subprocess.CompletedProcess(command, 1)
        run = label_rows.parse(spec)
        workdir = pathlib.Path(args["workdir"])
        if isinstance(run, Pretraining):
            (workdir / "checkpoints" / str(run.steps)).mkdir(parents=True)
            (workdir / "metrics.jsonl").write_text(json.dumps({"step": run.steps, "loss": 0.5}) + "\n")
        else:
            results_json(workdir / "finetune" / "eval" / "1000", 50, 40, 30)
        return subprocess.CompletedProcess(command, 0)

    def started(self):
        """What each command was: a spec for main, evaluate:SPLIT for a zero-shot probe."""
        out = []
        for command in self.commands:
            if "evaluate.py" in command[1]:
                validation = any(a.startswith("--validation_subjects=") for a in command)
                out.append(f"evaluate:{'validation' if validation else 'test'}")
            else:
                out.append(command[3].rsplit(":", 1)[1])
        return out


def test_a_pretraining_is_main_then_its_zero_shot_probe_on_both_splits(tmp_path, monkeypatch):
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    fake = FakeRuns(runs)
    monkeypatch.setattr(subprocess, "run", fake)
    run = Pretraining("paper", 0)
    assert runner.run_one(runs, run, tmp_path / "repo")
    main, validation, test = fake.commands
    workdir = runs.workdir(run)
    assert main[1:] == ["-m", "selfgait_jax.main", f"--config={tmp_path / 'repo' / 'configs' / 'label_study.py'}:"
                        "pretrain,paper,0", f"--workdir={workdir}"]
    evaluate = [str(tmp_path / "repo" / "tools" / "evaluate.py"), f"--workdir={workdir}", "--data=synthgait_b",
                "--max_length=30"]
    assert validation[1:] == [*evaluate, f"--out={workdir / 'zero_shot_validation'}", "--validation_subjects=24"]
    assert test[1:] == [*evaluate, f"--out={workdir / 'zero_shot_test'}"]
    # Its 1-step twin: the same, on the twin's spec and in its own workdir.
    assert runner.run_one(runs, run.twin, tmp_path / "repo")
    assert fake.started()[3:] == ["pretrain,paper,0,onestep", "evaluate:validation", "evaluate:test"]
    assert fake.commands[4][2] == f"--workdir={runs.workdir(run.twin)}" != fake.commands[1][2]
    assert runs.finished(run.twin)
    archived = runs.archived(run)
    assert sorted(p.name for p in archived.iterdir()) == ["metrics.jsonl", "zero_shot_test.json",
                                                          "zero_shot_validation.json"]
    assert runs.zero_shot(run, "test")["conditions"]["NM"]["mean"] == 30


def test_fine_tuning_starts_from_its_seeds_pretraining_and_trains_it_again_if_its_checkpoint_is_gone(
        tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    old = Runs(tmp_path / "old", archive)
    pre = Pretraining(OTHER, 1, 6.0)
    fake_pretraining(old, pre, (30, 20, 10), (25, 15, 5))
    assert old.archive_run(pre)
    runs = Runs(tmp_path / "new", archive)  # a fresh checkout: the archive, no checkpoint
    assert runs.finished(pre) and not runs.trained(pre)
    fake = FakeRuns(runs)
    monkeypatch.setattr(subprocess, "run", fake)
    assert runner.run_one(runs, pre, tmp_path)  # finished: nothing runs
    assert fake.commands == []
    run = FineTuning(OTHER, 0.05, 1, 6.0)
    assert runner.run_one(runs, run, tmp_path)
    assert fake.started() == [f"pretrain,{OTHER},1,6", f"finetune,{OTHER},0.05,1"]
    assert fake.commands[1][-1] == f"--config.finetune.init_from={runs.workdir(pre)}"
    assert runs.workdir(pre) == tmp_path / "new" / "pretrain" / f"{OTHER}_sg6" / "seed1"
    assert json.loads((runs.archived(run) / "results.json").read_text())["conditions"]["CL"]["mean"] == 30
    wo_pt = FineTuning("wo_pt", 0.05, 1)
    assert runner.run_one(runs, wo_pt, tmp_path)
    assert not any(a.startswith("--config.finetune.init_from") for a in fake.commands[-1])


def test_run_study_skips_what_is_finished_and_leaves_out_what_a_failed_pretraining_feeds(tmp_path, monkeypatch):
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    plan = [Pretraining("paper", 0), Pretraining("paper", 0, onestep=True), Pretraining(OTHER, 0),
            FineTuning("wo_pt", 0.05, 0), FineTuning("paper", 0.05, 0), FineTuning(OTHER, 0.05, 0),
            FineTuning("wo_pt", 0.05, 1)]
    fake_pretraining(runs, plan[1], (20, 20, 20), (10, 10, 10))  # finished before: not run again
    fake = FakeRuns(runs, fail={f"pretrain,{OTHER},0"})
    reports = []
    monkeypatch.setattr(subprocess, "run", fake)
    failed = runner.run_study(runs, plan, tmp_path, lambda: reports.append(len(runs.collect(plan))), max_seeds=1)
    assert fake.started() == ["pretrain,paper,0", "evaluate:validation", "evaluate:test", f"pretrain,{OTHER},0",
                              "finetune,wo_pt,0.05,0", "finetune,paper,0.05,0"]
    assert failed == [f"pretraining {OTHER} seed 0 (see {runs.workdir(plan[2]) / 'log.txt'})",
                      f"fine-tuning {OTHER} 0.05 seed 0 (left out: pretraining {OTHER} seed 0 failed)"]
    assert reports == [2, 3, 4, 4]  # after each run made (the 1-step twin was there), and at the end
    assert runs.finished(plan[1]) and (runs.archived(plan[1]) / "zero_shot_test.json").is_file()


# --- the study on real CASIA-B ---------------------------------------------------------------------

CASIA = label_rows.CASIA_B


def test_on_casia_b_the_yardstick_runs_first_on_every_seed_then_the_other_fractions():
    plan = label_rows.plan(data=CASIA)
    starts = ("wo_pt", "paper", OTHER)
    yardstick = [run for seed in range(3) for run in (  # a pretraining's fine-tuning right after it
        label_rows.pretraining("paper", seed, CASIA), label_rows.pretraining("paper", seed, CASIA, onestep=True),
        label_rows.fine_tuning("paper", 0.1, seed, CASIA), label_rows.fine_tuning("wo_pt", 0.1, seed, CASIA),
        label_rows.pretraining(OTHER, seed, CASIA), label_rows.pretraining(OTHER, seed, CASIA, onestep=True),
        label_rows.fine_tuning(OTHER, 0.1, seed, CASIA))]
    assert plan[:21] == yardstick
    # Then the transfer row: the paper pretext on the SynthGait SG-2 pool for about the steps of the
    # pretraining on CASIA-B's training subjects, fine-tuned at the yardstick fraction, seed by seed.
    transfer = plan[21:30]
    assert [r.folder for r in transfer[:3]] == [
        "pretrain/paper_sg2_3passes/seed0", "pretrain/paper_sg2_3passes_1step/seed0",
        "finetune/paper_sg2_3passes/0.1/seed0"]
    assert [r.seed for r in transfer] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert transfer[2].init == transfer[0] and transfer[1] == transfer[0].twin
    assert abs(transfer[0].steps - plan[0].steps) / plan[0].steps < 0.01  # 3,056 against 3,041
    assert [(r.start, r.fraction, r.seed) for r in plan[30:39]] == [
        (start, 0.05, s) for s in range(3) for start in starts]
    # Then the scale's checks on test, seed 0: w/o PT, GaitSet and GaitPart at 100 % of the labels.
    assert plan[39:42] == [label_rows.fine_tuning(start, 1.0, 0, CASIA) for start in ("wo_pt", "gaitset", "gaitpart")]
    assert [(r.start, r.fraction, r.seed) for r in plan[42:68]] == [
        (start, f, s) for f in (0.2, 0.4, 1.0) for s in range(3) for start in starts
        if (start, f, s) != ("wo_pt", 1.0, 0)]
    # Last, the reproduction's rows, two seeds, less the baselines that ran as the scale's checks.
    reproduction = [run for seed in range(2) for run in (
        label_rows.fine_tuning("gaitset", 1.0, seed, CASIA), label_rows.fine_tuning("gaitpart", 1.0, seed, CASIA),
        label_rows.fine_tuning("paper", 0.4, seed, CASIA, network="no_hpm"),
        label_rows.fine_tuning("paper", 0.4, seed, CASIA, network="no_mtb"))]
    assert plan[68:] == reproduction[2:]
    assert [r.spec for r in plan[40:42] + plan[68:70]] == [
        "finetune,gaitset,1,0,casia_b", "finetune,gaitpart,1,0,casia_b",
        "finetune,paper,0.4,0,no_hpm,casia_b", "finetune,paper,0.4,0,no_mtb,casia_b"]
    assert [r.folder for r in plan[40:42] + plan[68:70]] == [
        "finetune/gaitset/1/seed0", "finetune/gaitpart/1/seed0",
        "finetune/paper_no_hpm/0.4/seed0", "finetune/paper_no_mtb/0.4/seed0"]
    assert plan[68].init.folder == "pretrain/paper_no_hpm/seed0" and plan[40].init is None
    assert len(set(plan)) == len(plan) == 21 + 9 + 36 + 8  # every run once
    for k, run in enumerate(plan):
        # a fine-tuning's spec leaves out its start's pool (the runner passes the start's workdir)
        spec_of = (dataclasses.replace(run, pool_ratio=0.0, passes=label_rows.CASIA_B_PASSES)
                   if isinstance(run, FineTuning) else run)
        assert run.data == CASIA and label_rows.parse(run.spec) == spec_of, run
        if isinstance(run, FineTuning) and run.pretraining is not None and label_rows.in_label_study(run):
            assert run.pretraining in plan[:k]  # an ablation's pretraining is trained by its fine-tuning
    assert len({run.folder for run in plan}) == len(plan)


def test_on_casia_b_pretraining_passes_the_training_subjects_and_fine_tuning_reads_the_tree():
    pre = _config("pretrain,paper,0,casia_b")
    assert (pre.data.name, pre.data.pool_ratio, pre.probe.data) == ("opengait_pkl", 0.0, "opengait_pkl")
    assert pre.total_steps == math.ceil(6 * 8107 / study_rows.PRETEXT_BATCH) == 3041
    synthetic = _config("pretrain,paper,0,2,casia_b")  # the transfer question: SG-2, probed on CASIA-B
    assert (synthetic.data.name, synthetic.data.pool_ratio, synthetic.probe.data) == (
        "synthgait_pool", 2.0, "opengait_pkl")
    assert label_rows.parse("pretrain,paper,0,2,casia_b").name == "paper_sg2"
    fine = _config("finetune,paper,0.1,1,casia_b").finetune
    assert (fine.data.name, fine.total_steps, fine.triplet.label_fraction, fine.seed) == (
        "opengait_pkl", label_rows.CASIA_B_FINETUNE_STEPS, 0.1, 1)
    # apart from the data and the steps, the same stage as on SynthGait
    synthgait = _config("finetune,paper,0.1,1").finetune
    assert {key for key in _diff(fine, synthgait) if not key.startswith("data.")} == {"total_steps"}


def test_the_reproductions_rows_on_casia_b_are_its_synthgait_stages_on_the_tree():
    """A baseline start is the reproduction's GaitSet / GaitPart row, a NETWORK its ablated network's
    fine-tuning (started from its own pretraining, not a chain's @pretrain); on CASIA-B only the data
    and the steps differ, as for every run of the plan."""
    study = repo_files.config("study")
    for start in label_rows.BASELINES:
        assert _diff(_config(f"finetune,{start},1,0").finetune, study.get_config(f"{start},0").finetune) == set()
        real = _config(f"finetune,{start},1,0,casia_b").finetune
        assert {k for k in _diff(real, _config(f"finetune,{start},1,0").finetune) if not k.startswith("data.")} == {
            "total_steps"}
        assert not real.require_init_from and real.model.name == start
    for network, model in label_rows.NETWORKS.items():
        fine = _config(f"finetune,paper,0.4,0,{network}").finetune
        assert _diff(fine, study.get_config(f"sg6_{network},0").finetune) == {"init_from"}
        assert fine.require_init_from and fine.model.name == model
        pre = _config(f"pretrain,paper,0,{network},casia_b")
        assert _diff(pre, _config("pretrain,paper,0,casia_b")) <= {"name", "model.name", "model.bins"}
        assert pre.model.name == model and pre.total_steps == 3041


def test_a_casia_b_run_is_pointed_at_the_tree_by_overrides_never_by_its_spec(tmp_path, monkeypatch):
    root = str(tmp_path / "CASIA-B-pkl")
    runs = Runs(tmp_path / "runs", tmp_path / "archive", root)
    fake = FakeRuns(runs)
    monkeypatch.setattr(subprocess, "run", fake)
    pre = label_rows.pretraining("paper", 0, CASIA)
    run = label_rows.fine_tuning("paper", 0.1, 0, CASIA)
    assert runner.run_one(runs, pre, tmp_path) and runner.run_one(runs, run, tmp_path)
    main, validation, test, fine = fake.commands
    assert root not in pre.spec and main[3].endswith(":pretrain,paper,0,casia_b")
    assert main[5:] == [f"--config.probe.root={root}", f"--config.data.root={root}"]
    assert validation[3:5] == ["--data=opengait_pkl", f"--data_root={root}"]
    assert test[3:5] == validation[3:5]
    assert fine[5:] == [f"--config.finetune.data.root={root}", f"--config.finetune.init_from={runs.workdir(pre)}"]
    sg2 = label_rows.pretraining("paper", 0, CASIA, pool_ratio=2.0)  # SynthGait pool: only the probe's root
    assert label_rows.data_overrides(sg2, root) == [f"--config.probe.root={root}"]
    assert label_rows.data_overrides(Pretraining("paper", 0), root) == []


def test_the_casia_b_goal_is_met_only_when_every_planned_seed_clears_it(tmp_path):
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    plan = label_rows.plan(seeds=2, data=CASIA)
    for seed, (wo_pt, paper, other) in enumerate(((40, 46, 44), (41, 47, 50))):
        for start, value in (("wo_pt", wo_pt), ("paper", paper), (OTHER, other)):
            fake_fine_tuning(runs, label_rows.fine_tuning(start, 0.1, seed, CASIA), value, value, value)
    unused = (1, 1, 1)  # the validation probes: the goal reads the test split
    for seed in range(2):  # frozen: paper +12 and +9, the other pretext only seed 0
        fake_pretraining(runs, label_rows.pretraining("paper", seed, CASIA), unused, (30 - 3 * seed,) * 3)
        fake_pretraining(runs, label_rows.pretraining("paper", seed, CASIA, onestep=True), unused, (18,) * 3)
    fake_pretraining(runs, label_rows.pretraining(OTHER, 0, CASIA), unused, (40,) * 3)
    fake_pretraining(runs, label_rows.pretraining(OTHER, 0, CASIA, onestep=True), unused, (20,) * 3)
    doc = tmp_path / "casia_b.md"
    label_report.write_report(runs, doc, plan)
    text = doc.read_text()
    assert "- **`paper`:** fine-tuned ≥ +5: met (2 of 2 seeds: +6.0, +6.0); frozen ≥ +10: not met " \
           "(2 of 2 seeds: +12.0, +9.0)." in text
    assert f"- **`{OTHER}`:** fine-tuned ≥ +5: not met (2 of 2 seeds: +4.0, +9.0); frozen ≥ +10: met so far " \
           "(1 of 2 seeds: +20.0)." in text
    assert "| 5 % | 10 % | 20 % | 40 % | 100 % |" in text
    assert ("- **Transfer (10 % labels; pretrained on rendered walkers, fine-tuned on real ones):** `paper`, SG-2 "
            "pool, 3 passes against w/o PT: pending (no seed finished for both);") in text  # planned, none finished
    assert "- **`paper`, SG-2 pool, 3 passes:** fine-tuned: pending; frozen: pending." in text
    assert (tmp_path / "images" / "casia_b_label_efficiency.png").is_file()
    assert "`python tools/label_study.py --data=casia_b`" in text



def test_the_transfer_row_is_judged_against_wo_pt_and_against_pretraining_on_real_silhouettes(tmp_path):
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    plan = label_rows.plan(seeds=2, data=CASIA)
    for seed, (wo_pt, paper, synthetic) in enumerate(((40, 42, 46), (41, 44, 43))):
        for start, value in (("wo_pt", wo_pt), ("paper", paper)):
            fake_fine_tuning(runs, label_rows.fine_tuning(start, 0.1, seed, CASIA), value, value, value)
        fake_fine_tuning(runs, label_rows.transfer_runs(seed)[-1], synthetic, synthetic, synthetic)
    pre, twin, _ = label_rows.transfer_runs(0)
    fake_pretraining(runs, pre, (1, 1, 1), (25, 25, 25))
    fake_pretraining(runs, twin, (1, 1, 1), (20, 20, 20))
    doc = tmp_path / "casia_b.md"
    label_report.write_report(runs, doc, plan)
    text = doc.read_text()
    assert ("- **Transfer (10 % labels; pretrained on rendered walkers, fine-tuned on real ones):** `paper`, "
            "SG-2 pool, 3 passes beats w/o PT on every finished seed (2 of 2 seeds: +6.0, +2.0); `paper`, SG-2 "
            "pool, 3 passes does not beat `paper` pretrained on CASIA-B's training subjects on every finished "
            "seed (2 of 2 seeds: +4.0, -1.0).") in text
    assert ("- **`paper`, SG-2 pool, 3 passes:** fine-tuned ≥ +5: not met (2 of 2 seeds: +6.0, +2.0); "
            "frozen ≥ +10: not met (1 of 2 seeds: +5.0).") in text


def test_a_difference_that_shows_as_zero_is_not_a_win():
    judged = label_report._judged  # pylint: disable=protected-access
    assert judged("A", {0: 0.03, 1: 2.0}, 3) == ("A does not beat w/o PT on every finished seed "
                                                 "(2 of 3 seeds: +0.0, +2.0)")
    assert judged("A", {0: 0.05, 1: 2.0}, 3) == "A beats w/o PT on every finished seed (2 of 3 seeds: +0.1, +2.0)"
    assert judged("A", {0: -0.001}, 1, "B") == "A does not beat B on every finished seed (1 of 1 seed: -0.0)"

# --- the report ----------------------------------------------------------------------------------

def _study_with_results(tmp_path):
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    fake_pretraining(runs, Pretraining("paper", 0), validation=(30, 30, 30), test=(20, 21, 22))
    fake_pretraining(runs, Pretraining("paper", 0, onestep=True), validation=(25, 26, 27), test=(22, 22, 22))
    fake_pretraining(runs, Pretraining("paper", 1), validation=(31, 31, 31))  # its test probe: not yet
    for seed, (wo_pt, paper, other) in enumerate(((40, 45, 50), (42, 41, None))):
        fake_fine_tuning(runs, FineTuning("wo_pt", 0.05, seed), wo_pt, wo_pt, wo_pt)
        fake_fine_tuning(runs, FineTuning("paper", 0.05, seed), paper, paper, paper)
        if other is not None:
            fake_fine_tuning(runs, FineTuning(OTHER, 0.05, seed), other - 5, other, other + 5)
    fake_fine_tuning(runs, FineTuning("wo_pt", 0.1, 0), 60, 50, 40)
    fake_fine_tuning(runs, FineTuning("paper", 0.1, 0), 61, 51, 41)
    fake_fine_tuning(runs, FineTuning(OTHER, 0.1, 0), 59, 49, 39)
    fake_fine_tuning(runs, FineTuning(OTHER, 0.05, 0, 6.0), 52, 52, 52)
    fake_fine_tuning(runs, FineTuning(OTHER, 0.05, 0, passes=6), 54, 54, 54)
    return runs


def test_the_report_follows_the_numbers_seed_by_seed(tmp_path):
    runs = _study_with_results(tmp_path)
    doc = tmp_path / "label_efficiency.md"
    doc.write_text(f"# Labels\n\nhand-written\n\n{label_report.REPORT_BEGIN}\nOLD\n{label_report.REPORT_END}\nend\n")
    collected = label_report.write_report(runs, doc, label_rows.plan())
    text = doc.read_text()
    assert "hand-written" in text and text.endswith("end\n") and "OLD" not in text
    assert "2 of 24 pretraining runs (with their zero-shot probes); 10 of 42 fine-tuning runs finished" in text
    # Zero-shot: seed 0 both probes (validation 30 vs 26 -> +4.0; test 21 vs 22 -> -1.0); seed 1 half-way.
    assert "| `paper` | 0 | 30.0 | 26.0 | **+4.0** | 21.0 | 22.0 | **-1.0** |" in text
    assert "| `paper` | 1 | pending | | | | | |" in text  # its validation probe alone is no finished run
    assert "| `paper` | mean gain |  |  | +4.0 (> 0 on 1 of 1) |  |  | -1.0 (> 0 on 0 of 1) |" in text
    assert f"| `{OTHER}` | 0 | pending | | | | | |" in text
    # Rank-1 against the fraction: mean ± std over the finished seeds.
    assert "| w/o PT (random init) | 41.0 ± 1.4 (2 of 3) | 50.0 (1 of 3) | pending | pending |" in text
    assert "| `paper` | 43.0 ± 2.8 (2 of 3) | 51.0 (1 of 3) | pending | pending |" in text
    assert f"| `{OTHER}` | 50.0 (1 of 3) | 49.0 (1 of 3) | pending | pending |" in text
    assert f"| `{OTHER}`, SG-6 pool | 52.0 (1 of 3) | — | — | — |" in text
    assert f"| `{OTHER}`, 6 passes | 54.0 (1 of 3) | — | — | — |" in text
    assert "| `paper` | s0 +5.0, s1 -1.0 (mean +2.0) | s0 +1.0 | pending | pending |" in text
    assert f"| `{OTHER}` | s0 +10.0 | s0 -1.0 | pending | pending |" in text
    # Verdicts: paper loses on seed 1 at 5 %; the other pretext wins its one seed at 5 %, loses at 10 %.
    five = text.split("- **5 % labels:** ")[1].split("\n")[0]
    assert five == (f"`paper` does not beat w/o PT on every finished seed (2 of 3 seeds: +5.0, -1.0); "
                    f"`{OTHER}` beats w/o PT on every finished seed (1 of 3 seeds: +10.0).")
    ten = text.split("- **10 % labels:** ")[1].split("\n")[0]
    assert ten.startswith("`paper` beats w/o PT on every finished seed (1 of 3 seeds: +1.0); "
                          f"`{OTHER}` does not beat")
    assert "- **20 % labels:** `paper` against w/o PT: pending (no seed finished for both)" in text
    pool = text.split("- **Pool size (5 % labels):** ")[1].split("\n")[0]
    assert pool == (f"`{OTHER}`, SG-6 pool beats the SG-2 pool on every finished seed (1 of 3 seeds: +2.0); "
                    f"`{OTHER}`, SG-6 pool beats w/o PT on every finished seed (1 of 3 seeds: +12.0).")
    steps = text.split("the SG-2 pool for the pool-size row's steps):** ")[1].split("\n")[0]
    assert steps == (f"`{OTHER}`, 6 passes beats 2 passes on every finished seed (1 of 3 seeds: +4.0); "
                     f"`{OTHER}`, 6 passes beats w/o PT on every finished seed (1 of 3 seeds: +14.0); "
                     f"at the same steps, `{OTHER}`, SG-6 pool does not beat `{OTHER}`, 6 passes on every "
                     "finished seed (1 of 3 seeds: -2.0).")
    assert f"| fine-tuned `{OTHER}`, 5 % | 0 | test | 45.0 | 50.0 | 55.0 | 50.0 |" in text
    assert "| pretrained `paper`, after 1 step | 0 | zero-shot validation | 25.0 | 26.0 | 27.0 | 26.0 |" in text
    assert "![rank-1 against the label fraction](images/label_efficiency.png)" in text
    assert (tmp_path / "images" / "label_efficiency.png").stat().st_size > 0
    assert len(collected) == 12 and Pretraining("paper", 1) not in collected


def test_zero_shot_cells_are_pooled_by_their_gap_to_the_view_or_its_mirror(tmp_path):
    """view_gap: degrees to the nearer of a view and its mirror view (θ, 180 − θ); the report's
    table pools each split's cells by gap: the 1-step networks' mean, and each pretraining's gain
    over its twin with its range over seeds."""
    gap = label_report.view_gap
    assert [gap(0, 180), gap(18, 180), gap(90, 72), gap(36, 54), gap(0, 90), gap(0, 54)] == [0, 18, 18, 18, 90, 54]
    # Views 000, 090, 180: (000, 180) are mirror views (gap 0), every other pair is 90° apart.
    one_step = [[None, 10, 50], [20, None, 30], [60, 40, None]]
    assert label_report.rank1_by_gap({"views": ["000", "090", "180"],
                                      "conditions": {c: {"matrix": one_step} for c in ("NM", "BG", "CL")}}) == {
        0: 55.0, 72: 25.0}
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    pretrained = {0: [[None, 12, 40], [22, None, 32], [50, 42, None]],   # mirror -10, far +2
                  1: [[None, 10, 46], [20, None, 30], [56, 40, None]]}   # mirror -4, far 0
    for seed, matrix in pretrained.items():
        fake_pretraining(runs, Pretraining("paper", seed), (1, 1, 1), (1, 1, 1), matrix=matrix)
        fake_pretraining(runs, Pretraining("paper", seed, onestep=True), (1, 1, 1), (1, 1, 1), matrix=one_step)
    fake_pretraining(runs, Pretraining(OTHER, 0), test=(1, 1, 1), matrix=one_step)  # its twin: not yet
    # The steps row's seed 0 and its twin, the same 1-step network as the SG-2 row's: counted once.
    fake_pretraining(runs, Pretraining("paper", 0, passes=6), (1, 1, 1), (1, 1, 1), matrix=pretrained[0])
    fake_pretraining(runs, Pretraining("paper", 0, onestep=True, passes=6), (1, 1, 1), (1, 1, 1), matrix=one_step)
    plan = [*label_rows.plan(), Pretraining("paper", 0, passes=6)]
    lines = label_report.gap_table(runs, plan).splitlines()
    assert lines[0] == "| split | network | mirror view (0°) | 18° | 36° | 54° | ≥ 72° |"
    assert lines[2:] == [
        "| validation | after 1 step (mean of 2) | 55.0 | — | — | — | 25.0 |",
        "| validation | `paper`: gain over 1 step (2 seeds) | -7.0 (-10.0 to -4.0) | — | — | — | +1.0 (+0.0 to +2.0) |",
        "| validation | `paper`, 6 passes: gain over 1 step (1 seed) | -10.0 | — | — | — | +2.0 |",
        "| test | after 1 step (mean of 2) | 55.0 | — | — | — | 25.0 |",
        "| test | `paper`: gain over 1 step (2 seeds) | -7.0 (-10.0 to -4.0) | — | — | — | +1.0 (+0.0 to +2.0) |",
        "| test | `paper`, 6 passes: gain over 1 step (1 seed) | -10.0 | — | — | — | +2.0 |"]
    assert label_report.gap_table(Runs(tmp_path / "none", tmp_path / "none"), label_rows.plan()) == ""


def test_the_report_before_any_run_is_all_pending_and_draws_nothing(tmp_path):
    doc = tmp_path / "label_efficiency.md"
    label_report.write_report(Runs(tmp_path / "runs", tmp_path / "archive"), doc, label_rows.plan())
    text = doc.read_text()
    assert "0 of 24 pretraining runs (with their zero-shot probes); 0 of 42 fine-tuning runs finished" in text
    assert "| w/o PT (random init) | pending | pending | pending | pending |" in text
    assert "![" not in text and not (tmp_path / "images" / "label_efficiency.png").exists()
    doc.write_text("# notes without markers\n")
    with pytest.raises(ValueError, match="labels:begin"):
        label_report.write_report(Runs(tmp_path / "runs", tmp_path / "archive"), doc, label_rows.plan())
    assert doc.read_text() == "# notes without markers\n"


def test_archived_runs_count_in_a_fresh_checkout(tmp_path):
    old = _study_with_results(tmp_path)
    doc = tmp_path / "label_efficiency.md"
    first = label_report.write_report(old, doc, label_rows.plan())
    text = doc.read_text()
    shutil.rmtree(old.out)
    again = label_report.write_report(Runs(tmp_path / "elsewhere", old.archive), doc, label_rows.plan())
    assert again == first and doc.read_text() == text
    pre = Pretraining("paper", 0)
    assert Runs(tmp_path / "elsewhere", old.archive).pretrain_metrics(pre) == [{"step": pre.steps, "loss": 1.0}]


def test_the_tool_rewrites_the_report_of_every_seed(tmp_path, capsys):
    tool = repo_files.tool("label_study")
    doc = tmp_path / "doc.md"
    assert tool.main([f"--out={tmp_path / 'runs'}", f"--doc={doc}", f"--archive={tmp_path / 'a'}", "--report",
                      "--max_seeds=1"]) == 0
    assert "0 of 42 fine-tuning runs" in doc.read_text()
    assert tool.main([f"--out={tmp_path / 'runs'}", "--max_seeds=4"]) == 2
    assert "--max_seeds=4 must be in [1, 3]" in capsys.readouterr().err
    assert tool.main([f"--out={tmp_path / 'runs'}", "--data=casia_b"]) == 2  # no --data_root: nothing runs
    assert "--data=casia_b needs --data_root" in capsys.readouterr().err


def test_the_committed_report_is_what_the_archived_runs_give(tmp_path):
    """docs/label_efficiency.md's generated section, regenerated from docs/label_efficiency/runs with
    an empty runs folder, comes out byte for byte as committed."""
    doc = tmp_path / "label_efficiency.md"
    shutil.copyfile(ROOT / "docs" / "label_efficiency.md", doc)
    archive = ROOT / "docs" / "label_efficiency" / "runs"
    if archive.is_dir():
        shutil.copytree(archive, tmp_path / "archive")
    label_report.write_report(Runs(tmp_path / "runs", tmp_path / "archive"), doc, label_rows.plan())
    assert doc.read_text() == (ROOT / "docs" / "label_efficiency.md").read_text()


# --- end to end ----------------------------------------------------------------------------------

@pytest.mark.slow  # four subprocesses (a pretraining, two zero-shot probes, a fine-tuning): minutes
def test_a_tiny_pretraining_its_probes_and_a_fine_tuning_from_it(tmp_path):
    """Through the engine for real. The 1-step twin is left out: it would add three subprocesses of
    the same commands on the twin's spec, which the fake-run test of a pretraining checks."""
    pre = Pretraining(OTHER, 0, tiny=True)
    plan = [pre, FineTuning(OTHER, 0.05, 0, tiny=True)]
    runs = Runs(tmp_path / "runs", tmp_path / "archive")
    doc = tmp_path / "label_efficiency.md"
    failed = runner.run_study(runs, plan, ROOT, lambda: label_report.write_report(runs, doc, plan))
    logs = {str(r): (runs.workdir(r) / "log.txt").read_text()[-3000:] for r in plan
            if (runs.workdir(r) / "log.txt").is_file()}
    assert failed == [], logs
    assert all(runs.finished(r) for r in plan) and runs.trained(pre)
    assert [r["step"] for r in runs.pretrain_metrics(pre)][-1] == pre.steps
    fine_log = (runs.workdir(plan[1]) / "log.txt").read_text()
    assert f"initialising the embedding network from {runs.workdir(pre)}" in fine_log
    pre_log = (runs.workdir(pre) / "log.txt").read_text()
    assert f"pretraining pool: {label_rows.pool_sequences(2.0, tiny=True)} sequences" in pre_log
    text = doc.read_text()
    assert "1 of 1 pretraining runs (with their zero-shot probes); 1 of 1 fine-tuning runs finished" in text
    assert f"| `{OTHER}` | 0 | " in text and f"| `{OTHER}` | 0 | pending" not in text
    assert re.search(rf"^\| `{OTHER}` \| \d+\.\d \(1 of 1\) \|$", text, re.M)  # the plan's one fraction
    assert (tmp_path / "images" / "label_efficiency.png").stat().st_size > 0
