"""The report's three figures: rank-1 per row and condition (bars), the pretraining curves, and each
row's rank-1 minus w/o PT's per probe view (heatmaps). matplotlib is imported only when one is drawn.
"""

from __future__ import annotations

import pathlib

import numpy as np

from selfgait_jax.data.splits import CASIA_B_CONDITIONS as CONDITIONS
from selfgait_jax.study.rows import WIDTH


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (imported late: only the report draws)."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    return plt


def bar_chart(table, names: dict, dataset: str, path: pathlib.Path):
    """Mean rank-1 on ``dataset`` per row (``names``: row -> its label) and condition over the finished
    seeds: bars, std over seeds, a dot a seed."""
    plt = pyplot()

    rows = list(names)
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.27
    for k, cond in enumerate(CONDITIONS):
        means, errs = [], []
        for row in rows:
            values = [m[cond] for _, m in table.get(row, [])]
            means.append(np.mean(values) if values else np.nan)
            errs.append(np.std(values, ddof=1) if len(values) > 1 else 0)  # the spread over seeds
        x = np.arange(len(rows)) + (k - 1) * width
        ax.bar(x, means, width, yerr=errs, capsize=2, label=cond)
        for row_x, row in zip(x, rows):  # every seed as a dot
            ax.scatter([row_x] * len(table.get(row, [])), [m[cond] for _, m in table.get(row, [])],
                       s=6, color="black", zorder=3)
    ax.set_xticks(np.arange(len(rows)))
    ax.set_xticklabels([names[r] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"rank-1 % ({dataset}, identical views excluded)")
    ax.set_title("Reproduction study: mean over seeds, bars = std over seeds, dots = seeds")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: no bar is hidden
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def view_gap_heatmaps(found, path: pathlib.Path, names: dict | None = None) -> bool:
    """Heatmaps of (row − w/o PT) rank-1 per probe view and condition: where pretraining helps or hurts.
    ``found`` is `report.view_gaps`'s (views, rows, gaps), or None: then nothing is drawn; ``names``:
    row -> its label."""
    if found is None:
        return False
    plt = pyplot()
    views, rows, gaps = found
    limit = max(float(np.abs(g).max()) for g in gaps.values()) or 1.0
    fig, axes = plt.subplots(1, len(CONDITIONS), figsize=(15, 1.2 + 0.45 * len(rows)), sharey=True)
    for ax, cond in zip(axes, CONDITIONS):
        image = ax.imshow(gaps[cond], cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for (i, j), value in np.ndenumerate(gaps[cond]):
            ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(views)))
        ax.set_xticklabels(views, fontsize=7)
        ax.set_xlabel("probe view")
        ax.set_title(f"{cond}: rank-1 − w/o PT (points)")
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels([(names or {}).get(r, r) for r in rows], fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def curves(series: dict, path: pathlib.Path) -> bool:
    """Pretraining loss, collapse monitor and validation probe against steps: ``series`` is row name
    -> the metrics records of each finished seed (one colour a row, one line a seed)."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    drawn = False
    for colour, (name, finished) in zip(plt.get_cmap("tab10").colors, series.items()):  # one colour a row
        for k, records in enumerate(finished):  # as in the table: a run still going is left out
            train = [r for r in records if "loss" in r]
            probe = [r for r in records if "probe/NM_rank1" in r]
            if not train:
                continue
            drawn = True
            label = f"{name} ({len(finished)} seed{'s' if len(finished) > 1 else ''})" if k == 0 else None
            steps = [r["step"] for r in train]
            axes[0].plot(steps, [r["loss"] for r in train], label=label, lw=1, color=colour)
            axes[1].plot(steps, [r["projection_std"] for r in train], label=label, lw=1, color=colour)
            if probe:
                axes[2].plot([r["step"] for r in probe],
                             [np.mean([r[f"probe/{c}_rank1"] for c in CONDITIONS]) for r in probe],
                             marker="o", label=label, lw=1, color=colour)
    if not drawn:
        plt.close(fig)
        return False
    axes[0].set_title("BYOL loss")
    axes[1].set_title("collapse monitor: projection std")
    axes[1].axhline(1 / np.sqrt(WIDTH), color="grey", ls="--", lw=0.8)
    axes[2].set_title("validation probe: rank-1, NM/BG/CL mean")
    for ax in axes:
        ax.set_xlabel("pretraining step")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
