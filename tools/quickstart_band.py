"""Measure the quickstart's band: its table over seeds, on 1 and on 4 CPU devices.

    python3 tools/quickstart_band.py [--seeds=8] [--devices=1,4] [--out=docs/quickstart_band]
                                     [--workroot=workdir/quickstart_band] [--report]

Runs ``python3 -m selfgait_jax.main --config=configs/quickstart.py`` with
``--config.pretrain.seed=S --config.finetune.seed=S`` for each seed S and each device count D
(``XLA_FLAGS=--xla_force_host_platform_device_count=D``, as tests/conftest.py forces 4), one run
after another, seed by seed (1 then 4 devices), and writes each finished run's record to
``OUT/devices<D>-seed<S>.json`` as it ends: rank-1 per condition, the run's CPU time (user + sys)
and wall time, the load average when it started, and the quickstart recipe's digest. Resumable: a
run whose record exists is not run again (delete the record to rerun it); a record of another
recipe (the config changed since) stops the tool. At the end, and alone with ``--report``, it
prints the per-seed tables and the band they give (``evaluation.band.band_of``): the values to
state in configs/quickstart.py (``expected_rank1``) and the README.

Heavy: one quickstart per run (about 5 CPU-minutes each); start it with ``nice -n 10`` on a shared
machine.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from selfgait_jax.evaluation import band

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/quickstart.py"


def quickstart_config():
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "quickstart config", flag_values=flag_values,
                                    lock_config=True)
    flag_values(["quickstart_band", f"--config={ROOT / CONFIG}"])
    return flag_values.config


def record_path(out: Path, devices: int, seed: int) -> Path:
    return out / f"devices{devices}-seed{seed}.json"


def read_records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("devices*-seed*.json"))]


def run_one(devices: int, seed: int, workroot: Path) -> dict:
    """One quickstart; returns its record (without the recipe digest)."""
    workdir = workroot / f"devices{devices}-seed{seed}"
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
                         f"--xla_force_host_platform_device_count={devices}".strip())
    command = [sys.executable, "-m", "selfgait_jax.main", f"--config={CONFIG}", f"--workdir={workdir}",
               f"--config.pretrain.seed={seed}", f"--config.finetune.seed={seed}"]
    load = os.getloadavg()[0]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"devices {devices} seed {seed} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    evals = sorted((workdir / "finetune" / "eval").iterdir(), key=lambda p: int(p.name))
    results = json.loads((evals[-1] / "results.json").read_text())
    return {
        "seed": seed, "devices": devices,
        "rank1": {cond: round(c["mean"], 2) for cond, c in results["conditions"].items()},
        "step": int(evals[-1].name),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "wall_s": round(wall, 1), "load_at_start": round(load, 2), "cpu_count": os.cpu_count(),
        "last_line": done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
    }


def report(records: list[dict]) -> str:
    if not records:
        return "no records yet"
    stated = band.band_of(records)
    lines = [band.records_markdown(records),
             f"band over {len(records)} runs (measured range +- {band.MARGIN:g}, rounded outwards):",
             "    expected_rank1 = {" + ", ".join(f'"{c}": ({lo:.1f}, {hi:.1f})' for c, (lo, hi) in stated.items())
             + "}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0 .. N-1 (default: %(default)s)")
    parser.add_argument("--devices", default="1,4",
                        help="comma-separated CPU device counts to run each seed on (default: %(default)s)")
    parser.add_argument("--out", default="docs/quickstart_band",
                        help="folder of the records, one JSON file a run (default: %(default)s)")
    parser.add_argument("--workroot", default="workdir/quickstart_band",
                        help="folder of the runs' workdirs, one a run (default: %(default)s)")
    parser.add_argument("--report", action="store_true", help="print the tables and the band of the "
                        "records, run nothing")
    args = parser.parse_args(argv)
    out = ROOT / args.out if not os.path.isabs(args.out) else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        recipe = band.recipe_sha256(quickstart_config())
        stale = [r for r in read_records(out) if r["recipe_sha256"] != recipe]
        if stale:
            print(f"error: {len(stale)} record(s) in {out} measured another quickstart recipe; "
                  f"delete them to measure this one", file=sys.stderr)
            return 1
        workroot = ROOT / args.workroot if not os.path.isabs(args.workroot) else Path(args.workroot)
        for seed in range(args.seeds):
            for devices in (int(d) for d in args.devices.split(",")):
                path = record_path(out, devices, seed)
                if path.exists():
                    continue
                print(f"running seed {seed} on {devices} device(s) ...", flush=True)
                record = {**run_one(devices, seed, workroot), "recipe_sha256": recipe}
                path.write_text(json.dumps(record, indent=1) + "\n")
                print(f"  {record['rank1']}  CPU {record['cpu_s']:.0f} s, wall {record['wall_s']:.0f} s "
                      f"(load {record['load_at_start']})", flush=True)
    print(report(read_records(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
