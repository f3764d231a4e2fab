"""A checkpointed tiny model end to end: evaluate_workdir's files, export, and identify."""

import json
import os
import pickle

import jax
import numpy as np
import pytest
from PIL import Image

import repo_files
from selfgait_jax.evaluation import api, exported, identify, ranking
from selfgait_jax import workdir as workdir_lib
from selfgait_jax.models import contract
from selfgait_jax.train import experiment

finetune = repo_files.config("finetune")
evaluate_tool, export_tool, identify_tool, verify_tool = (
    repo_files.tool(n) for n in ("evaluate", "export", "identify", "verify"))


def random_state(exp, seed=0):
    """A TrainState of the right tree with scaled random floats (compiling flax init is slow on CPU)."""
    abstract = jax.eval_shape(exp.init_state, jax.random.key_data(jax.random.key(0)))
    rng = np.random.default_rng(seed)

    def fill(s):
        if not np.issubdtype(s.dtype, np.floating):
            return np.zeros(s.shape, s.dtype)
        scale = np.sqrt(2.0 / max(1, int(np.prod(s.shape[-3:-1]))))
        return (rng.normal(size=s.shape) * scale).astype(s.dtype)

    return jax.tree.map(fill, abstract)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = finetune.get_config("tiny")
    config.data.cache_dir = str(root / "cache")
    config.data.num_workers = 1
    exp = experiment.build_experiment(config)
    ckpts = workdir_lib.Checkpoints(str(root / "work"))
    ckpts.save(7, random_state(exp), 3, config)
    ckpts.wait_until_finished()
    ckpts.close()
    return root / "work"


@pytest.fixture(scope="module")
def evaluated(workdir):
    out = workdir / "eval" / "7"
    assert evaluate_tool.main([f"--workdir={workdir}"]) == 0
    return out


def test_a_test_split_without_probes_is_an_error(workdir, monkeypatch, capsys):
    """Not a table of dashes with exit 0: exit 1 and a message, before anything is embedded."""
    import dataclasses

    from selfgait_jax.data import splits

    protocol_of = splits.protocol_of
    monkeypatch.setattr(splits, "protocol_of", lambda data, metas: dataclasses.replace(
        protocol_of(data, metas), probes={"nm": np.zeros(0, np.int64)}))
    out = workdir / "eval" / "no_probes"
    assert evaluate_tool.main([f"--workdir={workdir}", f"--out={out}"]) == 1
    assert "has no probe sequences" in capsys.readouterr().err
    assert not out.exists()


def test_opening_checkpoints_read_only_does_not_warn(workdir, caplog):
    """orbax's "Given directory is read only" is not for the users of the inference tools."""
    import logging

    with caplog.at_level(logging.WARNING):
        workdir_lib.Checkpoints(str(workdir), read_only=True).close()
    assert "read only" not in caplog.text


@pytest.mark.slow
def test_evaluate_workdir_writes_the_issue_schema(evaluated, workdir, capsys):
    results = json.loads((evaluated / "results.json").read_text())
    assert set(results) >= {"dataset", "metric", "views", "conditions", "num_probes", "num_gallery",
                            "checkpoint"}
    assert results["dataset"] == "synthgait_b" and results["metric"] == "euclidean"
    assert results["checkpoint"]["step"] == 7
    assert list(results["conditions"]) == ["NM", "BG", "CL"]
    views = results["views"]
    for cond in results["conditions"].values():
        assert len(cond["matrix"]) == len(views) and all(len(r) == len(views) for r in cond["matrix"])
        assert len(cond["rank1_per_probe_view"]) == len(views)
        assert {"mean", "rank5_mean", "mAP"} <= set(cond)
    for name in ("results.md", "results.csv", "heatmap_NM.png", "heatmap_BG.png", "heatmap_CL.png",
                 "open_set_roc.png"):
        assert (evaluated / name).stat().st_size > 0
    # the stored embeddings reproduce the stored tables
    npz = np.load(evaluated / "embeddings.npz")
    emb, types = npz["embeddings"], npz["types"]
    assert emb.dtype == np.float32 and emb.ndim == 3 and len(emb) == len(types) == len(npz["subjects"])
    assert len(emb) == results["num_probes"] + results["num_gallery"]
    gallery = np.flatnonzero(np.isin(types, ["nm-01", "nm-02", "nm-03", "nm-04"]))
    probes = {"NM": np.flatnonzero(np.isin(types, ["nm-05", "nm-06"])),
              "BG": np.flatnonzero(np.char.startswith(types, "bg")),
              "CL": np.flatnonzero(np.char.startswith(types, "cl"))}
    again = ranking.summarize(
        ranking.evaluate_embeddings(emb, npz["subjects"], npz["views"], gallery, probes)
    )
    for cond in again:
        for key in ("matrix", "mean", "rank5_mean", "mAP"):
            assert again[cond][key] == results["conditions"][cond][key]
    assert "| Probe |" in (evaluated / "results.md").read_text()
    # the protocol in full, the checkpoint's config hash, and the misses table (equal: none missing)
    config, _, _, _ = workdir_lib.load_for_inference(str(workdir))
    assert results["checkpoint"]["config_sha256"] == api.config_sha256(config)
    p = results["protocol"]
    assert p["test_subjects"]["count"] == 2 and p["views"] == views and p["frames_used"] == "all"
    assert p["data"]["name"] == "synthgait_b" and p["probes_without_gallery"]["per_condition"]["NM"] == 0
    for cond, c in results["with_missing_as_misses"].items():
        assert c["mean"] == results["conditions"][cond]["mean"]
    assert "### Protocol" in (evaluated / "results.md").read_text()
    assert "### Open set" in (evaluated / "results.md").read_text()
    o = results["open_set"]
    assert o["metric"] == "euclidean" and o["target_far"] == 0.01 and o["far"] <= 0.01
    assert o["identities"] == 2 and o["genuine"] == o["probes"] and o["impostor"] == o["probes"]


def test_periodic_evaluator_logs_the_means(evaluated):
    results = json.loads((evaluated / "results.json").read_text())
    scalars = api.summary_scalars(results)
    assert scalars["eval/NM_rank1"] == results["conditions"]["NM"]["mean"]
    assert set(scalars) <= {f"eval/{c}_{m}" for c in ("NM", "BG", "CL") for m in ("rank1", "rank5", "mAP")}


@pytest.fixture(scope="module")
def exported_file(workdir, evaluated):  # after the evaluation, so the file stores its table
    path = workdir.parent / "model.npz"
    assert export_tool.main([f"--workdir={workdir}", f"--out={path}", "--platforms=cpu"]) == 0
    return path


def test_export_while_a_run_trains_says_which_finished_step_it_reads(workdir, tmp_path, capsys):
    with workdir_lib.WorkdirLock(str(workdir)):  # as a training run holds it
        assert export_tool.main([f"--workdir={workdir}", f"--out={tmp_path / 'm.npz'}", "--platforms=cpu"]) == 0
    err = capsys.readouterr().err
    assert f"note: a run is still training in {workdir} (pid {os.getpid()} on " in err
    assert "reading its latest finished step 7, not the run's end" in err
    assert exported.load_exported(tmp_path / "m.npz").meta["step"] == 7


@pytest.mark.slow
def test_exported_equals_in_process(workdir, exported_file, evaluated):
    """The exported file, fed batches of other sizes and paddings, gives evaluate_workdir's embeddings."""
    from selfgait_jax.data import sources

    config, _, _, _ = workdir_lib.load_for_inference(str(workdir))
    source = sources.open_source(config.data)
    npz = np.load(evaluated / "embeddings.npz")
    row = {m: i for i, m in enumerate(zip(npz["subjects"], npz["types"], npz["views"]))}
    loaded = exported.load_exported(exported_file)
    picked = [i for i, m in enumerate(source.metas) if (m.subject, m.type, m.view) in row][:5]
    # symbolic batch and length: 3 sequences padded to 24 frames, then 2 unpadded at their length
    for chunk, length in ((picked[:3], 24), (picked[3:], None)):
        seqs = [source.load(i) for i in chunk]
        length = length or max(len(s) for s in seqs)
        frames = np.zeros((len(seqs), length, 64, 44), np.uint8)
        mask = np.zeros((len(seqs), length), bool)
        for k, s in enumerate(seqs):
            frames[k, : len(s)], mask[k, : len(s)] = s, True
        want = npz["embeddings"][[row[(source.metas[i].subject, source.metas[i].type,
                                       source.metas[i].view)] for i in chunk]]
        np.testing.assert_allclose(loaded(frames, mask), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert (loaded.parts, loaded.dim) == want.shape[1:]
    with pytest.raises(ValueError, match="not an exported embedding"):
        exported.load_exported(evaluated / "results.csv")


def test_exported_file_describes_itself_without_pickle(exported_file, workdir, evaluated):
    found = exported.verify_file(exported_file)
    meta, params = found.meta, found.params
    config, _, variables, step = workdir_lib.load_for_inference(str(workdir))
    assert meta["version"] == 3 and meta["model"] == config.model.name and meta["step"] == step == 7
    assert meta["config"] == workdir_lib.config_to_json(config)
    assert meta["config_sha256"] == api.config_sha256(config)
    assert meta["parameter_count"] == sum(x.size for x in jax.tree.leaves(variables)) > 0
    assert meta["pretreatment"]["frame"] == [64, 44] and "centroid" in meta["pretreatment"]["centring"]
    assert "0 / 255" in meta["pretreatment"]["binarisation"]
    assert meta["versions"]["jax"] == jax.__version__ and meta["versions"]["flax"]
    results = json.loads((evaluated / "results.json").read_text())
    assert [e["results"] for e in meta["evaluations"]] == [results]
    assert meta["evaluations"][0]["results"]["protocol"]["name"] == "casia_b"
    # the evaluation's open-set threshold, with its metric and rates
    assert results["open_set"]["threshold"] == meta["open_set"]["threshold"]
    with np.load(exported_file, allow_pickle=False) as data:  # stored once, in "open_set" (version 3)
        assert "open_set_threshold" not in json.loads(bytes(data["meta"]).decode())
    assert meta["open_set"]["metric"] == "euclidean" and meta["open_set"]["source"] == "7"
    assert "curve" not in meta["open_set"] and meta["open_set"]["far"] <= meta["open_set"]["target_far"]
    assert meta["fingerprint"]["params"] == exported.params_sha256(params)
    with np.load(exported_file, allow_pickle=False) as data:  # every entry reads without pickle
        assert all(data[k].dtype != object for k in data.files)


@pytest.mark.slow
def test_verify_recomputes_the_stored_table(exported_file, workdir, capsys, monkeypatch):
    config = workdir_lib.load_for_inference(str(workdir))[0]
    monkeypatch.setenv("SELFGAIT_DATA_DIR", config.data.cache_dir)  # the data the fixture generated
    assert verify_tool.main([f"--model={exported_file}", "--data=synthgait_b"]) == 0
    out = capsys.readouterr().out
    assert "fingerprint OK" in out and "stored table (7): synthgait_b, protocol casia_b" in out
    assert out.count("| match |") == 9 and "OK: 9 of 9 numbers match" in out


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    change(arrays, meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


@pytest.mark.slow
def test_verify_detects_a_tampered_or_truncated_file(exported_file, workdir, tmp_path, capsys, monkeypatch):
    def weights(arrays, meta):
        arrays["param_00000"] = arrays["param_00000"] + np.float32(1e-3)

    def table(arrays, meta):
        meta["evaluations"][0]["results"]["conditions"]["NM"]["mean"] += 5.0

    for change, what in ((weights, "params sha256"), (table, "metadata sha256")):
        tampered = _rewrite(exported_file, tmp_path / f"{change.__name__}.npz", change)
        assert verify_tool.main([f"--model={tampered}"]) == 1
        err = capsys.readouterr().err
        assert f"fingerprint mismatch: {what}" in err and "changed or damaged after export" in err
        with pytest.raises(ValueError, match="fingerprint mismatch"):
            exported.load_exported(tampered)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(exported_file.read_bytes()[: exported_file.stat().st_size // 2])
    assert verify_tool.main([f"--model={truncated}"]) == 1
    assert "truncated or corrupt" in capsys.readouterr().err

    # A forger who also rewrites the metadata fingerprint: the recomputed table gives it away.
    def forged(arrays, meta):
        table(arrays, meta)
        meta["fingerprint"]["meta"] = exported.fingerprint(meta, b"", [])["meta"]

    monkeypatch.setenv("SELFGAIT_DATA_DIR", workdir_lib.load_for_inference(str(workdir))[0].data.cache_dir)
    assert verify_tool.main([f"--model={_rewrite(exported_file, tmp_path / 'forged.npz', forged)}"]) == 1
    out = capsys.readouterr().out
    assert out.count("MISMATCH |") == 1 and "| NM | rank-1 |" in out and "MISMATCH: 8 of 9" in out


def _write_tree(root, sequences):
    for (subject, typ, view), frames in sequences.items():
        folder = root / subject / typ / view
        folder.mkdir(parents=True)
        with open(folder / f"{view}.pkl", "wb") as f:
            pickle.dump(frames, f)


@pytest.fixture(scope="module")
def gallery_and_probe(workdir, tmp_path_factory):
    """A pkl gallery of the test subjects' nm-01/02 walks at view 090; probes cut from one of them."""
    from selfgait_jax.data import sources

    config, _, _, _ = workdir_lib.load_for_inference(str(workdir))
    source = sources.open_source(config.data)
    root = tmp_path_factory.mktemp("search")
    # at most 16 frames: one bucket length, one compile per embedder
    picked = {m: source.load(i)[:16] for i, m in enumerate(source.metas)
              if m.type in ("nm-01", "nm-02") and m.view == "090"}
    _write_tree(root / "gallery", {(m.subject, m.type, m.view): f for m, f in picked.items()})
    target = sorted(picked)[3]
    frames = picked[target][2:]  # the same walk, two frames later
    probe_dir = root / "probe_png"
    probe_dir.mkdir()
    for k, frame in enumerate(frames):
        Image.fromarray(np.pad(frame, ((10, 10), (20, 20)))).save(probe_dir / f"{k:03d}.png")
    with open(root / "probe.pkl", "wb") as f:
        pickle.dump(frames, f)
    return root, target.subject


@pytest.mark.slow
def test_identify_finds_the_walker_with_exported_and_workdir(workdir, exported_file, gallery_and_probe,
                                                              capsys):
    root, subject = gallery_and_probe
    assert identify_tool.main([f"--model={exported_file}", f"--gallery={root / 'gallery'}",
                               f"--probe={root / 'probe.pkl'}", "--top=3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the gallery and the threshold, a blank line, the walker and its answer, the ranks
    assert lines[2].startswith(f"{root / 'probe.pkl'}: 14 frames -> {subject} (")
    assert lines[4].split()[:2] == ["1", subject] and len(lines) == 7
    assert identify_tool.main([f"--workdir={workdir}", f"--gallery={root / 'gallery'}",
                               f"--probe={root / 'probe_png'}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[4].split()[:2] == ["1", subject] and "closed set" in lines[2]


def test_rank_identities_by_nearest_sequence():
    metas = [type("M", (), {"subject": s, "type": "nm-01", "view": "000"})() for s in "ABAC"]
    gallery = np.array([[[0.0]], [[1.0]], [[5.0]], [[3.0]]], np.float32)
    matches = identify.rank_identities(np.array([[0.9]]), gallery, metas)
    assert [m.subject for m in matches] == ["B", "A", "C"]
    assert matches[1].distance == pytest.approx(0.9)


def test_identify_bad_input_names_the_path(tmp_path, exported_file, capsys):
    empty = tmp_path / "empty_probe"
    empty.mkdir()
    assert identify_tool.main([f"--model={exported_file}", f"--gallery={tmp_path}",
                               f"--probe={empty}"]) == 1
    assert str(empty) in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert identify_tool.main([f"--model={exported_file}", f"--gallery={missing}",
                               f"--probe={missing}"]) == 1
    assert str(missing) in capsys.readouterr().err
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    assert identify_tool.main([f"--model={exported_file}", f"--gallery={tmp_path}",
                               f"--probe={bad}"]) == 1
    assert str(bad) in capsys.readouterr().err


@pytest.fixture(scope="module")
def pretrain_workdir(tmp_path_factory):
    """A pretraining workdir (BYOL state of the tiny SelfGait) on the unlabelled tiny pool."""
    pretrain = repo_files.config("pretrain")

    root = tmp_path_factory.mktemp("pretrain_run")
    config = pretrain.get_config("tiny")
    exp = experiment.build_experiment(config)
    ckpts = workdir_lib.Checkpoints(str(root / "work"))
    ckpts.save(5, random_state(exp, seed=1), 6, config)
    ckpts.wait_until_finished()
    ckpts.close()
    return root / "work"


@pytest.mark.slow
def test_pretrained_embedding_is_evaluated_on_a_named_labelled_dataset(pretrain_workdir, workdir,
                                                                       capsys, monkeypatch):
    # The pool has no labels: without --data the tool says which option to use.
    assert evaluate_tool.main([f"--workdir={pretrain_workdir}"]) == 1
    assert "--data=synthgait_b" in capsys.readouterr().err
    # With --data, the pretrained embedding network gets the labelled set's tables, and they equal
    # evaluating the same variables through the fine-tuning config of that dataset.
    fine_config = workdir_lib.load_for_inference(str(workdir))[0]
    monkeypatch.setenv("SELFGAIT_DATA_DIR", fine_config.data.cache_dir)
    assert evaluate_tool.main([f"--workdir={pretrain_workdir}", "--data=synthgait_b:tiny",
                               "--max_length=8"]) == 0
    results = json.loads((pretrain_workdir / "eval" / "5-synthgait_b" / "results.json").read_text())
    assert results["dataset"] == "synthgait_b" and results["max_length"] == 8
    _, model, variables, _ = workdir_lib.load_for_inference(str(pretrain_workdir))
    fine_config.eval.max_length = 8
    direct, _, _ = api.evaluate_model(fine_config, contract.make_embed_fn(model), variables)
    for cond in ("NM", "BG", "CL"):
        assert results["conditions"][cond]["matrix"] == direct["conditions"][cond]["matrix"]
    # --validation_subjects: the same probe on held-out training subjects, never a test subject.
    from selfgait_jax.data import splits  # pylint: disable=g-import-not-at-top
    assert evaluate_tool.main([f"--workdir={pretrain_workdir}", "--data=synthgait_b:tiny",
                               "--validation_subjects=2", "--max_length=8"]) == 0
    held = json.loads((pretrain_workdir / "eval" / "5-synthgait_b-validation2" / "results.json").read_text())
    npz = np.load(pretrain_workdir / "eval" / "5-synthgait_b-validation2" / "embeddings.npz")
    fine_config.data.validation_subjects = 2
    source_metas = api.PeriodicEvaluator(fine_config, None).source.metas
    protocol = splits.validation_protocol("synthgait_b", source_metas, 2)
    assert set(npz["subjects"].tolist()) == set(protocol.test_subjects)
    assert not set(npz["subjects"].tolist()) & set(splits.protocol_for("synthgait_b", source_metas).test_subjects)
    assert held["num_gallery"] == len(protocol.gallery)
    # --views: the cheaper probe on a few of the dataset's views, written beside the full table.
    assert evaluate_tool.main([f"--workdir={pretrain_workdir}", "--data=synthgait_b:tiny",
                               "--views=000,090,180", "--max_length=8"]) == 0
    few = json.loads((pretrain_workdir / "eval" / "5-synthgait_b-views-000-090-180" / "results.json").read_text())
    assert few["views"] == ["000", "090", "180"] and few["protocol"]["data"]["views"] == ["000", "090", "180"]
    # --partition: an OpenGait split file decides the test subjects.
    split = pretrain_workdir.parent / "split.json"
    split.write_text(json.dumps({"TRAIN_SET": ["001", "002", "003"], "TEST_SET": ["004", "005", "006"]}))
    assert evaluate_tool.main([f"--workdir={pretrain_workdir}", "--data=synthgait_b:tiny",
                               f"--partition={split}", "--max_length=8",
                               f"--out={pretrain_workdir.parent / 'by_split'}"]) == 0
    by_split = np.load(pretrain_workdir.parent / "by_split" / "embeddings.npz")
    assert set(by_split["subjects"].tolist()) == {"004", "005", "006"}
