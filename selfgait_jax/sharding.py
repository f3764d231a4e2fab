"""The device mesh and the shardings every part of the code uses (JAX only, below data/train/evaluation).

One 1-D mesh with axis "data" over all devices of all processes. Batches are split over it by rows
(``rows``); train states, variables and gallery blocks are replicated (``replicated``). Host arrays
cross to and from global arrays here (``put``, ``to_host``), so multi-process gathering lives in one
place.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh named "data" over ``devices`` (default: all devices of all processes).

    The axis is Auto (GSPMD propagates shardings inside a jitted function); only its inputs and
    outputs carry explicit shardings.
    """
    auto = (jax.sharding.AxisType.Auto,)
    if devices is None:
        return jax.make_mesh((jax.device_count(),), (AXIS,), axis_types=auto)
    return Mesh(np.asarray(devices), (AXIS,), axis_types=auto)


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (train states, variables)."""
    return NamedSharding(mesh, PartitionSpec())


def rows(mesh: Mesh) -> NamedSharding:
    """Axis 0 split over the mesh's "data" axis (batches)."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def with_sharding(abstract_tree, sharding):
    """Attach ``sharding`` to every ShapeDtypeStruct of an abstract tree (for restoring into it)."""
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), abstract_tree)


def mesh_processes(mesh: Mesh) -> tuple[int, int]:
    """``(index, count)`` of this process among the processes that own devices of ``mesh``: the
    global mesh gives ``(jax.process_index(), jax.process_count())``, a mesh of this process's own
    devices ``(0, 1)``."""
    owners = sorted({d.process_index for d in mesh.devices.flat})
    return owners.index(jax.process_index()), len(owners)


def put(x: np.ndarray, sharding) -> jax.Array:
    """A host array (the same on every process) as a global array with ``sharding``."""
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def to_host(x: jax.Array) -> np.ndarray:
    """A global array as one numpy array on this host (with several processes, all of them call
    it: the rows other processes hold are gathered)."""
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
