"""Train SelfGait: one stage, or a chain of stages (pretrain, then fine-tune), from a config file.

    python3 -m selfgait_jax.main --config=FILE[:ARG] [--config.KEY=VALUE ...] [--workdir=DIR]

--config=FILE[:ARG]   a Python file whose get_config(ARG) returns the run's settings; ARG is the
                      size, "tiny" (seconds on a CPU) or "full" (the default), e.g.
                      configs/pretrain.py:tiny
--config.KEY=VALUE    overrides one setting of that config; KEY is a dotted path into it
                      (total_steps, optimizer.lr, byol.batch_size, ...). In a chain config (one
                      that lists stages: quickstart.py, sg2/4/6.py, ablation_*.py, sg2_ou_mvlp.py)
                      every training setting belongs to a stage, so KEY starts with the stage's
                      name: finetune.total_steps, pretrain.optimizer.lr. The key must exist: a typo
                      stops the run with a suggestion. Strings need no quotes; tuples are written
                      as (1,2).
--workdir=DIR         checkpoints, metrics and TensorBoard files (default: workdir/<config name>,
                      with _tiny for :tiny); an interrupted run resumes from DIR's latest checkpoint.

Examples (a tiny pretraining run of 20 steps with a smaller learning rate; the quickstart chain
with a longer fine-tuning stage):

    python3 -m selfgait_jax.main --config=configs/pretrain.py:tiny --config.total_steps=20 \\
        --config.optimizer.lr=1e-4 --workdir=runs/pt_tiny
    python3 -m selfgait_jax.main --config=configs/quickstart.py --config.finetune.total_steps=600

Every setting is checked before any data is generated, anything is compiled or TensorFlow (the
input pipeline) is loaded; a bad one is one line naming its key. FILE may lie in any folder: the
files under configs/ import their shared defaults from the package
(``selfgait_jax.config_defaults``). On several hosts the same command joins the job
(jax.distributed). absl's own flags (logging, ...): --helpfull.
"""

import difflib
import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

import selfgait_jax
from selfgait_jax.errors import ConfigError, WorkdirInUseError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Required. Training config file FILE[:ARG], e.g. configs/pretrain.py or "
    "configs/pretrain.py:tiny; override one of its settings with --config.KEY=VALUE "
    "(e.g. --config.total_steps=20, --config.optimizer.lr=1e-4; in a chain config the stage comes "
    "first: --config.finetune.total_steps=20).",
    lock_config=True)
flags.FLAGS["config"].default_as_str = None  # required: ml_collections would show "(default: 'None')"
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and TensorBoard files go "
    "(default: workdir/<config file name>, workdir/<name>_tiny for FILE:tiny).")
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
    ``path`` that ``config`` lacks, or None when every key exists. On a chain config, a training
    setting given without its stage suggests the stage-prefixed keys (``finetune.total_steps``)."""
    message = _missing_key_message(config, path)
    first = path.split(".")[0].partition("[")[0]
    stages = _stage_names(config)
    if message is None or not stages or first in config:
        return message
    suggestions = [f"{stage}.{fixed}" for stage in stages
                   if (fixed := _closest_path(config[stage], path)) is not None]
    if not suggestions:
        return message
    return (f"config has no key {first!r}: a chain's training settings belong to its stages "
            f"({', '.join(stages)}), as --config.STAGE.KEY; did you mean {' or '.join(suggestions)}?")


def _stage_names(config) -> list[str]:
    """The stages of a chain config (``config.stages``), [] for a single training config."""
    names = config.get("stages", "") if hasattr(config, "get") else ""
    if not isinstance(names, str):
        return []
    return [n.strip() for n in names.split(",") if n.strip() in config]


def _missing_key_message(config, path: str) -> str | None:
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


def _closest_path(config, path: str) -> str | None:
    """``path`` with each key that ``config`` lacks replaced by its closest key, or None when one
    has none (``optimizer.lrr`` -> ``optimizer.lr``)."""
    node, fixed = config, []
    for part in path.split("."):
        key, bracket, index = part.partition("[")
        keys = [str(k) for k in node.keys()] if hasattr(node, "keys") else []
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            if not close:
                return None
            key = close[0]
        fixed.append(key + bracket + index)
        node = node[key]
    return ".".join(fixed)


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
    """One line for a flags error; None when it wraps a real bug's traceback (keep it in full).

    absl wraps what parsing a flag raised; for the config file, ml_collections wraps what
    ``get_config`` raised first. A ValueError at the bottom is a bad value (an override that does
    not parse, the config file's own check of its size); anything else is a bug in the file."""
    head = str(error).splitlines()[0] if str(error) else repr(error)  # "flag --config=FILE: ..."
    cause = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    if cause is error:  # absl's own: an unknown flag, a missing value
        return head
    if isinstance(cause, ValueError):
        return f"{head.partition(': ')[0]}: {cause}"
    return None


def _fail(message: str, flag_help: bool = False):
    """Exits with one line on stderr (``flag_help``: it points to --help, for a command-line mistake)."""
    hint = " (see python3 -m selfgait_jax.main --help)"
    print(f"error: {message}{hint if flag_help else ''}", file=sys.stderr)
    sys.exit(1)


HELP_FLAGS = ("help", "helpshort", "h", "?")  # --helpfull keeps absl's list of every flag


def parse_flags(argv):
    """absl's flag parsing, with config mistakes as one line each instead of a traceback. --help
    prints this module's doc, which lists the program's flags once (absl would repeat them under
    the file's path)."""
    asked = {arg.lstrip("-").partition("=")[0] for arg in argv[1:] if arg.startswith("-")}
    if asked & set(HELP_FLAGS):
        print(__doc__.strip())
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except SystemExit as exit_:  # absl's --helpfull prints every flag, then exits 1: asking is no error
        if exit_.code == 1 and "helpfull" in asked:
            sys.exit(0)
        raise
    except flags.Error as error:
        message = _short_flag_error(error)
        if message is None:
            print(f"FATAL Flags parsing error: {error}", file=sys.stderr)
            sys.exit(1)
        _fail(message, flag_help=True)
    except (KeyError, AttributeError) as error:  # ml_collections: an override of a missing key
        if not _override_paths(argv):
            raise
        _fail(_unknown_override(argv, error), flag_help=True)
    except OSError as error:  # ml_collections: the config file could not be read
        _fail(_last_exception_line(str(error)), flag_help=True)


def train(config, workdir: str):
    """``train.loop.run`` with the evaluation wired in (main is the one place that knows both). A
    setting that cannot work (``ConfigError``) or a workdir another run holds exits with one line."""
    # Neither imports TensorFlow: it loads with the input pipeline's tf.data back end
    # (selfgait_jax.data.tf_input, which hides the GPUs from it; without TensorFlow the numpy back
    # end runs), after loop.run has checked every setting, so a config error is reported before
    # TensorFlow prints anything.
    from selfgait_jax.evaluation import api as evaluation  # pylint: disable=g-import-not-at-top
    from selfgait_jax.train import loop  # pylint: disable=g-import-not-at-top

    try:
        return loop.run(config, workdir, evaluation)
    except ConfigError as error:  # names its key
        _fail(str(error))
    except WorkdirInUseError as error:  # another run writes there: say who, nothing else
        _fail(str(error))


def band_line(config, results) -> str | None:
    """A config that states where its table should land (``expected_rank1``: the quickstart's
    measured band; ``expected_from``: what measured it) ends its run with one line saying whether
    the evaluated table did (``evaluation.band``); None without a band or an evaluation."""
    if "expected_rank1" not in config or not (results or {}).get("evaluation"):
        return None
    from selfgait_jax.evaluation import band  # pylint: disable=g-import-not-at-top

    return band.verdict(results["evaluation"], config.expected_rank1.to_dict(), config.expected_from)


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
        _fail(_last_exception_line(str(error)), flag_help=True)
    try:  # one command for one host or many: on a single host there is no cluster to join
        jax.distributed.initialize()
    except (ValueError, RuntimeError) as e:
        logging.info("single-process run (jax.distributed.initialize: %s)", e)
    workdir = _WORKDIR.value or default_workdir(
        config_flags.get_config_filename(flags.FLAGS["config"]), size)
    logging.info("JAX process %d/%d, %d devices; workdir %s", jax.process_index(),
                 jax.process_count(), jax.device_count(), workdir)
    line = band_line(config, train(config, workdir))
    if line and jax.process_index() == 0:
        print(line)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
