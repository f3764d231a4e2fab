"""Prepare datasets as TFDS records, which training and evaluation then read with data.tfds_dir.

    python3 tools/prepare_tfds.py --data=synthgait_b:tiny --tfds_dir=DIR
    python3 tools/prepare_tfds.py --data=casia_b --data_root=/data/CASIA-B/silhouettes --tfds_dir=DIR
    python3 tools/prepare_tfds.py --config=configs/quickstart.py [--config.KEY=VALUE ...] --tfds_dir=DIR

--data=NAME[:SIZE] (repeatable) prepares one dataset at a size's defaults: synthgait_b, synthgait_mv
or synthgait_pool (generated), or casia_b (a raw PNG tree), ou_mvlp / opengait_pkl (an OpenGait pkl
tree) read from --data_root. --config prepares the data of every stage of a training config, with
the same --config.KEY=VALUE overrides the training command takes, so any data config can be
prepared. Each dataset lands in DIR/<name>/<config>/<version>/ (array_record files, one record per
sequence, splits "train" / "test" by the dataset's protocol); one prepared before is kept. Then
train (and evaluate) from the records, e.g.

    python3 -m selfgait_jax.main --config=configs/quickstart.py:tiny \\
        --config.pretrain.data.tfds_dir=DIR --config.finetune.data.tfds_dir=DIR
"""

from __future__ import annotations

import argparse
import sys

from absl import flags
from ml_collections import config_flags

from selfgait_jax.data import sources, tfds_builders
from selfgait_jax.data.datasets import DATASETS, NAMES
from selfgait_jax.main import unknown_key_message


def _parse_config(argv: list[str]):
    flag_values = flags.FlagValues()  # not absl's global flags: this tool's own parse
    argv = ["prepare_tfds", *argv]
    config_flags.DEFINE_config_file("config", None, "training config", flag_values=flag_values,
                                    lock_config=True, sys_argv=argv)
    flag_values(argv)
    config = flag_values.config
    try:
        config.get("stages")  # ml_collections reports a file it could not load on first use
    except OSError as error:  # its last line names the file and why
        raise ValueError(str(error).strip().splitlines()[-1].strip()) from error
    return config


def config_data(argv: list[str]) -> dict[str, object]:
    """``{flag prefix: data config}`` of the training config that ``--config=FILE[:ARG]`` and its
    ``--config.KEY=VALUE`` overrides in ``argv`` describe: ``config.data``, or each stage's. An
    override of a key the config lacks is a ValueError naming it."""
    try:
        config = _parse_config(argv)
    except (KeyError, AttributeError) as error:  # ml_collections: an override of a missing key
        config = _parse_config([a for a in argv if not a.startswith("--config.")])
        for arg in argv:
            path = arg.partition("=")[0].removeprefix("--config.")
            message = arg.startswith("--config.") and unknown_key_message(config, path)
            if message:
                raise ValueError(f"--config.{path}: {message}") from error
        raise
    if "stages" in config:
        names = [n.strip() for n in config.stages.split(",") if n.strip()]
        return {f"--config.{n}.data": config[n].data for n in names}
    return {"--config.data": config.data}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", default=[],
                        help=f"NAME or NAME:tiny, repeatable; NAME is one of {', '.join(NAMES)}")
    parser.add_argument("--data_root", default="",
                        help="the dataset folder for --data=casia_b / ou_mvlp / opengait_pkl")
    parser.add_argument("--tfds_dir", required=True,
                        help="TFDS data_dir to write (what data.tfds_dir then names)")
    args, rest = parser.parse_known_args(argv)
    config_args = [a for a in rest if a.startswith("--config")]
    if rest != config_args:
        parser.error(f"unrecognized arguments: {' '.join(a for a in rest if a not in config_args)}")
    if not args.data and not config_args:
        parser.error("name what to prepare: --data=NAME[:SIZE] or --config=FILE[:ARG]")
    try:
        todo = {}
        for spec in args.data:
            data = sources.named_data_config(spec)
            if DATASETS[data.name].needs_root and not args.data_root:
                parser.error(f"--data={spec} is read from disk: --data_root must name its folder")
            data.root = args.data_root
            todo[f"--data={spec}"] = data
        if config_args:
            todo.update(config_data(config_args))
        for what, data in todo.items():
            path = tfds_builders.prepare(data, args.tfds_dir)
            print(f"{what}: {data.name}/{sources.tfds_config_name(data)} at {path}")
    except (flags.Error, ValueError) as error:  # a bad --config or a dataset that cannot be read
        print(f"error: {error}", file=sys.stderr)
        return 1
    keys = [what for what in todo if what.startswith("--config")]
    print(f"train from them with data.tfds_dir={args.tfds_dir}"
          + (f": {' '.join(f'{k}.tfds_dir={args.tfds_dir}' for k in keys)}" if keys else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
