"""Train SelfGait: one stage, or a chain of stages (pretrain, then fine-tune), from a config file.

    python -m selfgait_jax.main --config=FILE[:ARG] [--config.KEY=VALUE ...] [--workdir=DIR]

--config=FILE[:ARG]   a Python file whose get_config(ARG) returns the run's settings; ARG is the
                      size, "tiny" (seconds on a CPU) or "full" (the default), e.g.
                      configs/pretrain.py:tiny
--config.KEY=VALUE    overrides one setting of that config; KEY is a dotted path into it
                      (total_steps, optimizer.lr, byol.batch_size, ...). The key must exist: a typo
                      stops the run with a suggestion. Strings need no quotes; tuples are written
                      as (1,2).
--workdir=DIR         checkpoints, metrics and TensorBoard files (default: workdir/<config name>);
                      an interrupted run resumes from DIR's latest checkpoint.

Example (a tiny pretraining run of 20 steps with a smaller learning rate):

    python -m selfgait_jax.main --config=configs/pretrain.py:tiny --config.total_steps=20 \\
        --config.optimizer.lr=1e-4 --workdir=/tmp/pt

Every setting is checked before any data is generated or anything is compiled; a bad one is one
line naming its key. FILE may lie in any folder: the files under configs/ import their shared
defaults from the package (``selfgait_jax.config_defaults``). On several hosts the same command joins
the job (jax.distributed).
"""

import difflib
import logging as std_logging
import os
import sys
import traceback

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

import selfgait_jax

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Training config file FILE[:ARG], e.g. configs/pretrain.py or "
    "configs/pretrain.py:tiny; override one of its settings with --config.KEY=VALUE "
    "(e.g. --config.total_steps=20, --config.optimizer.lr=1e-4).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and TensorBoard files go "
    "(default: workdir/<config file name>).")
flags.mark_flags_as_required(["config"])


def default_workdir(config_path: str, size: str = "full") -> str:
    """``workdir/<config file name>``, with ``_<size>`` unless full (``workdir/pretrain_tiny``)."""
    name = os.path.splitext(os.path.basename(config_path.partition(":")[0]))[0]
    return os.path.join("workdir", name if size in ("", "full") else f"{name}_{size}")


def _config_argument(argv) -> str | None:
    """The FILE[:ARG] of ``--config=FILE[:ARG]`` or ``--config FILE[:ARG]`` in ``argv``."""
    for i, arg in enumerate(argv):
        for prefix in ("--config=", "-config="):
            if arg.startswith(prefix):
                return arg[len(prefix):]
        if arg in ("--config", "-config") and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _override_paths(argv) -> list[str]:
    """The dotted KEYs of every ``--config.KEY[=VALUE]`` in ``argv``."""
    paths = []
    for arg in argv:
        name = arg.lstrip("-").partition("=")[0]
        if arg.startswith("-") and name.startswith("config."):
            paths.append(name[len("config."):])
        elif arg.startswith("-") and name.startswith("noconfig."):  # --noconfig.flag (booleans)
            paths.append(name[len("noconfig."):])
    return paths


def unknown_key_message(config, path: str) -> str | None:
    """``"config.optimizer has no key 'lrr'; did you mean lr?"`` for the first key of the dotted
    ``path`` that ``config`` lacks, or None when every key exists."""
    node, where = config, "config"
    for key in path.split("."):
        key = key.partition("[")[0]  # an index (key[0]) refers to the key itself
        keys = list(node.keys()) if hasattr(node, "keys") else None
        if keys is None:
            return f"{where} is a {type(node).__name__}, it has no key {key!r}"
        if key not in keys:
            close = difflib.get_close_matches(key, [str(k) for k in keys], n=3)
            hint = (f"did you mean {' or '.join(close)}?" if close
                    else f"its keys are {', '.join(sorted(str(k) for k in keys))}")
            return f"{where} has no key {key!r}; {hint}"
        node, where = node[key], f"{where}.{key}"
    return None


def _unknown_override(argv, error: Exception) -> str:
    """One line naming the ``--config.KEY`` that does not exist, with the closest keys."""
    argument = _config_argument(argv)
    try:
        config = flags.FLAGS["config"].parser.parse(argument)
    except Exception:  # pylint: disable=broad-except  # the config itself fails: ml_collections' text
        config = None
    for path in _override_paths(argv) if config is not None else ():
        message = unknown_key_message(config, path)
        if message:
            return f"--config.{path}: {message}"
    return str(error).strip("'\"").replace("\\n", " ").replace("\n", " ")


def _last_exception_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _short_flag_error(error: flags.Error) -> str | None:
    """One line for a flags error; None when it wraps a real bug's traceback (keep it in full)."""
    text = str(error)
    if "Traceback (most recent call last)" not in text:
        return text.splitlines()[0] if text else repr(error)
    head = text.splitlines()[0].removesuffix("Error whilst parsing config file:").rstrip(": ")
    last = _last_exception_line(text)
    if last.startswith("ValueError: "):  # get_config's own check, e.g. an unknown size
        return f"{head}: {last.removeprefix('ValueError: ')}"
    return None


def _fail(message: str):
    print(f"error: {message}\n(python -m selfgait_jax.main --help explains --config and "
          f"--config.KEY=VALUE)", file=sys.stderr)
    sys.exit(1)


def parse_flags(argv):
    """absl's flag parsing, with config mistakes as one line each instead of a traceback."""
    try:
        return flags.FLAGS(argv)
    except SystemExit as exit_:  # absl's --help prints the usage, then exits 1: asking is no error
        asked = {arg.lstrip("-").partition("=")[0] for arg in argv[1:] if arg.startswith("-")}
        if exit_.code == 1 and asked & {"help", "helpshort", "helpfull", "?"}:
            sys.exit(0)
        raise
    except flags.Error as error:
        message = _short_flag_error(error)
        if message is None:
            print(f"FATAL Flags parsing error: {error}", file=sys.stderr)
            sys.exit(1)
        _fail(message)
    except (KeyError, AttributeError) as error:  # ml_collections: an override of a missing key
        if not _override_paths(argv):
            raise
        _fail(_unknown_override(argv, error))
    except OSError as error:  # ml_collections: the config file could not be read
        _fail(_last_exception_line(str(error)) if "config" in str(error) else str(error))


def _is_config_error(error: ValueError) -> bool:
    """A ValueError of the config checks (train/validate.py) or a later one that names its key
    (``config.<key>: ...``, e.g. the pretext pipeline's byol.min_online_frames)."""
    frames = traceback.extract_tb(error.__traceback__)
    raised_in_validate = bool(frames) and frames[-1].filename.endswith(
        os.path.join("train", "validate.py"))
    return raised_in_validate or str(error).startswith("config.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    selfgait_jax.configure_jax()
    # Our progress lines at INFO; the libraries' (orbax logs every file it writes) at WARNING.
    logging.set_verbosity(logging.WARNING)
    std_logging.getLogger("selfgait_jax").setLevel(std_logging.INFO)
    try:
        config = _CONFIG.value
        size = config.get("size", "")
    except OSError as error:  # the config file does not exist or cannot be read
        _fail(_last_exception_line(str(error)))
    try:  # one command for one host or many: on a single host there is no cluster to join
        jax.distributed.initialize()
    except (ValueError, RuntimeError) as e:
        logging.info("single-process run (jax.distributed.initialize: %s)", e)
    try:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        tf.config.set_visible_devices([], "GPU")
    except ImportError:
        pass
    from selfgait_jax.evaluation import api as evaluation  # pylint: disable=g-import-not-at-top
    from selfgait_jax.train import loop  # pylint: disable=g-import-not-at-top

    workdir = _WORKDIR.value or default_workdir(
        config_flags.get_config_filename(flags.FLAGS["config"]), size)
    logging.info("JAX process %d/%d, %d devices; workdir %s", jax.process_index(),
                 jax.process_count(), jax.device_count(), workdir)
    from selfgait_jax.train.checkpointing import WorkdirInUseError  # pylint: disable=g-import-not-at-top

    try:
        loop.run(config, workdir, evaluation)  # main wires evaluation into training
    except WorkdirInUseError as error:  # another run writes there: say who, nothing else
        _fail(str(error))
    except ValueError as error:
        if not _is_config_error(error):
            raise
        _fail(str(error))


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
