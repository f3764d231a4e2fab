"""A workdir: its checkpoints as written by training, read back for inference, and its one-writer lock.

Layout: ``workdir/checkpoints/<step>/{state,data,config}``. orbax writes each step to a temporary
directory and renames it when complete, and only lists finalized steps, so a checkpoint cut short
by a crash or SIGKILL is never restored. ``data`` holds ``{"next_batch": n}``: the pipelines are
stateless in the batch number, so that is the whole data position.

One workdir, one writer: a training run holds ``WorkdirLock`` (an ``fcntl.flock`` on
``workdir/.lock``) while it runs, so a second run started on the same workdir stops with a message
naming the first instead of interleaving checkpoints. The OS releases the lock when its process
dies, so a SIGKILLed or crashed run never leaves it stuck. Readers take no lock; ``run_in_progress``
tells them a run is still writing (``checkpoint_to_read`` says which finished step they read).

This module sits below ``train`` and ``evaluation`` (it imports only ``models``, ``data``,
``config_defaults``, ``sharding``, ``errors`` and orbax): training writes through ``Checkpoints`` under
``WorkdirLock``; evaluation, export and ``init_from`` read the embedding network's variables back
with ``load_for_inference``, which restores the checkpoint's state tree from its own metadata, so it
needs no optimiser and no rebuilt experiment.
"""

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import socket
import sys
import time

import jax
import ml_collections
import orbax.checkpoint as ocp

from selfgait_jax import config_defaults, sharding
from selfgait_jax.data.sequence import FRAME_SHAPE
from selfgait_jax.errors import WorkdirInUseError
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


class WorkdirLock:
    """An exclusive, non-blocking ``fcntl.flock`` on ``workdir/.lock`` (``.lock.<i>`` for JAX
    process i > 0, so the processes of one multi-host job do not exclude each other).

    ``acquire()`` raises ``WorkdirInUseError`` naming the holder (pid, host, start time, command,
    as it wrote them into the file) when another open of the file holds the lock. The lock belongs
    to the open file, so the OS drops it when the holder exits or is killed; the file itself stays
    (removing it would race with a run that is just opening it). Use as a context manager.
    """

    def __init__(self, workdir: str, process_index: int = 0):
        self.path = lock_path(workdir, process_index)
        self._fd = None

    def acquire(self) -> "WorkdirLock":
        try:
            import fcntl  # pylint: disable=g-import-not-at-top
        except ImportError:  # not POSIX: no lock, say so once
            logging.getLogger(__name__).warning("no fcntl here: workdir %s is not locked",
                                                os.path.dirname(self.path))
            return self
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        # A reader's run_in_progress holds a shared lock for microseconds: try again before
        # concluding that a run holds it.
        for attempt in range(_LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt + 1 < _LOCK_TRIES:
                    time.sleep(0.05)
        else:
            holder = _read_holder(fd)
            os.close(fd)
            raise WorkdirInUseError(
                f"workdir {os.path.dirname(self.path)} is in use by another run ({holder}); two "
                f"runs in one workdir would interleave their checkpoints. Wait for it to finish, "
                f"stop it, or pass another --workdir. (Lock: {self.path}, released by the OS when "
                f"that process ends.)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl  # pylint: disable=g-import-not-at-top

            # Explicitly: a child forked meanwhile would otherwise keep the lock past our close.
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


_LOCK_TRIES = 5


def lock_path(workdir: str, process_index: int = 0) -> str:
    suffix = f".{process_index}" if process_index else ""
    return os.path.join(os.path.abspath(workdir), ".lock" + suffix)


def _read_holder(fd) -> str:
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode())
        return (f"pid {info['pid']} on {info['host']}, started {info['started']}: "
                f"{info.get('command') or '?'}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its name yet"


def run_in_progress(workdir: str) -> str | None:
    """The training run that holds ``workdir``'s lock now, as it described itself ("pid 12 on host,
    started ...: command"), or None. Tests the lock with a shared ``flock`` held for microseconds
    (``WorkdirLock.acquire`` tries again meanwhile), so a starting run is never turned away."""
    try:
        import fcntl  # pylint: disable=g-import-not-at-top
    except ImportError:  # not POSIX: runs take no lock either
        return None
    try:
        fd = os.open(lock_path(workdir), os.O_RDONLY)
    except OSError:  # no lock file: no run has ever trained here
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


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
        # The items each step holds, with their handlers: orbax reads an item's metadata through the
        # manager only when it knows the item's handler (item_metadata). Opening the "state" folder
        # as a checkpoint of its own (StandardCheckpointer().metadata) looks for a step-level
        # _CHECKPOINT_METADATA inside it and logs its absence on every load.
        handlers = {"state": ocp.StandardCheckpointHandler(), "data": ocp.JsonCheckpointHandler(),
                    "config": ocp.JsonCheckpointHandler()}
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

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
        """Restores ``(state, next_batch)`` into the shapes/dtypes/shardings of ``abstract_state``
        (a dataclass). A field declared after the checkpoint was written (``TrainState.queue``) is
        absent from it; if the field holds no arrays in ``abstract_state`` it is kept as it is there."""
        stored = self._state_metadata(step)
        fields = {f.name: getattr(abstract_state, f.name) for f in dataclasses.fields(abstract_state)}
        target = {name: value for name, value in fields.items()
                  if name in stored or jax.tree.leaves(value)}  # a missing field with arrays: an error
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target),
            data=ocp.args.JsonRestore()))
        return abstract_state.replace(**restored["state"]), int(restored["data"]["next_batch"])

    def _state_metadata(self, step: int) -> dict:
        """The state's tree as the checkpoint of ``step`` records it (arrays' shapes and dtypes)."""
        tree = self._manager.item_metadata(step)["state"]
        return getattr(tree, "tree", tree)

    def restore_state(self, step: int) -> dict:
        """The state of ``step`` as a plain dict of arrays (``params``, ``batch_stats``, ...), in
        the shapes and dtypes its checkpoint records, replicated on one device."""
        tree = self._state_metadata(step)
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


def checkpoint_to_read(workdir: str, step=None) -> tuple[int, str]:
    """``(step, note)``: the finalized checkpoint that inference reads in ``workdir`` (``step``, by
    default the latest), and, while a training run holds the workdir, a note saying which finished
    step that is and that the run goes on ("" otherwise).

    A FileNotFoundError says what is missing: the workdir itself, its checkpoints (a chain's root
    names its stages instead), or the step asked for.
    """
    if not os.path.isdir(workdir):
        raise FileNotFoundError(f"workdir {workdir} does not exist")
    running = run_in_progress(workdir)
    if not os.path.isdir(checkpoint_dir(workdir)):
        stages = chain_stages(workdir)
        if stages:
            raise FileNotFoundError(f"{workdir} is a chain; use one of its stages: {', '.join(stages)}")
        if running:
            raise FileNotFoundError(f"{workdir} has no finished checkpoint yet: a run is training "
                                    f"there ({running})")
        raise FileNotFoundError(f"{workdir} holds no checkpoints/ folder: not a training workdir")
    ckpts = Checkpoints(workdir, read_only=True)
    try:
        steps = ckpts.all_steps()
    finally:
        ckpts.close()
    if step is None:
        if not steps:
            raise FileNotFoundError(f"no finalized checkpoint in {checkpoint_dir(workdir)}" + (
                f" yet: a run is training there ({running})" if running else ""))
        step = max(steps)
    elif step not in steps:
        raise FileNotFoundError(f"no finalized checkpoint for step {step} in {checkpoint_dir(workdir)} "
                                f"(available: {sorted(steps)})")
    note = ""
    if running:
        which = "its latest finished step" if step == max(steps) else "finished step"
        note = (f"note: a run is still training in {workdir} ({running}); reading {which} {step}, "
                f"not the run's end")
    return int(step), note


def load_for_inference(workdir: str, step=None):
    """Returns ``(config, embed_model, variables, step)`` from a workdir's checkpoint.

    Works for triplet-trained workdirs and for pretraining workdirs, whose embedding network's
    parameters are the subset of the online parameters under the embedding network's keys. The
    state is restored into the shapes and dtypes its checkpoint records (orbax's metadata), on one
    device. ``step`` defaults to the latest finalized one; what is missing is a FileNotFoundError
    (``checkpoint_to_read``).
    """
    step, _ = checkpoint_to_read(workdir, step)
    ckpts = Checkpoints(workdir, read_only=True)
    try:
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
