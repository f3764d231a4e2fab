"""Entry point: ``python -m selfgait_jax.main --config=configs/pretrain.py --workdir=DIR``.

Parses flags, joins a multi-host job when there is one, hides GPUs from TensorFlow (it only feeds
the input pipeline) and hands off to ``selfgait_jax.train.loop.run``. Run it from the repository
root: the configs import their shared defaults as ``configs.base``.
"""

import logging as std_logging
import os

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Training config file, e.g. configs/pretrain.py or configs/pretrain.py:tiny.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and TensorBoard files go "
    "(default: workdir/<config file name>).")
flags.mark_flags_as_required(["config"])


def default_workdir(config_path: str, size: str = "full") -> str:
    """``workdir/<config file name>``, with ``_<size>`` unless full (``workdir/pretrain_tiny``)."""
    name = os.path.splitext(os.path.basename(config_path.partition(":")[0]))[0]
    return os.path.join("workdir", name if size in ("", "full") else f"{name}_{size}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    # Our progress lines at INFO; the libraries' (orbax logs every file it writes) at WARNING.
    logging.set_verbosity(logging.WARNING)
    std_logging.getLogger("selfgait_jax").setLevel(std_logging.INFO)
    try:  # one command for one host or many: on a single host there is no cluster to join
        jax.distributed.initialize()
    except (ValueError, RuntimeError) as e:
        logging.info("single-process run (jax.distributed.initialize: %s)", e)
    try:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        tf.config.set_visible_devices([], "GPU")
    except ImportError:
        pass
    from selfgait_jax.train import loop  # pylint: disable=g-import-not-at-top

    config = _CONFIG.value
    workdir = _WORKDIR.value or default_workdir(
        config_flags.get_config_filename(flags.FLAGS["config"]), config.get("size", ""))
    logging.info("JAX process %d/%d, %d devices; workdir %s", jax.process_index(),
                 jax.process_count(), jax.device_count(), workdir)
    loop.run(config, workdir)


if __name__ == "__main__":
    app.run(main)
