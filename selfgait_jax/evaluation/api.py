"""Whole evaluations: trained variables -> the paper's tables on a labelled test set.

Evaluators take ``(embed_fn, variables, source)``: ``embed_fn(variables, frames uint8, mask)`` embeds
a batch (``models.contract.make_embed_fn(model)``, or an exported model's function), ``variables``
are the ones to evaluate, ``source`` the sequences. `PeriodicEvaluator(config, embed_fn, source=)`
is called with the variables; the training loop calls it every few steps (it keeps its source and
compiled functions between calls). `evaluate_model` embeds and ranks a config's whole test split
once; `evaluate_trained` does that for a trained network and writes its tables next to its checkpoint
(the end of a training chain calls it with the state in memory); `evaluate_workdir` restores a
checkpoint first (tools/evaluate.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from selfgait_jax import sharding
from selfgait_jax import workdir as workdir_lib
from selfgait_jax.workdir import config_sha256  # results.json's checkpoint.config_sha256
from selfgait_jax.evaluation import embed as embed_lib
from selfgait_jax.evaluation import open_set as open_set_lib
from selfgait_jax.evaluation import ranking
from selfgait_jax.evaluation import tables
from selfgait_jax.models import contract


class PeriodicEvaluator:
    """Embeds the run's test sequences with ``embed_fn`` and computes the protocol; call it with the
    variables to evaluate; reusable across training steps. ``source`` defaults to ``config.data``'s,
    ``protocol`` to its test split. ``embed_fn`` may be None for an evaluator that only scores
    embeddings computed elsewhere (``results``)."""

    def __init__(self, config, embed_fn, *, source=None, metric=None, drop_missing_gallery=None,
                 mesh=None, protocol=None):
        from selfgait_jax.data import sources, splits

        self.config = config
        self.embed_fn = embed_fn
        self.source = source if source is not None else sources.open_source(config.data)
        self.protocol = (protocol if protocol is not None
                         else splits.protocol_of(config.data, self.source.metas))
        self.metric = metric or config.eval.metric
        if self.metric not in ranking.METRICS:  # before minutes of embedding, not after
            raise ValueError(f"metric must be one of {ranking.METRICS}, got {self.metric!r}")
        self.drop_missing_gallery = (
            bool(config.eval.drop_missing_gallery)
            if drop_missing_gallery is None else drop_missing_gallery
        )
        self.mesh = mesh if mesh is not None else sharding.data_mesh()
        self.batch_size = int(config.eval.batch_size) or None
        self.max_length = int(config.eval.max_length) or None  # 0: all frames
        self.indices = np.unique(np.concatenate([self.protocol.gallery, *self.protocol.probes.values()]))

    def embed(self, variables) -> np.ndarray:
        """Embeddings [len(self.indices), parts, dim] of the test sequences, in `self.indices` order."""
        return embed_lib.embed_source(
            self.embed_fn, variables, self.source, indices=self.indices,
            batch_size=self.batch_size, max_length=self.max_length, mesh=self.mesh,
        )

    def results(self, embeddings: np.ndarray) -> dict:
        """results.json's dictionary (without "checkpoint") from the test embeddings."""
        position = {int(i): k for k, i in enumerate(self.indices)}
        metas = [self.source.metas[i] for i in self.indices]
        result = ranking.evaluate_embeddings(
            embeddings,
            [m.subject for m in metas],
            [m.view for m in metas],
            [position[int(i)] for i in self.protocol.gallery],
            {c: [position[int(i)] for i in idx] for c, idx in self.protocol.probes.items()},
            metric=self.metric,
            drop_missing_gallery=self.drop_missing_gallery,
            mesh=self.mesh,
        )
        # The other convention for probes without a gallery match at a view, from the same sums
        # (such a probe has no hit and AP 0): counted as misses, as GaitSet's original evaluator does.
        as_misses = ranking.summarize(dataclasses.replace(
            result, counted=result.counted + (result.missing if self.drop_missing_gallery else 0)))
        return {
            "dataset": self.config.data.name,
            "metric": self.metric,
            "views": list(result.views),
            "conditions": ranking.summarize(result),
            "num_probes": int(sum(result.num_probes.values())),
            "num_gallery": result.num_gallery,
            "drop_missing_gallery": self.drop_missing_gallery,
            "protocol": self.describe_protocol(result),
            "with_missing_as_misses": {
                cond: {k: c[k] for k in ("rank1_per_probe_view", "mean", "rank5_mean", "mAP")}
                for cond, c in as_misses.items()},
        }

    def open_set(self, embeddings: np.ndarray, far: float = open_set_lib.DEFAULT_FAR) -> dict:
        """results.json's "open_set": the distance threshold at false-accept rate ``far`` from the
        genuine and impostor distances of every probe (all conditions) to the gallery's identities."""
        position = {int(i): k for k, i in enumerate(self.indices)}
        probes = np.unique(np.concatenate([self.protocol.probes[c] for c in self.protocol.probes]))
        subjects = [self.source.metas[i].subject for i in self.indices]
        return open_set_lib.evaluate(embeddings, subjects, [position[int(i)] for i in self.protocol.gallery],
                                     [position[int(i)] for i in probes], metric=self.metric, far=far)

    def describe_protocol(self, result) -> dict:
        """The protocol in full, as results.json states it: the split (subject counts, sha256 of the
        sorted ids, the ids themselves when there are at most 200), its source, gallery and probe
        types, views, the identical-view rule, the metric, the frames used, and the probes dropped
        for having no gallery sequence at a view."""
        from selfgait_jax.data import splits

        p, metas = self.protocol, self.source.metas

        def subjects(ids):
            out = {"count": len(ids), "sha256": splits.subjects_digest(ids)}
            if len(ids) <= 200:
                out["ids"] = list(ids)
            return out

        partition = None
        if p.partition:
            partition = {"path": os.path.abspath(p.partition),
                         "sha256": hashlib.sha256(Path(p.partition).read_bytes()).hexdigest(),
                         "unassigned_subjects": len(p.unassigned_subjects)}
        missing = {c: int(result.missing[i].sum()) for i, c in enumerate(result.conditions)}
        data = self.config.data
        return {
            "name": p.name,
            "data": json.loads(data.to_json()) if hasattr(data, "to_json") else dict(data),
            "split": ("OpenGait partition file" if p.partition else "default")
                     + (" (validation: held-out training subjects)" if p.name.endswith("-validation") else ""),
            "partition": partition,
            "train_subjects": subjects(p.train_subjects),
            "test_subjects": subjects(p.test_subjects),
            "gallery_types": sorted({metas[i].type for i in p.gallery}),
            "probe_types": {c: sorted({metas[i].type for i in idx}) for c, idx in p.probes.items()},
            "views": list(result.views),
            "identical_views": "excluded: a probe of view p is ranked against the gallery of each "
                               "view g != p separately; a probe view's number is the mean over those "
                               "g, a condition's the mean over probe views",
            "metric": f"{self.metric} distance per part, mean over parts; rank-1/rank-5: the probe's "
                      f"subject among the 1/5 nearest gallery sequences; mAP over the gallery of the view",
            "max_length": self.max_length,
            "frames_used": "all" if not self.max_length else f"the first {self.max_length} of each sequence",
            "probes_without_gallery": {
                "rule": ("dropped from the (probe, gallery view) pair" if self.drop_missing_gallery
                         else "counted as misses"),
                "per_condition": missing,
                "table_as_misses": "with_missing_as_misses",
            },
        }

    def __call__(self, variables) -> dict[str, float]:
        """The scalars a training loop logs: rank-1 mean per condition, rank-5 mean and mAP."""
        return summary_scalars(self.results(self.embed(variables)))


def summary_scalars(results: dict) -> dict[str, float]:
    """{"eval/NM_rank1": ..., "eval/NM_rank5": ..., "eval/NM_mAP": ...} for every condition (no None)."""
    out = {}
    for cond, c in results["conditions"].items():
        for name, key in (("rank1", "mean"), ("rank5", "rank5_mean"), ("mAP", "mAP")):
            if c[key] is not None:
                out[f"eval/{cond}_{name}"] = float(c[key])
    return out


def evaluate_model(config, embed_fn, variables, *, metric="euclidean", drop_missing_gallery=True,
                   source=None, mesh=None, max_length=None,
                   far=open_set_lib.DEFAULT_FAR) -> tuple[dict, np.ndarray, list]:
    """Embeds and ranks the test split of ``config.data`` (or of ``source``): returns (results.json's
    dictionary without "checkpoint", the test embeddings [N, parts, dim], their SequenceMetas).

    ``max_length`` caps the frames embedded per sequence (default: ``config.eval.max_length``);
    ``far`` is the false-accept rate of the open-set threshold in ``results["open_set"]``. A test
    split without probes is a ValueError before anything is embedded, and so is a table where no
    probe could be scored, after.
    """
    evaluator = PeriodicEvaluator(config, embed_fn, source=source, metric=metric,
                                  drop_missing_gallery=drop_missing_gallery, mesh=mesh)
    if not sum(len(p) for p in evaluator.protocol.probes.values()):  # before minutes of embedding
        raise ValueError(
            f"the test split of {config.data.name} (protocol {evaluator.protocol.name}, "
            f"{len(evaluator.protocol.test_subjects)} test subjects) has no probe sequences: nothing "
            f"to evaluate")
    if max_length:
        evaluator.max_length = int(max_length)
    embeddings = evaluator.embed(variables)
    metas = [evaluator.source.metas[i] for i in evaluator.indices]
    results = evaluator.results(embeddings)
    if all(c["mean"] is None for c in results["conditions"].values()):  # a table of dashes
        raise ValueError(
            f"none of the {results['num_probes']} probes of {config.data.name}'s test split could be "
            f"scored: a probe is compared only at gallery views other than its own, and "
            f"{sum(c['probes_without_gallery'] for c in results['conditions'].values())} have no "
            f"gallery sequence of their subject at a view (tools/evaluate.py --keep_missing_gallery "
            f"counts those as misses)")
    try:
        results["open_set"] = evaluator.open_set(embeddings, far)
    except ValueError as error:  # e.g. a test split of one identity: no impostors
        results["open_set"] = {"threshold": None, "why_none": str(error)}
    results["max_length"] = evaluator.max_length
    return results, embeddings, metas


def write_outputs(results: dict, embeddings: np.ndarray, metas, out) -> Path:
    """results.json / .md / .csv, heatmap_<COND>.png and embeddings.npz in folder `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(tables.results_markdown(results))
    (out / "results.csv").write_text(tables.results_csv(results))
    for cond, c in results["conditions"].items():
        title = f"{results['dataset']} {cond}: rank-1 %, mean {tables.fmt(c['mean'])}"
        tables.write_heatmap(c, results["views"], title, out / f"heatmap_{cond}.png")
    if (results.get("open_set") or {}).get("threshold") is not None:
        open_set_lib.write_plot(results["open_set"], out / results["open_set"]["plot"],
                                f"{results['dataset']} open set ({results['open_set']['metric']})")
    np.savez(
        out / "embeddings.npz",
        embeddings=np.asarray(embeddings, np.float32),
        subjects=np.array([m.subject for m in metas], dtype=str),
        types=np.array([m.type for m in metas], dtype=str),
        views=np.array([m.view for m in metas], dtype=str),
    )
    return out


def evaluate_workdir(workdir, step=None, out=None, metric="euclidean", drop_missing_gallery=True,
                     verbose=True, data=None, max_length=None, far=open_set_lib.DEFAULT_FAR) -> dict:
    """Restores a checkpoint (latest by default) and evaluates it with :func:`evaluate_trained`
    (same arguments): writes OUT (default WORKDIR/eval/<step>/, or WORKDIR/eval/<step>-<dataset>
    with ``data``), prints the table, and returns the results dictionary."""
    config, embed_model, variables, step = workdir_lib.load_for_inference(os.fspath(workdir), step)
    config_hash = config_sha256(workdir_lib.stored_config(os.fspath(workdir), step))  # the run's, as stored
    return evaluate_trained(config, contract.make_embed_fn(embed_model), variables, step, workdir,
                            out=out, metric=metric, drop_missing_gallery=drop_missing_gallery,
                            verbose=verbose, data=data, max_length=max_length, far=far, config_hash=config_hash)


def evaluate_trained(config, embed_fn, variables, step, workdir, out=None, metric="euclidean",
                     drop_missing_gallery=True, verbose=True, data=None, max_length=None,
                     far=open_set_lib.DEFAULT_FAR, config_hash=None) -> dict:
    """Evaluates the variables of checkpoint ``step`` of ``workdir`` (trained with ``config``) on a
    labelled test set, writes OUT (default WORKDIR/eval/<step>/, or WORKDIR/eval/<step>-<dataset>
    with ``data``), prints the table, and returns the results dictionary.

    ``data`` (a data config, e.g. ``data_config("synthgait_b")``) replaces the run's own dataset: the
    way to probe a *pretrained* embedding, whose pool has no labels, without fine-tuning it.
    ``max_length`` caps the frames embedded per sequence (default: all). ``far``: the false-accept
    rate of the open-set threshold stored in ``results["open_set"]`` (open_set.py). ``config_hash``:
    the checkpoint's config identity (default: ``config``'s sha256; a restored config's is that of
    the config as stored, ``workdir.stored_config``, before the keys declared since were filled).
    """
    from selfgait_jax.data import datasets, sources

    config_hash = config_hash or config_sha256(config)
    if data is not None:
        config = config.copy_and_resolve_references()
        config.data = data
    elif not datasets.labelled(config.data.name):
        raise ValueError(
            f"{workdir} was trained on data.name={config.data.name!r}, which has no labels to "
            f"evaluate on; name a labelled dataset, e.g. tools/evaluate.py --data=synthgait_b "
            f"(one of {sorted(datasets.labelled_names())})")
    results, embeddings, metas = evaluate_model(config, embed_fn, variables, metric=metric,
                                                drop_missing_gallery=drop_missing_gallery,
                                                max_length=max_length, far=far)
    # results.json lists the checkpoint before max_length
    max_length = results.pop("max_length")
    results["checkpoint"] = {"workdir": os.path.abspath(os.fspath(workdir)), "step": int(step),
                             "config_sha256": config_hash}
    results["max_length"] = max_length
    held = int(data.validation_subjects) if data is not None else 0
    name = "" if data is None else f"-{data.name}" + (f"-validation{held}" if held else "")
    if data is not None and sources.chosen_views(data):  # a cheaper probe's table beside the full one
        name += "-views-" + "-".join(sources.chosen_views(data))
    default_out = Path(workdir) / "eval" / f"{step}{name}"
    out = Path(out) if out is not None else default_out
    write_outputs(results, embeddings, metas, out)
    if verbose:
        print(tables.results_markdown(results))
        print(f"written to {out}")
    return results
