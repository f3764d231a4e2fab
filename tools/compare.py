"""Compare evaluation runs in one table, a row per method; optionally with the paper's published rows.

    python3 tools/compare.py OUT_A OUT_B ... [--names SelfGait,GaitSet,...] [--paper] [--csv FILE]

Each OUT is a folder written by tools/evaluate.py (or its results.json). Markdown goes to stdout, CSV
to --csv. Published rows are the paper's figures on the real datasets, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from selfgait_jax.evaluation import tables


def read_results(path) -> dict:
    """results.json of an evaluation folder (or the file itself); ValueError naming the path."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    try:
        results = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{file}: not a readable results.json ({error})") from None
    if not isinstance(results, dict) or "conditions" not in results or "dataset" not in results:
        raise ValueError(f"{file}: no 'dataset' / 'conditions' keys; not written by tools/evaluate.py")
    return results


def default_name(path, results: dict) -> str:
    """The run's name: a json file's own name, else the folder above eval/<step>, else the folder."""
    path = Path(path)
    if path.is_file() and path.stem != "results":
        return path.stem
    folder = path if path.is_dir() else path.parent
    if folder.parent.name == "eval":
        return folder.parent.parent.name or str(folder)
    return folder.name or str(folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="evaluation folders or results.json files")
    parser.add_argument("--names", default="",
                        help="comma-separated row names, one per run (default: the runs' folder names)")
    parser.add_argument("--paper", action="store_true", help="add the paper's published rows")
    parser.add_argument("--csv", default=None, help="also write the table as CSV to this file (default: none)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.names.split(",")] if args.names else []
    if names and len(names) != len(args.runs):
        print(f"error: --names has {len(names)} names for {len(args.runs)} runs", file=sys.stderr)
        return 1
    if not args.runs and not args.paper:
        print("error: give evaluation folders to compare, or --paper", file=sys.stderr)
        return 1
    try:
        loaded = [read_results(p) for p in args.runs]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    runs = [(names[i] if names else default_name(p, r), r) for i, (p, r) in enumerate(zip(args.runs, loaded))]
    print(tables.comparison_markdown(runs, paper=args.paper))
    if args.csv:
        Path(args.csv).write_text(tables.comparison_csv(runs, paper=args.paper))
    return 0


if __name__ == "__main__":
    sys.exit(main())
