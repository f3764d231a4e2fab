"""Embedding a source: padding buckets, batch-mates and the device count do not change an embedding."""

import jax
import numpy as np
import pytest

from selfgait_jax.data.sequence import SequenceMeta
from selfgait_jax.evaluation import embed
from selfgait_jax.models import contract, registry, xla_cpu


class ListSource:
    """A SequenceSource over sequences held in memory."""

    name = "in_memory"

    def __init__(self, sequences, metas):
        self.sequences, self.metas = sequences, metas

    def __len__(self):
        return len(self.sequences)

    def load(self, i):
        return self.sequences[i]


def random_source(seed=0, lengths=(5, 9, 17, 3, 12, 20, 7)):
    rng = np.random.default_rng(seed)
    seqs = [(rng.random((t, 64, 44)) < 0.3).astype(np.uint8) * 255 for t in lengths]
    metas = [SequenceMeta(f"{i:03d}", "nm-01", "000") for i in range(len(lengths))]
    return ListSource(seqs, metas)


def random_variables(model, seed=0):
    """Scaled random weights in the model's variable tree (compiling flax init is slow on CPU)."""
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), np.zeros((1, 4, 64, 44), np.float32),
                           np.ones((1, 4), bool), train=False)
    )
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: (rng.normal(size=s.shape) * np.sqrt(2.0 / np.prod(s.shape[-3:-1]))).astype(s.dtype),
        shapes,
    )


@pytest.fixture(scope="module")
def tiny_model():
    cfg = registry.model_config("selfgait", "tiny")
    model = registry.build_embed_model(cfg)
    variables = random_variables(model)
    return cfg, model, variables, contract.make_embed_fn(model)


@pytest.mark.slow
def test_padding_buckets_and_batch_mates_do_not_change_embeddings(tiny_model):
    cfg, model, variables, fn = tiny_model
    source = random_source()
    default = embed.embed_source(fn, variables, source, batch_size=4)
    parts, dim = registry.parts_and_dim(cfg)
    assert default.shape == (len(source), parts, dim) and default.dtype == np.float32
    # every sequence padded to 32 frames, in reverse order (other batch-mates, other padding rows)
    padded = embed.embed_source(
        fn, variables, source, batch_size=4, bucket_lengths=[32],
        indices=np.arange(len(source))[::-1],
    )[::-1]
    np.testing.assert_allclose(padded, default, rtol=1e-5, atol=1e-5)
    assert fn._cache_size() == 3  # one compile per (batch, bucket) shape: [4, 16], [4, 24], [4, 32]
    # and each sequence alone, unpadded, straight through the model on one device (compiled with
    # the same XLA:CPU options as the embedding function, so the same convolution kernels run)
    apply = jax.jit(lambda v, f, m: model.apply(v, f, m, train=False),
                    compiler_options=xla_cpu.compiler_options())
    for i in (0,):
        seq = source.load(i)[None].astype(np.float32) / 255.0
        alone = apply(variables, seq, np.ones(seq.shape[:2], bool))
        np.testing.assert_allclose(default[i], np.asarray(alone)[0], rtol=1e-5, atol=1e-5)
    assert len(jax.devices()) == 4  # the batches above really were split over 4 devices


def test_embedding_differs_between_sequences(tiny_model):
    _, model, variables, fn = tiny_model
    out = embed.embed_source(fn, variables, random_source(1, (6, 6)), batch_size=4)
    assert np.abs(out[0] - out[1]).max() > 1e-4
