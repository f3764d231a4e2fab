"""The validation probe: held-out training subjects only, logged during training, and equal to
evaluating the checkpoint of the same step on the validation protocol."""

import json

import numpy as np
import pytest

import repo_files
from selfgait_jax.data import sources, splits
from selfgait_jax.evaluation import api
from selfgait_jax import workdir as workdir_lib
from selfgait_jax.models import contract
from selfgait_jax.train import loop

pretrain = repo_files.config("pretrain")


def test_validation_protocol_holds_out_the_last_training_subjects_and_never_a_test_subject(tmp_path):
    data = sources.data_config("synthgait_b", "tiny")
    data.num_subjects, data.cache_dir, data.num_workers = 12, str(tmp_path), 1
    metas = sources.open_source(data).metas
    full = splits.protocol_for("synthgait_b", metas)  # 7 train, 5 test subjects
    val = splits.validation_protocol("synthgait_b", metas, 3)
    assert val.test_subjects == full.train_subjects[-3:]
    assert val.train_subjects == full.train_subjects[:-3]
    used = {metas[i].subject for i in np.concatenate([val.gallery, *val.probes.values()])}
    assert used == set(val.test_subjects) and not used & set(full.test_subjects)
    assert {metas[i].type for i in val.gallery} == {"nm-01", "nm-02", "nm-03", "nm-04"}
    assert {metas[i].type for i in val.probes["CL"]} == {"cl-01", "cl-02"}
    assert {metas[i].subject for i in val.train} == set(val.train_subjects)
    with pytest.raises(ValueError, match="validation subjects"):
        splits.validation_protocol("synthgait_b", metas, 7)


@pytest.mark.slow
def test_pretraining_logs_the_probe_and_it_equals_evaluating_the_checkpoint(tmp_path, monkeypatch):
    config = pretrain.get_config("tiny")
    config.total_steps, config.checkpoint_every = 4, 4
    config.data.cache_dir = str(tmp_path / "cache")
    config.data.num_workers = 1
    config.probe.every = 2
    config.probe.max_length = 6
    monkeypatch.setenv("SELFGAIT_DATA_DIR", str(tmp_path / "cache"))  # the probe's labelled set
    loop.train(config, str(tmp_path / "work"), evaluation=api)
    records = [json.loads(line) for line in (tmp_path / "work" / "metrics.jsonl").read_text().splitlines()]
    probes = [r for r in records if "probe/NM_rank1" in r]
    assert [r["step"] for r in probes] == [2, 4]
    assert all("projection_std" in r for r in records if "loss" in r)

    # The last probe is the validation protocol's table of the final checkpoint.
    _, model, variables, step = workdir_lib.load_for_inference(str(tmp_path / "work"))
    data = sources.data_config("synthgait_b", "tiny")
    data.cache_dir = str(tmp_path / "cache")
    source = sources.open_source(data)
    probe_config = config.copy_and_resolve_references()
    probe_config.data = data
    evaluator = api.PeriodicEvaluator(
        probe_config, contract.make_embed_fn(model), source=source,
        protocol=splits.validation_protocol("synthgait_b", source.metas, 2))
    evaluator.max_length = 6
    expected = evaluator(variables)
    assert step == 4
    for cond in ("NM", "BG", "CL"):
        assert probes[-1][f"probe/{cond}_rank1"] == pytest.approx(expected[f"eval/{cond}_rank1"], abs=1e-4)


def test_validation_subjects_key_trains_without_them_and_evaluates_on_them(tmp_path):
    data = sources.data_config("synthgait_b", "tiny")
    data.num_subjects, data.cache_dir, data.num_workers = 12, str(tmp_path), 1
    metas = sources.open_source(data).metas
    assert splits.protocol_of(data, metas).test_subjects == splits.protocol_for(
        "synthgait_b", metas).test_subjects
    data.validation_subjects = 3
    chosen = splits.protocol_of(data, metas)
    full = splits.protocol_for("synthgait_b", metas)
    assert chosen.test_subjects == full.train_subjects[-3:]
    assert not {metas[i].subject for i in chosen.train} & set(chosen.test_subjects)
