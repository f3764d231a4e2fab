"""Pack a tree dataset into one compact file that opens without TensorFlow (or PIL).

    python tools/pack_dataset.py --data=casia_b_pkl --data_root=/data/CASIA-B-pkl --out=casia_b.npz

The tree is read once as training reads it (bad or too short sequences skipped and reported; the
frame cache under --cache_dir is written or reused), then every kept sequence is written at one bit
a pixel, compressed, with its metas, lengths and the read's summary (``selfgait_jax/data/packed.py``).
A run reads it with ``--config.data.name=casia_b_pkl --config.data.root=casia_b.npz``: same metas,
same frames as the tree. All of CASIA-B (13,592 sequences) packs to 56 MiB (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from selfgait_jax.data import packed
from selfgait_jax.data.datasets import DATASETS
from selfgait_jax.data.sources import data_config, open_source

TREES = tuple(name for name, dataset in DATASETS.items() if dataset.needs_root)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, choices=TREES, help="the tree dataset's name")
    parser.add_argument("--data_root", required=True, help="the tree's folder (root/subject/type/view/)")
    parser.add_argument("--out", required=True, help="the compact file to write (an .npz)")
    parser.add_argument("--cache_dir", default="",
                        help="the frame cache's folder (default: $SELFGAIT_DATA_DIR or ~/.cache/selfgait_jax)")
    parser.add_argument("--min_length", type=int, default=1,
                        help="sequences with fewer frames are skipped and reported (data.min_length; default 1)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data_root):
        parser.error(f"--data_root={args.data_root!r} is not a folder")
    cfg = data_config(args.data)
    cfg.root, cfg.cache_dir, cfg.min_length = args.data_root, args.cache_dir, args.min_length
    start = time.perf_counter()
    source = open_source(cfg)
    opened = time.perf_counter() - start
    record = packed.write_compact(args.out, source, root=args.data_root)
    size = os.path.getsize(args.out)
    print(f"{args.out}: {len(source)} sequences, {record['frames']} frames of {args.data}, "
          f"{size / 2**20:.1f} MiB ({size / max(1, record['frames']):.1f} bytes a frame); "
          f"tree opened in {opened:.1f} s, packed in {time.perf_counter() - start - opened:.1f} s")
    if len(source.summary):
        print(f"skipped while reading (kept in the file):\n{source.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
