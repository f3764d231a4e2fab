"""A config stored before keys existed is completed once, when it is read (config_defaults.with_defaults,
called by workdir.Checkpoints.restore_config); every reader then reads its keys plainly."""

import json
import pathlib

import jax
import numpy as np

from selfgait_jax import config_defaults, workdir as workdir_lib
from selfgait_jax.train import experiment

# configs/pretrain.py:tiny as commit 1ff38ac (2026-11-29) built and stored it in its checkpoints: no
# probe section, no model.conv_formulation / head_bn_per_part, byol.flip / target / batch_by,
# optimizer.accumulate / lr_scaling, eval.max_length / drop_missing_gallery, data.partition ...; and a
# triplet section, which pretraining configs no longer carry.
STORED = pathlib.Path(__file__).parent / "data" / "config_stored_by_1ff38ac.json"


def _flat(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_a_config_stored_by_an_older_version_reads_as_todays(tmp_path):
    stored = workdir_lib.config_from_json(json.loads(STORED.read_text()))
    exp = experiment.build_experiment(config_defaults.with_defaults(stored))  # the training code reads it
    state = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype),
                         jax.eval_shape(exp.init_state, jax.random.key_data(jax.random.key(0))))
    ckpts = workdir_lib.Checkpoints(str(tmp_path))
    ckpts.save(4, state, 2, stored)  # written as the old version wrote it
    ckpts.wait_until_finished()
    ckpts.close()

    restored = workdir_lib.Checkpoints(str(tmp_path), read_only=True).restore_config(4)
    was, now = _flat(json.loads(STORED.read_text())), _flat(workdir_lib.config_to_json(restored))
    assert {k: now[k] for k in was} == was  # every stored value kept
    today = _flat(workdir_lib.config_to_json(config_defaults.pretrain_config("tiny")))
    differ = {k for k in set(now) | set(today) if now.get(k, "absent") != today.get(k, "absent")}
    # the obsolete triplet section stays, and so does data.validate (now data.read_at_open, with its
    # value); the probe (off) and the clip pretexts' sizes (unused by the paper's pretext) take the
    # full size's defaults
    assert differ == {f"triplet.{k}" for k in ("margin", "P", "K", "frames", "ordered", "label_fraction")} | {
        "data.validate", "probe.data", "probe.validation_subjects", "pretext.clip_frames", "pretext.clip_span"}
    assert restored.pretext.name == "paper"
    assert restored.byol.flip is False and restored.model.conv_formulation == "auto"
    assert restored.optimizer.accumulate == 1 and restored.eval.drop_missing_gallery is True

    # The run's config identity (results.json, exported files) is that of the config as stored, so a
    # table evaluated before a key was declared still belongs to the checkpoint after.
    assert workdir_lib.stored_config(str(tmp_path), 4) == json.loads(STORED.read_text())
    assert workdir_lib.config_sha256(workdir_lib.stored_config(str(tmp_path), 4)) == workdir_lib.config_sha256(stored)
    assert workdir_lib.config_sha256(restored) != workdir_lib.config_sha256(stored)

    config, model, variables, step = workdir_lib.load_for_inference(str(tmp_path))
    assert step == 4 and config.to_json() == restored.to_json()
    frames, mask = np.zeros((2, 5, 64, 44), np.float32), np.ones((2, 5), bool)
    out = jax.eval_shape(lambda v: model.apply(v, frames, mask), variables)
    assert out.shape == (2, sum(config.model.bins), config.model.d1)


def test_filling_adds_only_what_is_missing():
    stored = config_defaults.finetune_config("tiny")
    stored.triplet.margin = 0.5  # a stored value wins over today's default
    del stored.eval["max_length"], stored.model["conv_formulation"], stored["stage"], stored["probe"]
    filled = config_defaults.with_defaults(stored)
    assert filled.triplet.margin == 0.5 and filled.triplet.P == 2  # the run's own (tiny) values
    assert filled.eval.max_length == 0 and filled.model.conv_formulation == "auto"
    assert filled.stage == "triplet" and "byol" not in filled  # the stage, told by its section
    assert filled.probe.every == 0 and "max_length" not in stored.eval  # the stored config is not changed


def test_a_stored_other_view_target_reads_as_the_other_view_pretext():
    """Before the pretext table, byol.target chose the extension; its stored configs keep meaning it."""
    stored = workdir_lib.config_from_json(json.loads(STORED.read_text()))
    with stored.unlocked():
        stored.byol.target = "other_view"
    assert config_defaults.with_defaults(stored).pretext.name == "other_view"


def test_a_data_key_stored_under_its_old_name_keeps_its_value():
    """data.validate is named data.read_at_open now; a run stored with validate=False still reads its
    tree lazily, whether its config comes from a checkpoint or from an exported file's table."""
    from selfgait_jax.evaluation import exported

    stored = workdir_lib.config_from_json(json.loads(STORED.read_text()))
    assert stored.data.validate is True and "read_at_open" not in stored.data
    assert config_defaults.with_defaults(stored).data.read_at_open is True
    with stored.unlocked():
        stored.data.validate = False
    assert config_defaults.with_defaults(stored).data.read_at_open is False
    results = {"dataset": "synthgait_b", "protocol": {"data": {"name": "synthgait_b", "validate": False}}}
    assert exported.stored_data_config({"config": None}, results, "", "").read_at_open is False
