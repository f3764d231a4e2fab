"""The reproduction study's rows at a declared CPU-sized scale; `tools/reproduce.py` runs them all.

    python3 -m selfgait_jax.main --config=configs/study.py:ROW,SEED[,val] --workdir=DIR

ROW is one of the study's rows and SEED (default 0) the run seed; the rows, their seeds and the
scale are declared in `selfgait_jax/study/rows.py` (docs/reproduction.md explains the scale). A
ROW,SEED,val variant fine-tunes on the training subjects minus `rows.VALIDATION_SUBJECTS` and
evaluates on those: how the fine-tuning steps and learning rate were chosen, never on test subjects.
"""

from selfgait_jax.study import rows


def _parse(arg):
    parts = [p.strip() for p in (arg or "").split(",") if p.strip()]
    if not parts or parts[0] not in rows.ROWS:
        raise ValueError(f"configs/study.py:ROW[,SEED[,val]] needs ROW in {sorted(rows.ROWS)}, got {arg!r}")
    row = parts[0]
    seed = int(parts[1]) if len(parts) > 1 else 0
    validation = len(parts) > 2 and parts[2] == "val"
    if len(parts) > 2 and not validation:
        raise ValueError(f"configs/study.py: the third field may only be 'val', got {parts[2]!r}")
    return row, seed, validation


def get_config(arg=None):
    return rows.study_config(*_parse(arg))
