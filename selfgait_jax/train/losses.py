"""Training losses: the pretext losses (BYOL's, the authors' variant, per-part InfoNCE) and the
batch-all triplet loss (BA+).

Both compute in float32 whatever the compute dtype of the network, so bf16 runs keep an exact
loss. Under the global-view ``jax.jit`` of the train step the inputs are global arrays, so every
mean and every triplet below spans the whole global batch (see ``steps.py``).
"""

import jax
import jax.numpy as jnp
import optax


def byol_loss(prediction: jax.Array, target_projection: jax.Array) -> jax.Array:
    """2 − 2·cos(prediction, target) per part, mean over parts and batch.

    Args:
        prediction: online prediction ``[N, parts, d]``.
        target_projection: target projection ``[N, parts, d]``; the caller stops its gradient.
    """
    p = _l2_normalize(prediction.astype(jnp.float32))
    z = _l2_normalize(target_projection.astype(jnp.float32))
    return jnp.mean(2.0 - 2.0 * jnp.sum(p * z, axis=-1))


def byol_loss_across_parts(prediction: jax.Array, target_projection: jax.Array) -> jax.Array:
    """The authors' released code's loss: 1 − cos taken with ``dim=1`` of ``[N, parts, d]``, i.e.
    across the parts for each channel (not across channels for each part), mean over batch and
    channels. Kept as it is to reproduce their training; ``byol_loss`` is the paper's.
    """
    p = _l2_normalize(jnp.swapaxes(prediction.astype(jnp.float32), -1, -2))  # [N, d, parts]
    z = _l2_normalize(jnp.swapaxes(target_projection.astype(jnp.float32), -1, -2))
    return jnp.mean(1.0 - jnp.sum(p * z, axis=-1))


def info_nce_per_part(query: jax.Array, key: jax.Array, scale: float = 16.0,
                      label_smoothing: float = 0.1, negatives: jax.Array | None = None,
                      negatives_valid: jax.Array | None = None) -> jax.Array:
    """Per-part InfoNCE (GaitSSB): for each part, row i of ``query`` must pick row i of ``key`` among
    all N keys (the other sequences of the global batch are the negatives) and, if given, the Q
    ``negatives`` (MoCo's queue of earlier batches' keys) whose ``negatives_valid`` is True.

    Logits are cosine similarities × ``scale``; cross-entropy with label smoothing spread over the
    valid candidates only; mean over parts and rows. ``query``, ``key``: ``[N, parts, d]``;
    ``negatives``: ``[Q, parts, d]``, ``negatives_valid``: bool ``[Q]`` (the same for every query)
    or ``[N, Q]`` (per query); the caller stops the gradient of keys and negatives.
    """
    q = _l2_normalize(jnp.swapaxes(query.astype(jnp.float32), 0, 1))  # [parts, N, d]
    k = _l2_normalize(jnp.swapaxes(key.astype(jnp.float32), 0, 1))
    logits = scale * jnp.einsum("pnd,pmd->pnm", q, k)
    n = logits.shape[-1]
    if negatives is None:
        targets = optax.smooth_labels(jax.nn.one_hot(jnp.arange(n), n), label_smoothing)
        return jnp.mean(optax.softmax_cross_entropy(logits, targets[None]))
    neg = _l2_normalize(jnp.swapaxes(negatives.astype(jnp.float32), 0, 1))  # [parts, Q, d]
    logits = jnp.concatenate([logits, scale * jnp.einsum("pnd,pmd->pnm", q, neg)], axis=-1)
    per_query = jnp.broadcast_to(negatives_valid, (n, neg.shape[1]))
    valid = jnp.concatenate([jnp.ones((n, n), bool), per_query], axis=1)  # [N, N + Q]
    # A finite floor, not -inf: an invalid slot's label is 0, and 0 x -inf would be NaN.
    logits = jnp.where(valid, logits, -1e9)
    spread = valid.astype(jnp.float32) / jnp.sum(valid, axis=1, keepdims=True)
    targets = (1.0 - label_smoothing) * jax.nn.one_hot(jnp.arange(n), logits.shape[-1]) \
        + label_smoothing * spread
    return jnp.mean(optax.softmax_cross_entropy(logits, targets[None]))


def normalized_std(x: jax.Array) -> jax.Array:
    """Collapse monitor: the std over the batch of each dimension of the L2-normalised vectors
    ``[N, parts, d]``, averaged over parts and dimensions.

    About 1/sqrt(d) when the vectors spread over the sphere, towards 0 when every input maps to the
    same vector (BYOL's collapse, which a falling loss alone cannot tell from learning).
    """
    z = _l2_normalize(x.astype(jnp.float32))
    return jnp.mean(jnp.std(z, axis=0))


def _l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    # Same as torch.nn.functional.normalize: x / max(|x|, eps).
    norm = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True))
    return x / jnp.maximum(norm, eps)


def pairwise_distances(embeddings: jax.Array) -> jax.Array:
    """Euclidean distances per part: ``[N, parts, d]`` → ``[parts, N, N]``.

    The square root is taken of a value clamped at 1e-12, so the (masked) diagonal has a finite
    gradient instead of the NaN of sqrt'(0).
    """
    x = jnp.transpose(embeddings.astype(jnp.float32), (1, 0, 2))  # [parts, N, d]
    sq = jnp.sum(x * x, axis=-1)
    d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * jnp.einsum("pnd,pmd->pnm", x, x)
    return jnp.sqrt(jnp.maximum(d2, 1e-12))


def batch_all_triplet_loss(embeddings: jax.Array, labels: jax.Array, margin: float = 0.2):
    """Batch-all triplet loss BA+, per part, averaged over the triplets with non-zero loss.

    Every (anchor a, positive p, negative n) with label[a] == label[p], a ≠ p and
    label[a] ≠ label[n] contributes relu(d(a, p) − d(a, n) + margin). Per part the loss is the sum
    over triplets divided by the number of triplets with non-zero loss (0 when there are none); the
    result is the mean over parts.

    Args:
        embeddings: ``[N, parts, d]``.
        labels: int ``[N]``.
        margin: the margin ξ.

    Returns:
        ``(loss, aux)`` where aux holds ``mean_over_all`` (the same sums divided by the number of
        valid triplets: what falls as the embedding learns, while ``loss`` stays near the margin,
        being a mean over the triplets still violating it), ``nonzero_fraction`` (share of valid
        triplets with non-zero loss) and ``mean_distance``.
    """
    dist = pairwise_distances(embeddings)  # [parts, N, N]
    same = labels[:, None] == labels[None, :]
    not_self = ~jnp.eye(labels.shape[0], dtype=bool)
    positive = same & not_self  # [a, p]
    negative = ~same  # [a, n]
    valid = positive[:, :, None] & negative[:, None, :]  # [a, p, n]
    per_triplet = jax.nn.relu(dist[:, :, :, None] - dist[:, :, None, :] + margin)  # [parts, a, p, n]
    per_triplet = jnp.where(valid[None], per_triplet, 0.0)
    nonzero = jnp.sum(per_triplet > 0, axis=(1, 2, 3))  # [parts]
    total = jnp.sum(per_triplet, axis=(1, 2, 3))  # [parts]
    per_part = total / jnp.maximum(nonzero, 1)
    num_valid = jnp.maximum(jnp.sum(valid), 1)
    aux = {
            "mean_over_all": jnp.mean(total) / num_valid,
            "nonzero_fraction": jnp.mean(nonzero) / num_valid,
            "mean_distance": jnp.mean(dist),
    }
    return jnp.mean(per_part), aux
