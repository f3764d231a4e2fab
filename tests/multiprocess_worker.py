"""One process of the two-process test (tests/test_multiprocess.py); not collected by pytest.

    python tests/multiprocess_worker.py PROCESS_ID PORT OUT_DIR

Joins a 2-process JAX cluster on localhost (2 CPU devices each, gloo collectives), embeds the
test source with batches sharded over all 4 devices of both processes, runs the cross-view protocol
on the gathered embeddings and saves what it got to OUT_DIR/process_<id>.npz.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import numpy as np  # noqa: E402

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.dirname(TESTS)]  # this checkout's package and test fixtures

import test_evaluation_embed as fixtures  # noqa: E402
from selfgait_jax.evaluation import embed, protocol  # noqa: E402
from selfgait_jax.models import registry  # noqa: E402


def protocol_case(source):
    """Subjects, views, gallery and probes over the test source (see test_multiprocess.py)."""
    n = len(source)
    subjects = [f"{i % 3:03d}" for i in range(n)]
    views = ["000" if i < 3 else "090" for i in range(n)]
    return subjects, views, [0, 1, 2], {"NM": list(range(3, n))}


def main(process_id: int, port: int, out_dir: str):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id,
                               initialization_timeout=120)
    assert (jax.process_count(), jax.device_count(), jax.local_device_count()) == (2, 4, 2)
    cfg = registry.model_config("selfgait", "tiny")
    model = registry.build_embed_model(cfg)
    variables = fixtures.random_variables(model)
    source = fixtures.random_source()
    embeddings = embed.embed_source(model, variables, source, batch_size=4)
    result = protocol.evaluate_embeddings(embeddings, *protocol_case(source))
    np.savez(os.path.join(out_dir, f"process_{process_id}.npz"), embeddings=embeddings,
             hits1=result.hits1, ap_sum=result.ap_sum, counted=result.counted)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
