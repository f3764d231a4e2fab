"""Turning results.json dictionaries into the paper's tables (Markdown, CSV, console) and heatmaps.

Formatting only: every number here was computed by `ranking.py`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

import numpy as np

from selfgait_jax.data.splits import CASIA_B_CONDITIONS

# The paper's published means (rank-1 %, excluding identical views), on the real datasets: Tables 1
# and 2, and Table 3's ablations. Table 3 gives SG-6 as 93.2 / 89.7 / 81.5 where Table 1 gives
# 93.5 / 90.1 / 81.3; we quote Table 1. (The reproduction study's report reads its rows from here.)
PUBLISHED = (
    ("GaitSet", "CASIA-B", {"NM": 95.0, "BG": 87.2, "CL": 70.4}),
    ("GaitPart", "CASIA-B", {"NM": 96.2, "BG": 91.5, "CL": 78.7}),
    ("SG-2", "CASIA-B", {"NM": 89.1, "BG": 81.3, "CL": 72.2}),
    ("SG-4", "CASIA-B", {"NM": 92.6, "BG": 86.4, "CL": 79.0}),
    ("SG-6", "CASIA-B", {"NM": 93.5, "BG": 90.1, "CL": 81.3}),
    ("SG-6 w/o PT", "CASIA-B", {"NM": 85.5, "BG": 79.8, "CL": 73.6}),
    ("SG-6 w/o HPM", "CASIA-B", {"NM": 73.3, "BG": 63.8, "CL": 52.7}),
    ("SG-6 w/o MTB", "CASIA-B", {"NM": 81.6, "BG": 68.4, "CL": 52.7}),
    ("GaitSet", "OU-MVLP", {"NM": 87.1}),
    ("GaitPart", "OU-MVLP", {"NM": 88.7}),
    ("SG-2", "OU-MVLP", {"NM": 89.9}),
)
PUBLISHED_NOTE = (
    "Rows marked 'published' are the paper's figures on the real CASIA-B / OU-MVLP datasets; they are "
    "not comparable with numbers measured on SynthGait or on any other data."
)
CONDITION_ORDER = CASIA_B_CONDITIONS


def fmt(x: float | None, digits: int = 1) -> str:
    """A percentage for a table cell; '-' for a missing value (identical view, no probes)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _csv(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def results_markdown(results: dict) -> str:
    """Table 1 / Table 2 layout: a row per probe condition, probe views as columns, then the mean."""
    views = results["views"]
    title = (
        f"{results['dataset']}: rank-1 accuracy (%) excluding identical views, "
        f"metric {results['metric']}"
    )
    rank1 = [
        [cond] + [fmt(v) for v in c["rank1_per_probe_view"]] + [fmt(c["mean"])]
        for cond, c in results["conditions"].items()
    ]
    summary = [
        [cond, fmt(c["mean"]), fmt(c["rank5_mean"]), fmt(c["mAP"]), str(c.get("num_probes", "")),
         str(c.get("probes_without_gallery", ""))]
        for cond, c in results["conditions"].items()
    ]
    checkpoint = results.get("checkpoint", {})
    parts = [
        f"## {title}",
        _markdown(["Probe"] + list(views) + ["Mean"], rank1),
        _markdown(
            ["Condition", "Rank-1", "Rank-5", "mAP", "Probes", "Probe-view pairs without gallery"],
            summary,
        ),
        f"{results['num_probes']} probe and {results['num_gallery']} gallery sequences; "
        f"checkpoint step {checkpoint.get('step', '?')}.",
    ]
    if "protocol" in results:
        parts.append(protocol_markdown(results))
    if open_set_markdown(results):
        parts.append(open_set_markdown(results).strip())
    return "\n\n".join(parts) + "\n"


def open_set_markdown(results: dict) -> str:
    """The "Open set" section: the distance threshold at the chosen false-accept rate and its rates."""
    o = results.get("open_set")
    if not o or o.get("threshold") is None:
        return ""
    ident = o["identification"]
    return (
        "\n### Open set\n\n"
        f"Threshold **{o['threshold']:.6g}** ({o['metric']} distance): a walker whose nearest identity is "
        f"farther is answered \"unknown\". At it, {100 * o['far']:.2f} % of impostor comparisons are "
        f"accepted (target {100 * o['target_far']:.2f} %) and {100 * o['tar']:.1f} % of genuine ones; "
        f"EER {100 * o['eer']:.1f} %. On this gallery ({ident['gallery_identities']} identities): "
        f"{100 * ident['detect_and_identify']:.1f} % of probes are identified within the threshold, and "
        f"{100 * ident['false_alarm']:.1f} % of probes taken as strangers (their own identity left out) "
        f"are accepted as someone. {o['probes']} probes, {o['genuine']} genuine and {o['impostor']} "
        f"impostor distances; ROC/DET: `{o['plot']}`.\n"
    )


def _subjects(entry: dict) -> str:
    return f"{entry['count']} (sha256 of the sorted ids {entry['sha256'][:16]}…)"


def protocol_markdown(results: dict) -> str:
    """The protocol section of results.md: everything needed to say which table this is."""
    p = results["protocol"]
    checkpoint = results.get("checkpoint", {})
    missing = p["probes_without_gallery"]
    dropped = sum(missing["per_condition"].values())
    split = p["split"]
    if p.get("partition"):
        part = p["partition"]
        split += (f" `{part['path']}` (sha256 {part['sha256'][:16]}…; {part['unassigned_subjects']} "
                  f"subjects of the data in neither set)")
    lines = [
        "### Protocol",
        f"- dataset: {results['dataset']}, protocol {p['name']}; split: {split}",
        f"- train subjects: {_subjects(p['train_subjects'])}; test subjects: {_subjects(p['test_subjects'])}",
        f"- gallery: {', '.join(p['gallery_types'])}; probes: "
        + "; ".join(f"{c} = {', '.join(t)}" for c, t in p["probe_types"].items()),
        f"- views ({len(p['views'])}): {', '.join(p['views'])}",
        f"- identical views {p['identical_views']}",
        f"- metric: {p['metric']}",
        f"- frames used per sequence: {p['frames_used']}",
        f"- (probe, gallery view) pairs whose subject has no gallery sequence at that view: {dropped} "
        f"({', '.join(f'{c} {n}' for c, n in missing['per_condition'].items())}), {missing['rule']}",
        f"- checkpoint step {checkpoint.get('step', '?')}, config sha256 "
        f"{str(checkpoint.get('config_sha256', '?'))[:16]}…",
    ]
    text = "\n".join(lines)
    other = results.get("with_missing_as_misses")
    if other:
        rows = [[cond, fmt(c["mean"]), fmt(c["rank5_mean"]), fmt(c["mAP"])] for cond, c in other.items()]
        text += ("\n\nWith those probes counted as misses (GaitSet's original evaluator):\n\n"
                 + _markdown(["Condition", "Rank-1", "Rank-5", "mAP"], rows))
    return text


def results_csv(results: dict) -> str:
    """The same layout as results_markdown's first table, full precision, plus rank-5 and mAP means."""
    header = ["condition"] + list(results["views"]) + ["mean", "rank5_mean", "mAP"]
    rows = [
        [cond] + ["" if v is None else v for v in c["rank1_per_probe_view"]]
        + ["" if c[k] is None else c[k] for k in ("mean", "rank5_mean", "mAP")]
        for cond, c in results["conditions"].items()
    ]
    return _csv(header, rows)


def write_heatmap(condition: dict, views: Sequence[str], title: str, path) -> None:
    """The probe view × gallery view rank-1 matrix as an annotated picture (blank: identical view)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.array([[np.nan if v is None else v for v in row] for row in condition["matrix"]])
    size = max(3.0, 1.0 + 0.55 * len(views))
    fig = Figure(figsize=(size + 1.5, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(matrix), vmin=0.0, vmax=100.0, cmap="viridis")
    ax.set_xticks(range(len(views)), labels=list(views), rotation=90)
    ax.set_yticks(range(len(views)), labels=list(views))
    ax.set_xlabel("gallery view")
    ax.set_ylabel("probe view")
    ax.set_title(title, fontsize=10)
    for i in range(len(views)):
        for j in range(len(views)):
            if np.isfinite(matrix[i, j]):
                colour = "black" if matrix[i, j] > 60 else "white"
                ax.text(j, i, f"{matrix[i, j]:.0f}", ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, label="rank-1 %")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def comparison_rows(runs: Sequence[tuple[str, dict]], paper: bool = False) -> tuple[list[str], list[list]]:
    """Header and rows of the method comparison: a row per run (condition means), then the paper's."""
    present = {c for _, r in runs for c in r["conditions"]} | (set(CONDITION_ORDER) if paper else set())
    conditions = [c for c in CONDITION_ORDER if c in present] + sorted(present - set(CONDITION_ORDER))
    header = ["Method", "Dataset", "Source"] + conditions + ["Rank-5 (mean)", "mAP (mean)"]
    rows = []
    for name, r in runs:
        conds = r["conditions"]
        rank5 = [conds[c]["rank5_mean"] for c in conds if conds[c]["rank5_mean"] is not None]
        m_ap = [conds[c]["mAP"] for c in conds if conds[c]["mAP"] is not None]
        rows.append(
            [name, r["dataset"], "measured"]
            + [conds[c]["mean"] if c in conds else None for c in conditions]
            + [float(np.mean(rank5)) if rank5 else None, float(np.mean(m_ap)) if m_ap else None]
        )
    if paper:
        for name, dataset, means in PUBLISHED:
            rows.append([name, dataset, "published"] + [means.get(c) for c in conditions] + [None, None])
    return header, rows


def comparison_markdown(runs: Sequence[tuple[str, dict]], paper: bool = False) -> str:
    header, rows = comparison_rows(runs, paper)
    cells = [[str(v) if isinstance(v, str) else fmt(v) for v in row] for row in rows]
    text = "Rank-1 accuracy (%) excluding identical views, mean over probe views.\n\n"
    text += _markdown(header, cells) + "\n"
    if paper:
        text += "\n" + PUBLISHED_NOTE + "\n"
    return text


def comparison_csv(runs: Sequence[tuple[str, dict]], paper: bool = False) -> str:
    header, rows = comparison_rows(runs, paper)
    return _csv(header, [["" if v is None else v for v in row] for row in rows])
