"""What evaluated embeddings group by: the walker, the view, or the single sequence.

    python3 tools/embedding_structure.py LABEL=EMBEDDINGS.npz [LABEL=EMBEDDINGS.npz ...] [--json=OUT]

Each EMBEDDINGS.npz is an evaluation's output (``eval/STEP/embeddings.npz`` of a run, or a label
study's ``zero_shot_test/embeddings.npz``). Files given the same LABEL (one per seed, say) make one
row: the mean, and the range over the files. Prints a markdown table of
:mod:`selfgait_jax.evaluation.structure`'s measures, percent.

Why: a pretext can lose rank-1 against a random network by grouping sequences by something other
than the walker; this says by what (docs/casia_b.md uses it on the label study's frozen networks).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

import selfgait_jax
from selfgait_jax.evaluation import structure


def labelled(arguments: list[str]) -> dict[str, list[str]]:
    """{label: [paths]} from LABEL=PATH arguments, in the order given; a bare PATH is its own label."""
    rows: dict[str, list[str]] = {}
    for argument in arguments:
        label, _, path = argument.partition("=") if "=" in argument else (argument, "", argument)
        rows.setdefault(label, []).append(path)
    return rows


def table(measured: dict[str, list[dict]]) -> str:
    """Markdown: a row per label, a column per measure; mean (range) over the label's files, %."""
    columns = list(next(iter(measured.values()))[0])
    lines = ["| embeddings | files | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for label, runs in measured.items():
        cells = []
        for column in columns:
            values = 100.0 * np.array([run[column] for run in runs])
            spread = f" ({values.min():.1f}–{values.max():.1f})" if len(values) > 1 else ""
            cells.append(f"{values.mean():.1f}{spread}")
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("embeddings", nargs="+", help="LABEL=PATH to an evaluation's embeddings.npz")
    parser.add_argument("--json", default="", help="also write every file's measures to this JSON file (default: none)")
    args = parser.parse_args(argv)
    selfgait_jax.configure_jax()
    measured = {label: [structure.describe(path) for path in paths]
                for label, paths in labelled(args.embeddings).items()}
    print(table(measured))
    if args.json:
        files = labelled(args.embeddings)
        with open(args.json, "w") as out:
            json.dump({label: dict(zip(files[label], runs)) for label, runs in measured.items()}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
