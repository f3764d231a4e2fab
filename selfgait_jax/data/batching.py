"""Global batches over processes and devices (numpy + JAX, no TensorFlow).

Every input pipeline describes a *global* batch; process p of n keeps rows [p*B/n, (p+1)*B/n) and
`to_global` assembles the processes' rows into one jax.Array sharded over the mesh's "data" axis
(the mesh and its shardings: ``selfgait_jax.sharding``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from selfgait_jax import sharding as sharding_lib


def check_global_batch(global_batch: int, key: str, device_count: int, process_count: int = 1) -> int:
    """Return the per-process batch size; a ValueError naming `key` if the batch does not split evenly."""
    if global_batch < 1:
        raise ValueError(f"{key} = {global_batch}: the global batch size must be at least 1")
    if global_batch % device_count:
        raise ValueError(f"{key} = {global_batch} must be divisible by the device count ({device_count})")
    if global_batch % process_count:
        raise ValueError(f"{key} = {global_batch} must be divisible by the process count ({process_count})")
    return global_batch // process_count


def process_rows(global_batch: int, process_index: int, process_count: int) -> slice:
    """The rows of a global batch that process `process_index` of `process_count` produces."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} outside [0, {process_count})")
    local = global_batch // process_count
    return slice(process_index * local, (process_index + 1) * local)


def resolve_topology(process_index: int | None, process_count: int | None,
                     device_count: int | None) -> tuple[int, int, int]:
    """Fill in the running JAX topology where the caller (usually a test faking processes) gave None."""
    return (jax.process_index() if process_index is None else process_index,
            jax.process_count() if process_count is None else process_count,
            jax.device_count() if device_count is None else device_count)


def to_global(batch: Any, mesh: Mesh) -> Any:
    """Host-local numpy batch (a pytree) -> global jax.Arrays sharded along axis 0 over mesh axis "data".

    Each process passes its own rows; the global leading dimension is the sum over processes.
    """
    sharding = sharding_lib.rows(mesh)
    local_devices = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)

    def one(x):
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[0] % local_devices:
            raise ValueError(f"a local batch of shape {x.shape} does not split over this process's "
                             f"{local_devices} devices of the mesh")
        return jax.make_array_from_process_local_data(sharding, x)

    return jax.tree.map(one, batch)
