"""What evaluated embeddings group by: the walker, the view, the condition or the single recording.

    python3 tools/embedding_structure.py LABEL=EMBEDDINGS.npz [LABEL=EMBEDDINGS.npz ...] [--json=OUT]
        [--figure=OUT.png]

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
from selfgait_jax.study.figures import pyplot

# The figure's two panels: (title, [(measure, its chance level or None, bar label)]).
PANELS = (
    ("share of the embeddings' squared spread",
     [("variance: walker", None, "walker"), ("variance: view", None, "view"),
      ("condition", None, "condition, within a (walker, view) cell"),
      ("one recording", None, "particular to one recording")]),
    ("nearest neighbour",
     [("same walker, other view", "same walker, other view (chance)", "same walker, at another view"),
      ("same view, other walker", "same view, other walker (chance)", "same view, among other walkers")]),
)


def labelled(arguments: list[str]) -> dict[str, list[str]]:
    """{label: [paths]} from LABEL=PATH arguments, in the order given; a bare PATH is its own label."""
    rows: dict[str, list[str]] = {}
    for argument in arguments:
        label, _, path = argument.partition("=") if "=" in argument else (argument, "", argument)
        rows.setdefault(label, []).append(path)
    return rows


def table(measured: dict[str, list[dict]]) -> str:
    """Markdown: a row per label, a column per measure; mean (range) over the label's files, %."""
    columns = list(dict.fromkeys(column for runs in measured.values() for run in runs for column in run))
    lines = ["| embeddings | files | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for label, runs in measured.items():
        cells = []
        for column in columns:
            if any(column not in run for run in runs):  # a file that names no conditions
                cells.append("—")
                continue
            values = 100.0 * np.array([run[column] for run in runs])
            spread = f" ({values.min():.1f}–{values.max():.1f})" if len(values) > 1 else ""
            cells.append(f"{values.mean():.1f}{spread}")
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(measured: dict[str, list[dict]], path: str) -> None:
    """Both panels, a group of bars per label (top to bottom in the order given): the means, a dot a
    file, a chance level as a short black line."""
    plt = pyplot()
    labels = list(measured)
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.6 + 0.55 * len(labels)), sharey=True)
    for ax, (title, bars) in zip(axes, PANELS):
        height = 0.8 / len(bars)
        for k, (measure, chance, name) in enumerate(bars):
            y = np.arange(len(labels)) + (k - (len(bars) - 1) / 2) * height
            values = [[100 * _value(run, measure) for run in measured[label]] for label in labels]
            ax.barh(y, [np.mean(v) for v in values], height, label=name)
            for row_y, row in zip(y, values):
                ax.scatter(row, [row_y] * len(row), s=8, color="black", zorder=3)
            if chance:
                levels = [100 * np.mean([run[chance] for run in measured[label]]) for label in labels]
                ax.vlines(levels, y - height / 2, y + height / 2, color="black", linewidth=2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("% (bars: mean; dots: one file each; black lines: chance)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(labels) - 0.12), ncol=3, fontsize=8)
    axes[0].set_yticks(np.arange(len(labels)))
    axes[0].set_yticklabels([label.replace("`", "") for label in labels], fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _value(run: dict, measure: str) -> float:
    """A measure of one file. 'condition': what the condition adds to a (walker, view) cell's share;
    'one recording': what the finest cell does not carry. NaN where the file names no conditions."""
    finest = run.get("variance: walker, view and condition", np.nan)
    if measure == "condition":
        return finest - run["variance: walker and view"]
    if measure == "one recording":
        return 1.0 - finest
    return run[measure]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("embeddings", nargs="+", help="LABEL=PATH to an evaluation's embeddings.npz")
    parser.add_argument("--json", default="", help="also write every file's measures to this JSON file (default: none)")
    parser.add_argument("--figure", default="", help="also draw the measures into this PNG (default: none)")
    args = parser.parse_args(argv)
    selfgait_jax.configure_jax()
    files = labelled(args.embeddings)
    try:
        measured = {label: [structure.describe(path) for path in paths] for label, paths in files.items()}
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(table(measured))
    if args.figure:
        figure(measured, args.figure)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({label: dict(zip(files[label], runs)) for label, runs in measured.items()}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
