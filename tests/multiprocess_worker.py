"""One process of the two-process test (tests/test_multiprocess.py); not collected by pytest.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/multiprocess_worker.py ID PORT OUT_DIR

Joins a 2-process JAX cluster on localhost (2 CPU devices each, from the XLA_FLAGS the test sets;
gloo collectives), embeds the test source with batches sharded over all 4 devices of both
processes, runs the cross-view protocol on the gathered embeddings, runs three pretraining and two
triplet steps with each process feeding its own rows of every batch, and saves what it got to
OUT_DIR/process_<id>.npz.
"""

import os
import sys

import jax
import numpy as np

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.dirname(TESTS)]  # this checkout's package and test fixtures

import selfgait_jax  # noqa: E402
import test_evaluation_embed as fixtures  # noqa: E402
import test_train_steps as train_fixtures  # noqa: E402
from selfgait_jax import sharding  # noqa: E402
from selfgait_jax.data import batching  # noqa: E402
from selfgait_jax.evaluation import embed, ranking  # noqa: E402
from selfgait_jax.models import contract, registry  # noqa: E402
from selfgait_jax.train import steps  # noqa: E402
from tiny_models import TinyEmbed  # noqa: E402


def protocol_case(source):
    """Subjects, views, gallery and probes over the test source (see test_multiprocess.py)."""
    n = len(source)
    subjects = [f"{i % 3:03d}" for i in range(n)]
    views = ["000" if i < 3 else "090" for i in range(n)]
    return subjects, views, [0, 1, 2], {"NM": list(range(3, n))}


def train_cases():
    """(name, state factory, step, batches) of the training runs compared with one process."""
    t = train_fixtures
    return [("pretrain", t._pretrain_state, t._pretrain_step(), t._pretext_batches(3)),
            ("triplet", t._triplet_state,
             steps.make_triplet_step(TinyEmbed(), t.TX, t.SCHEDULE, margin=0.2),
             t._triplet_batches(2))]


def train_here(make_state, step_fn, batches):
    """Final params and last loss, each process putting only its own rows of each batch."""
    mesh = sharding.data_mesh()
    state, train_step = make_state(mesh), steps.jit_step(step_fn, mesh)
    rows = batching.process_rows(train_fixtures.B, jax.process_index(), jax.process_count())
    for batch in batches:
        local = {key: value[rows] for key, value in batch.items()}
        state, metrics = train_step(state, batching.to_global(local, mesh))
    return jax.device_get((state.params, metrics["loss"]))


def main(process_id: int, port: int, out_dir: str):
    selfgait_jax.configure_jax()  # the settings the one-process run (conftest.py) has
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id,
                               initialization_timeout=120)
    assert (jax.process_count(), jax.device_count(), jax.local_device_count()) == (2, 4, 2)
    cfg = registry.model_config("selfgait", "tiny")
    model = registry.build_embed_model(cfg)
    variables = fixtures.random_variables(model)
    source = fixtures.random_source()
    embeddings = embed.embed_source(contract.make_embed_fn(model), variables, source, batch_size=4)
    result = ranking.evaluate_embeddings(embeddings, *protocol_case(source))
    trained = {}
    for name, make_state, step_fn, batches in train_cases():
        params, loss = train_here(make_state, step_fn, batches)
        trained[f"{name}_loss"] = loss
        for i, leaf in enumerate(jax.tree_util.tree_leaves(params)):
            trained[f"{name}_param_{i}"] = leaf
    np.savez(os.path.join(out_dir, f"process_{process_id}.npz"), embeddings=embeddings,
             hits1=result.hits1, ap_sum=result.ap_sum, counted=result.counted, **trained)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
