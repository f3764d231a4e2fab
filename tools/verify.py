"""Check an exported model file (tools/export.py) and recompute the table it stores.

    python tools/verify.py --model=model.npz [--data=NAME] [--data_root=PATH] [--partition=FILE]
                           [--tolerance=0.5]

1. Reads the file without pickle and checks its fingerprint (sha256 of the parameters, of the
   serialized function and of the metadata): a file changed, truncated or damaged after export is
   reported and the exit status is 1.
2. Prints what the file says it is: model, parameter count, step, training data, config hash,
   pretreatment, library versions, stored evaluations.
3. Recomputes the stored table with the file's own function on the data (the evaluation's data
   config from the file; ``--data_root`` for a dataset read from disk and ``--partition`` for an
   OpenGait split file, which the file never names for you (the partition's sha256 must match);
   SynthGait is regenerated), with the stored protocol, metric, frames and missing-gallery rule,
   and says per condition and per number (rank-1, rank-5, mAP means) whether it matches the stored
   one within ``--tolerance`` percentage points. Exit status 0 when everything matches.

``--data=NAME`` picks the stored evaluation of dataset NAME (default: the first, the run's own).
The tolerance exists because a different machine, library version or platform sums floats in
another order, which can flip a near tie between two gallery sequences; one flipped probe moves a
pair by 100 / (its probes) points and a condition's mean by that over the number of pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from selfgait_jax.evaluation import exported

NUMBERS = (("rank-1", "mean"), ("rank-5", "rank5_mean"), ("mAP", "mAP"))


def describe(meta: dict) -> str:
    """What the file says it is, a line per fact."""
    versions = meta.get("versions") or {}
    count = meta.get("parameter_count")
    lines = [
        f"model: {meta.get('model', '?')}, {'?' if count is None else f'{count:,}'} parameters, output "
        f"{meta.get('output', '?')}, checkpoint step {meta.get('step', '?')}",
        f"trained on: {meta.get('dataset', '?')} (config sha256 {str(meta.get('config_sha256', '?'))[:16]}…)",
        "pretreatment: " + "; ".join(f"{k} {v}" for k, v in (meta.get("pretreatment") or {}).items()
                                     if k in ("frame", "centring", "binarisation")),
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"open-set threshold: {meta.get('open_set_threshold')}",
    ]
    for e in meta.get("evaluations") or []:
        r = e["results"]
        p = r.get("protocol") or {}
        split = f"{p.get('split', '?')} split, {p.get('test_subjects', {}).get('count', '?')} test subjects"
        lines.append(f"stored table ({e['source']}): {r['dataset']}, protocol {p.get('name', '?')} ({split}), "
                     f"{r['metric']}, frames {p.get('frames_used', 'all')}: "
                     + ", ".join(f"{c} {v['mean']:.2f}" for c, v in r["conditions"].items()
                                 if v["mean"] is not None))
    return "\n".join(lines)


def pick_evaluation(meta: dict, data: str | None) -> dict:
    evaluations = meta.get("evaluations") or []
    if not data:
        return evaluations[0]
    name = data.partition(":")[0]
    for e in evaluations:
        if e["results"]["dataset"] == name:
            return e
    raise ValueError(f"--data={data}: the file stores no table on {name}; it has "
                     f"{[e['results']['dataset'] for e in evaluations]}")


def data_config_of(meta: dict, results: dict, data_root: str, cache_dir: str, partition: str = ""):
    """The evaluation's data config as the file stores it, with this machine's root and cache."""
    import ml_collections

    from selfgait_jax.data import datasets, sources

    stored = (results.get("protocol") or {}).get("data")
    if stored is None:  # a results.json from before protocols were stated: the training data
        stored = (meta.get("config") or {}).get("data")
        if not stored or stored.get("name") != results["dataset"]:
            raise ValueError(f"the stored {results['dataset']} table does not say which data config it "
                             f"used; it cannot be recomputed")
    data = sources.data_config(stored["name"])
    data.update({k: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in data})
    data.root = data_root or ""
    data.cache_dir = cache_dir or ""  # never a folder the file names
    if datasets.DATASETS[data.name].needs_root and not data.root:
        raise ValueError(f"the stored table is on {data.name}, read from disk: give its folder with "
                         f"--data_root=PATH")
    if data.get("partition"):  # the exporter's path means nothing here: the user's copy, same bytes
        want = ((results.get("protocol") or {}).get("partition") or {}).get("sha256")
        if not partition:
            raise ValueError(f"the stored table used the partition file {data.partition}: give your copy "
                             f"with --partition=FILE")
        have = hashlib.sha256(Path(partition).read_bytes()).hexdigest()
        if want and have != want:
            raise ValueError(f"--partition={partition} is not the file the stored table used "
                             f"(sha256 {have[:16]}… != {want[:16]}…)")
        data.partition = partition
    return ml_collections.ConfigDict(data)


def recompute(model_path, results: dict, data) -> tuple[dict, object]:
    """The table of ``results``' protocol recomputed with the exported function on ``data``."""
    import ml_collections

    from selfgait_jax.evaluation import identify
    from selfgait_jax.evaluation.api import PeriodicEvaluator

    config = ml_collections.ConfigDict({"data": data, "eval": {"max_length": 0}})
    evaluator = PeriodicEvaluator(config, None, metric=results["metric"],
                                  drop_missing_gallery=bool(results.get("drop_missing_gallery", True)))
    evaluator.max_length = results.get("max_length") or None
    embedder = exported.load_exported(model_path)
    embeddings = identify.embed_sequences(embedder, evaluator.source, indices=evaluator.indices,
                                          max_length=evaluator.max_length)
    return evaluator.results(embeddings), evaluator


def compare(stored: dict, again: dict, tolerance: float) -> tuple[list[list[str]], bool]:
    rows, ok = [], True
    for cond, c in stored["conditions"].items():
        for label, key in NUMBERS:
            a, b = c.get(key), again["conditions"].get(cond, {}).get(key)
            if a is None or b is None:
                match = a is None and b is None
                diff = "-"
            else:
                match = abs(a - b) <= tolerance
                diff = f"{abs(a - b):.2f}"
            ok &= match
            rows.append([cond, label, "-" if a is None else f"{a:.2f}", "-" if b is None else f"{b:.2f}",
                         diff, "match" if match else "MISMATCH"])
    return rows, ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="file written by tools/export.py")
    parser.add_argument("--data", default=None,
                        help="the stored evaluation to recompute, by dataset name (default: the first one)")
    parser.add_argument("--data_root", "--data.root", dest="data_root", default="",
                        help="dataset folder for casia_b / ou_mvlp / opengait_pkl (default: none, for SynthGait)")
    parser.add_argument("--partition", default="",
                        help="your copy of the OpenGait partition file the stored table used, if any "
                             "(default: none)")
    parser.add_argument("--cache_dir", default="", help="SynthGait cache (default: $SELFGAIT_DATA_DIR "
                                                        "or ~/.cache/selfgait_jax)")
    parser.add_argument("--tolerance", type=float, default=0.5,
                        help="largest difference, in percentage points, that still matches (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        meta, serialized, params = exported.read_file(args.model)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    problems = exported.fingerprint_problems(meta, serialized, params)
    if problems:
        print(f"error: {args.model}: fingerprint mismatch: {'; '.join(problems)}. The file was changed "
              f"or damaged after export: do not trust its weights or its tables.", file=sys.stderr)
        return 1
    print(f"{args.model}: fingerprint OK (params sha256 {meta['fingerprint']['params']})")
    print(describe(meta))
    if not meta.get("evaluations"):
        print("no stored table to recompute (the workdir had no evaluation of this step at export)")
        return 0
    try:
        evaluation = pick_evaluation(meta, args.data)
        stored = evaluation["results"]
        data = data_config_of(meta, stored, args.data_root, args.cache_dir, args.partition)
        again, evaluator = recompute(args.model, stored, data)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stored_split = (stored.get("protocol") or {}).get("test_subjects", {}).get("sha256")
    if stored_split and stored_split != again["protocol"]["test_subjects"]["sha256"]:
        print(f"warning: the test subjects found in this data ({again['protocol']['test_subjects']['count']}) "
              f"are not the stored ones ({stored['protocol']['test_subjects']['count']}): differences "
              f"are expected")
    rows, ok = compare(stored, again, args.tolerance)
    header = ["condition", "number", "stored", "recomputed", "|difference|", f"within {args.tolerance:g}?"]
    print(f"\nrecomputed {stored['dataset']} ({len(evaluator.indices)} test sequences) with the file's "
          f"function:")
    print("\n".join("| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header)] + rows))
    matched = sum(r[-1] == "match" for r in rows)
    print(f"\n{'OK' if ok else 'MISMATCH'}: {matched} of {len(rows)} numbers match the stored table "
          f"within {args.tolerance:g} percentage points")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
