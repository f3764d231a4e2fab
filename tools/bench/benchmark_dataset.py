"""Measure a tree dataset's first read, its cached open and its compact file's open.

    python tools/bench/benchmark_dataset.py --data=casia_b_pkl --data_root=ROOT --out=OUT.json [--append-docs]

Each open runs in a fresh process (its own peak RSS, from resource.getrusage): the first read of
the tree into an empty cache dir (every file read, the frame cache written), the cached open (the
listing scan, the index, the frames memory-mapped), and the open of the compact file that
tools/pack_dataset.py writes (read whole into memory, numpy only). After each open the process
loads every sequence once (what a run's stores and its evaluation do) and hashes the frames: the
three must agree, and with the tree read file by file without a cache (--verify). Disk use is the
frame cache's and the compact file's bytes. The tree's files are wherever the OS has them (say in
the notes whether they were in the page cache). The same figures at OU-MVLP's size are extrapolated
linearly from these (per frame or per sequence, each as said in the record), not measured.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
# OU-MVLP: 10,307 subjects x 14 views x 2 walks = 288,596 sequences if complete; about 267,000 in the
# pretreated copies; 18-35 frames each (the shared ARCHITECTURE.md), 26.5 on average taken here.
OU_MVLP_SEQUENCES = 267_000
OU_MVLP_FRAMES_PER_SEQUENCE = 26.5


def _rss_mb() -> float:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, data: str, root: str, cache_dir: str) -> dict:
    """One open (and one pass over every sequence) in this process; what it took."""
    from selfgait_jax.data.datasets import DATASETS
    from selfgait_jax.data.sources import data_config, open_source
    from selfgait_jax.errors import SequenceError

    if mode in ("first", "tree"):  # PIL imported before the timing (the compact file never needs it)
        from selfgait_jax.data.readers import TreeSource

    cfg = data_config(data)
    cfg.root, cfg.cache_dir = root, cache_dir
    rss_before = _rss_mb()
    start = time.perf_counter()
    if mode == "tree":  # no cache: every load reads its file (the truth the others are checked against)
        source = TreeSource(root, DATASETS[data].reader, name=data, read_at_open=False)
    else:
        source = open_source(cfg)
    open_s = time.perf_counter() - start
    digest, frames = hashlib.sha256(), 0
    start = time.perf_counter()
    for i in range(len(source)):
        try:
            sequence = source.load(i)
        except SequenceError:  # the tree read file by file meets the bad files the others skipped
            continue
        digest.update(f"{source.metas[i]}|{sequence.shape}".encode())
        digest.update(sequence.tobytes())
        frames += len(sequence)
    load_all_s = time.perf_counter() - start
    return {"mode": mode, "open_s": round(open_s, 2), "load_all_s": round(load_all_s, 2),
            "sequences": len(source) if mode != "tree" else None, "frames": frames, "digest": digest.hexdigest(),
            "rss_before_open_mb": round(rss_before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "tensorflow_imported": "tensorflow" in sys.modules, "pil_imported": "PIL" in sys.modules,
            "issues": len(source.summary) if source.summary is not None else None}


def run_child(mode: str, args, cache_dir: str, root: str | None = None) -> dict:
    command = [sys.executable, __file__, f"--_child={mode}", f"--data={args.data}",
               f"--data_root={root or args.data_root}", f"--cache_dir={cache_dir}"]
    if mode == "tree":  # the check, not a figure: at low priority on a shared machine
        command = ["nice", "-n", "10", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        raise SystemExit(f"{mode}: {done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{mode}: {result}", file=sys.stderr)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="casia_b_pkl", help="a tree dataset (default: %(default)s)")
    parser.add_argument("--data_root", required=True, help="the tree's folder")
    parser.add_argument("--work_dir", default="",
                        help="where the cache and the compact file are written (default: a temporary folder, removed)")
    parser.add_argument("--repeats", type=int, default=2, help="cached and compact opens, each (default: 2)")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip reading the tree file by file without a cache to check the frames")
    parser.add_argument("--notes", default="", help="a note for the record (e.g. the page cache's state)")
    parser.add_argument("--out", help="write the result as JSON here")
    parser.add_argument("--append-docs", action="store_true", help="append the result's line to docs/benchmarks.md")
    parser.add_argument("--_child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cache_dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print(json.dumps(child(args._child, args.data, args.data_root, args.cache_dir)))
        return

    from selfgait_jax.data import packed
    from selfgait_jax.data.sources import data_config, open_source

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="benchmark_dataset-"))
    cache = work / "cache"
    if cache.exists():
        shutil.rmtree(cache)  # a cold cache dir
    compact = work / f"{args.data}.npz"
    load_before = os.getloadavg()[0]
    try:
        first = run_child("first", args, str(cache))
        cached = [run_child("cached", args, str(cache)) for _ in range(args.repeats)]
        cfg = data_config(args.data)
        cfg.root, cfg.cache_dir = args.data_root, str(cache)
        start = time.perf_counter()
        packed.write_compact(compact, open_source(cfg), root=args.data_root)
        pack_s = time.perf_counter() - start
        opened = [run_child("compact", args, "", root=str(compact)) for _ in range(args.repeats)]
        tree = run_child("tree", args, "") if args.verify else None
        cache_bytes = sum(p.stat().st_size for p in (cache / "tree_index").iterdir())
        compact_bytes = compact.stat().st_size
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    digests = {r["digest"] for r in [first, *cached, *opened, *([tree] if tree else [])]}
    sequences, frames = first["sequences"], first["frames"]
    best = lambda runs, key: min(r[key] for r in runs)
    per_frame = OU_MVLP_SEQUENCES * OU_MVLP_FRAMES_PER_SEQUENCE / frames
    per_sequence = OU_MVLP_SEQUENCES / sequences
    result = {
        "benchmark": "dataset_open",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "python": platform.python_version(), "notes": args.notes,
        "data": args.data, "sequences": sequences, "frames": frames,
        "frames_identical": len(digests) == 1, "checked_against_the_tree": tree is not None,
        "first_read": {k: first[k] for k in ("open_s", "load_all_s", "peak_rss_mb", "issues")},
        "cached_open": {"open_s": [r["open_s"] for r in cached], "load_all_s": [r["load_all_s"] for r in cached],
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in cached)},
        "compact_open": {"open_s": [r["open_s"] for r in opened], "load_all_s": [r["load_all_s"] for r in opened],
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in opened),
                         "tensorflow_imported": any(r["tensorflow_imported"] for r in opened),
                         "pil_imported": any(r["pil_imported"] for r in opened)},
        "tree_read_file_by_file": {k: tree[k] for k in ("open_s", "load_all_s")} if tree else None,
        "pack_s": round(pack_s, 2),
        "bytes": {"cache": cache_bytes, "cache_mib": round(cache_bytes / 2**20, 1),
                  "compact": compact_bytes, "compact_mib": round(compact_bytes / 2**20, 1),
                  "compact_bytes_per_frame": round(compact_bytes / frames, 1)},
        "ou_mvlp_extrapolated": {
            "how": (f"extrapolated linearly, not measured: {OU_MVLP_SEQUENCES} sequences x "
                    f"{OU_MVLP_FRAMES_PER_SEQUENCE} frames; reading, bytes and the compact file's open scale "
                    f"with frames (x{per_frame:.2f}), the cached open (listing scan and index) with "
                    f"sequences (x{per_sequence:.2f}); the first read is given both ways"),
            "sequences": OU_MVLP_SEQUENCES, "frames": round(OU_MVLP_SEQUENCES * OU_MVLP_FRAMES_PER_SEQUENCE),
            "first_read_s": [round(first["open_s"] * per_frame), round(first["open_s"] * per_sequence)],
            "cached_open_s": round(best(cached, "open_s") * per_sequence, 1),
            "compact_open_s": round(best(opened, "open_s") * per_frame, 1),
            "cache_mib": round(cache_bytes * per_frame / 2**20),
            "compact_mib": round(compact_bytes * per_frame / 2**20),
            "compact_open_peak_rss_mb": round(best(opened, "peak_rss_mb") * per_frame),
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.append_docs:
        _append_line(result)


def _append_line(r: dict) -> None:
    c, o, b, ou = r["cached_open"], r["compact_open"], r["bytes"], r["ou_mvlp_extrapolated"]
    line = (f"- {r['date'][:10]} `python tools/bench/benchmark_dataset.py --data={r['data']} --data_root=ROOT "
            f"--out=OUT.json` ({r['machine']}, load average {r['load_average_1min'][0]}→"
            f"{r['load_average_1min'][1]}{'; ' + r['notes'] if r['notes'] else ''}): {r['data']}, "
            f"{r['sequences']} sequences, {r['frames']} frames of 64x44: first read into an empty cache dir "
            f"**{r['first_read']['open_s']} s** (peak RSS {r['first_read']['peak_rss_mb']} MB); cached open "
            f"**{min(c['open_s'])} s** (runs {', '.join(map(str, c['open_s']))} s; the issue asks <= 5 s; every "
            f"sequence then loaded in {min(c['load_all_s'])} s; peak RSS {c['peak_rss_mb']} MB, the mapped "
            f"cache's pages included); compact file "
            f"{b['compact_mib']} MiB ({b['compact_bytes_per_frame']} bytes a frame, packed in {r['pack_s']} s) "
            f"opened in **{min(o['open_s'])} s** without TensorFlow or PIL (peak RSS {o['peak_rss_mb']} MB); "
            f"frame cache {b['cache_mib']} MiB on disk; frames byte-identical across the three"
            f"{' and the tree read file by file' if r['checked_against_the_tree'] else ''}: "
            f"{r['frames_identical']}. Extrapolated (not measured) to OU-MVLP's {ou['sequences']} sequences, "
            f"{ou['frames']} frames: first read {ou['first_read_s'][0]}-{ou['first_read_s'][1]} s, cached open "
            f"{ou['cached_open_s']} s, cache {ou['cache_mib']} MiB, compact file {ou['compact_mib']} MiB "
            f"opened in {ou['compact_open_s']} s with {ou['compact_open_peak_rss_mb']} MB peak RSS\n")
    with BENCHMARKS_MD.open("a") as file:
        file.write(line)


if __name__ == "__main__":
    main()
