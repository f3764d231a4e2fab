"""A workdir's checkpoints as written by training, read back for inference.

Layout: ``workdir/checkpoints/<step>/{state,data,config}``. orbax writes each step to a temporary
directory and renames it when complete, and only lists finalized steps, so a checkpoint cut short
by a crash or SIGKILL is never restored. ``data`` holds ``{"next_batch": n}``: the pipelines are
stateless in the batch number, so that is the whole data position.

This module sits below ``train`` and ``evaluation`` (it imports only ``models``, ``data``,
``config_defaults``, ``sharding`` and orbax): training writes through ``Checkpoints``; evaluation, export and
``init_from`` read the embedding network's variables back with ``load_for_inference``, which
restores the checkpoint's state tree from its own metadata, so it needs no optimiser and no rebuilt
experiment.
"""

import hashlib
import json
import logging
import os

import jax
import ml_collections
import orbax.checkpoint as ocp

from selfgait_jax import config_defaults, sharding
from selfgait_jax.data.sequence import FRAME_SHAPE
from selfgait_jax.models import contract, registry


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def chain_stages(workdir: str) -> list[str]:
    """The stage folders (``workdir/pretrain``, ``workdir/finetune``, ...) holding checkpoints when
    ``workdir`` is a chain's root, which has none of its own; [] otherwise."""
    if not os.path.isdir(workdir) or os.path.isdir(checkpoint_dir(workdir)):
        return []
    return sorted(os.path.join(workdir, name) for name in os.listdir(workdir)
                  if os.path.isdir(checkpoint_dir(os.path.join(workdir, name))))


class _NoReadOnlyWarning(logging.Filter):
    """Drops orbax's "Given directory is read only" warning: reading a checkpoint without writing
    is what inference asks for, not something to warn its users about."""

    def filter(self, record):
        return not str(record.msg).startswith("Given directory is read only")


_READ_ONLY_FILTER = _NoReadOnlyWarning()


def config_to_json(config: ml_collections.ConfigDict) -> dict:
    """A JSON-safe plain dict of the config (tuples become lists)."""
    return json.loads(config.to_json())


def config_sha256(config) -> str:
    """sha256 of a training config's canonical JSON (sorted keys; ``config`` a ConfigDict or that
    JSON): which recipe a checkpoint, a table or an exported file came from."""
    data = config if isinstance(config, dict) else config_to_json(config)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def config_from_json(data: dict) -> ml_collections.ConfigDict:
    """Inverse of ``config_to_json``: lists become tuples again (model widths, boundaries)."""

    def fix(value):
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return tuple(fix(v) for v in value)
        return value

    return ml_collections.ConfigDict(fix(data))


class Checkpoints:
    """A workdir's orbax ``CheckpointManager``, keeping the latest ``keep`` steps."""

    def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
        self.directory = checkpoint_dir(workdir)
        if read_only:  # orbax logs through absl's logger; adding the same filter twice is a no-op
            logging.getLogger("absl").addFilter(_READ_ONLY_FILTER)
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(n=keep),
            create=not read_only,
            read_only=read_only,
            save_interval_steps=0 if read_only else 1,
            enable_async_checkpointing=not read_only)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self):
        """The latest finalized step, or None."""
        return self._manager.latest_step()

    def all_steps(self):
        return list(self._manager.all_steps())

    def save(self, step: int, state, next_batch: int, config: ml_collections.ConfigDict):
        """Starts an asynchronous save (device arrays are copied before this returns)."""
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave({"next_batch": int(next_batch)}),
            config=ocp.args.JsonSave(config_to_json(config))))

    def restore_stored_config(self, step: int) -> dict:
        """The config's JSON exactly as the run stored it: its ``config_sha256`` is the run's config
        identity, the same whatever keys were declared after the run."""
        restored = self._manager.restore(
            step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        return restored["config"]

    def restore_config(self, step: int) -> ml_collections.ConfigDict:
        """The config the checkpoint stored, with the keys declared since filled with their defaults
        (``config_defaults.with_defaults``): read every key of it plainly."""
        return config_defaults.with_defaults(config_from_json(self.restore_stored_config(step)))

    def restore(self, step: int, abstract_state):
        """Restores ``(state, next_batch)`` into the shapes/dtypes/shardings of ``abstract_state``."""
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            data=ocp.args.JsonRestore()))
        return restored["state"], int(restored["data"]["next_batch"])

    def restore_state(self, step: int) -> dict:
        """The state of ``step`` as a plain dict of arrays (``params``, ``batch_stats``, ...), in
        the shapes and dtypes its checkpoint records, replicated on one device."""
        metadata = ocp.StandardCheckpointer().metadata(
            os.path.join(self.directory, str(step), "state"))
        tree = getattr(metadata, "item_metadata", metadata)
        tree = getattr(tree, "tree", tree)
        on_one_device = sharding.replicated(sharding.data_mesh(jax.devices()[:1]))
        abstract = jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype, sharding=on_one_device), tree)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        return restored["state"]

    def wait_until_finished(self):
        self._manager.wait_until_finished()

    def close(self):
        self._manager.close()


def init_embed_variables(embed_model) -> dict:
    """The embedding network's variables, initialised on dummy inputs (use under ``jax.eval_shape``
    for their names and shapes)."""
    frames, mask = contract.dummy_inputs(4, FRAME_SHAPE)
    return embed_model.init(jax.random.PRNGKey(0), frames, mask, train=False)


def load_for_inference(workdir: str, step=None):
    """Returns ``(config, embed_model, variables, step)`` from a workdir's checkpoint.

    Works for triplet-trained workdirs and for pretraining workdirs, whose embedding network's
    parameters are the subset of the online parameters under the embedding network's keys. The
    state is restored into the shapes and dtypes its checkpoint records (orbax's metadata), on one
    device.
    """
    ckpts = Checkpoints(workdir, read_only=True)
    try:
        if step is None:
            step = ckpts.latest_step()
            if step is None:
                stages = chain_stages(workdir)
                if stages:
                    raise FileNotFoundError(f"{workdir} is a chain; use one of its stages: "
                                            f"{', '.join(stages)}")
                raise FileNotFoundError(f"no finalized checkpoint in {ckpts.directory}")
        elif step not in ckpts.all_steps():
            raise FileNotFoundError(
                f"no finalized checkpoint for step {step} in {ckpts.directory} "
                f"(available: {ckpts.all_steps()})")
        config = ckpts.restore_config(step)
        state = ckpts.restore_state(step)
    finally:
        ckpts.close()
    embed_model = registry.build_embed_model(config.model)
    variables = embed_subset(embed_model, state["params"], state["batch_stats"])
    return config, embed_model, variables, int(step)


def stored_config(workdir: str, step: int) -> dict:
    """The JSON config that checkpoint ``step`` of ``workdir`` stored (``Checkpoints.restore_stored_config``)."""
    ckpts = Checkpoints(workdir, read_only=True)
    try:
        return ckpts.restore_stored_config(step)
    finally:
        ckpts.close()


def embed_subset(embed_model, params, batch_stats) -> dict:
    """The embedding network's variables, taken by name from a (possibly larger) trained network."""
    wanted = jax.eval_shape(lambda: init_embed_variables(embed_model))
    out = {}
    for collection, source in (("params", params), ("batch_stats", batch_stats)):
        if collection in wanted:
            out[collection] = copy_by_name(wanted[collection], source, collection)
    return out


def copy_by_name(wanted, source, prefix: str = "params"):
    """Take every leaf of ``wanted`` (an abstract tree) from ``source`` by its path.

    A leaf missing from ``source`` or of another shape raises a ValueError naming its path.
    """

    def take(path, leaf):
        name = prefix + "/" + "/".join(str(getattr(k, "key", k)) for k in path)
        node = source
        for k in path:
            key = getattr(k, "key", k)
            if not hasattr(node, "keys") or key not in node:
                raise ValueError(f"pretrained checkpoint has no parameter {name}")
            node = node[key]
        if tuple(node.shape) != tuple(leaf.shape):
            raise ValueError(f"parameter {name} has shape {tuple(node.shape)} in the pretrained "
                             f"checkpoint but {tuple(leaf.shape)} in the model being trained")
        return node

    return jax.tree_util.tree_map_with_path(take, wanted)
