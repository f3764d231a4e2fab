"""Pretreat a raw CASIA-B PNG tree into an OpenGait-style pkl tree (what ``ou_mvlp``/``opengait_pkl`` read).

    python3 tools/pretreat.py --input /data/CASIA-B/silhouettes --output /data/CASIA-B-pkl --workers 2

Input: ``input/subject/type/view/*.png``. Output: ``output/subject/type/view/view.pkl``, a pickled
``uint8 [T, 64, 64]`` (0/255) per sequence, written atomically (temporary file, then rename), so an
interrupted run can simply be restarted: finished sequences are kept. Corrupt frames, empty folders
and sequences with no usable frame are skipped and listed in the summary at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import sys
import tempfile
from pathlib import Path

from selfgait_jax.data.readers import ReadSummary, SequenceError, read_png_sequence
from selfgait_jax.data.sequence import CANVAS_WIDTH
from selfgait_jax.progress import progress


def find_sequences(root: Path, summary: ReadSummary) -> list[Path]:
    """View folders ``root/subject/type/view`` that hold PNGs; empty ones go into the summary."""
    found = []
    for view in sorted(p for p in root.glob("*/*/*") if p.is_dir()):
        if any(f.suffix.lower() == ".png" for f in view.iterdir()):
            found.append(view)
        else:
            summary.add(view, "empty folder: no .png files")
    return found


def convert(job: tuple[str, str, bool]):
    """Pretreat one view folder; returns (folder, frames written or None, issues, near-empty frames)."""
    folder, output_root, overwrite = job
    folder = Path(folder)
    relative = folder.relative_to(folder.parents[2])
    target = Path(output_root) / relative / f"{folder.name}.pkl"
    summary = ReadSummary()
    if target.exists() and not overwrite:
        return str(folder), 0, [], 0
    try:
        frames = read_png_sequence(folder, width=CANVAS_WIDTH, summary=summary)
    except SequenceError as error:
        summary.add(error.path, error.problem)
        return str(folder), None, [(i.path, i.problem) for i in summary.issues], sum(summary.counters.values())
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".tmp-", suffix=".pkl", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(frames, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(scratch, target)
    finally:
        if os.path.exists(scratch):
            os.remove(scratch)
    return str(folder), len(frames), [(i.path, i.problem) for i in summary.issues], sum(summary.counters.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="raw tree root: input/subject/type/view/*.png")
    parser.add_argument("--output", required=True, help="pkl tree root to write")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes pretreating sequences in parallel (default: the CPU count, %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="redo sequences already written")
    args = parser.parse_args(argv)
    root = Path(args.input)
    if not root.is_dir():
        parser.error(f"--input {str(root)!r} is not a folder")
    summary = ReadSummary()
    folders = find_sequences(root, summary)
    if not folders:
        parser.error(f"no view folders with PNGs under {str(root)!r} (expected input/subject/type/view/*.png)")
    jobs = [(str(f), args.output, args.overwrite) for f in folders]
    written = kept = 0
    with multiprocessing.get_context("spawn").Pool(max(1, args.workers)) as pool:
        results = pool.imap_unordered(convert, jobs, chunksize=4)
        for folder, frames, issues, near_empty in progress(results, total=len(jobs), unit="seq",
                                                           desc=f"pretreating {len(jobs)} sequences"):
            for path, problem in issues:
                summary.add(path, problem)
            if near_empty:
                summary.count("near-empty frames dropped by the pretreatment", near_empty)
            if frames is None:
                continue
            written += frames > 0
            kept += frames == 0
    print(f"{written} sequences written, {kept} already present, {len(folders) - written - kept} skipped")
    print(f"skipped or dropped:\n{summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
