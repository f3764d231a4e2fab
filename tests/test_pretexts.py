"""The pretext table and its pieces: augmentations, clip pairs, the pretext losses, option checks,
and the two-clip step (the target gets no gradient, only the EMA)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from selfgait_jax import config_defaults, sharding
from selfgait_jax.data.batching import to_global
from selfgait_jax.data import sampling
from selfgait_jax.models import registry
from selfgait_jax.train import augment, losses, pretexts, state as state_lib, steps
from selfgait_jax.train.augment import Augmentations


def _clips(n=3, t=4, h=64, w=44, seed=0):
    """Block silhouettes with a different shape per clip, the same in every frame of a clip."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, t, h, w), np.float32)
    for i in range(n):
        top, left = rng.integers(4, 16), rng.integers(4, 14)
        x[i, :, top:top + 40, left:left + 12] = 1.0
        x[i, :, top + 10:top + 20, left + 12:left + 20] = 1.0  # an arm, so left and right differ
    return jnp.asarray(x)


# --- augmentations -----------------------------------------------------------------------------

def test_no_augmentation_is_the_identity():
    x = _clips()
    assert not Augmentations().enabled
    np.testing.assert_array_equal(augment.augment_clips(jax.random.PRNGKey(0), x, Augmentations()), x)


def test_a_certain_flip_mirrors_every_frame():
    x = _clips()
    y = augment.augment_clips(jax.random.PRNGKey(0), x, Augmentations(flip=1.0))
    np.testing.assert_array_equal(y, x[..., ::-1])


def test_flip_per_frame_mixes_within_a_clip_and_per_clip_does_not():
    x = _clips(n=8, t=16)
    per_clip = augment.augment_clips(jax.random.PRNGKey(1), x, Augmentations(flip=0.5))
    per_frame = augment.augment_clips(jax.random.PRNGKey(1), x, Augmentations(flip=0.5, flip_per_frame=True))
    flipped = lambda y: np.all(np.asarray(y) == np.asarray(x[..., ::-1]), axis=(2, 3))  # [n, t]
    clip_rows = flipped(per_clip)
    assert np.all(clip_rows == clip_rows[:, :1])  # a clip is flipped whole or not at all
    frame_rows = flipped(per_frame)
    assert np.any(frame_rows != frame_rows[:, :1])  # 128 draws: some clip is mixed


def test_every_transform_moves_all_frames_of_a_clip_alike():
    """Parameters are drawn per clip: a clip of identical frames stays a clip of identical frames."""
    x = _clips(n=6, t=3)
    y = augment.augment_clips(jax.random.PRNGKey(2), x, pretexts.GAITSSB_AUGMENT)
    np.testing.assert_allclose(y[:, 1:], jnp.broadcast_to(y[:, :1], y[:, 1:].shape), atol=1e-6)
    assert not np.allclose(y, x)


def test_augmentation_is_deterministic_for_a_key():
    x = _clips()
    aug = Augmentations(affine=0.5, perspective=0.5, flip=0.5, dilate=0.5, blur=0.5)
    a = augment.augment_clips(jax.random.PRNGKey(3), x, aug)
    np.testing.assert_array_equal(a, augment.augment_clips(jax.random.PRNGKey(3), x, aug))
    assert not np.array_equal(a, augment.augment_clips(jax.random.PRNGKey(4), x, aug))


def test_part_dilation_grows_one_band_only():
    x = _clips(n=4, t=1)
    y = np.asarray(augment.augment_clips(jax.random.PRNGKey(5), x, Augmentations(dilate=1.0)))
    assert np.all(y >= np.asarray(x))  # a max filter only adds foreground
    changed_rows = np.any(y != np.asarray(x), axis=(1, 3))  # [n, h]
    for rows in changed_rows:
        idx = np.flatnonzero(rows)
        assert idx.size > 0 and idx.max() - idx.min() < 0.5 * 64 + 2  # within one band
    np.testing.assert_array_equal(np.max(y), 1.0)


def test_part_blur_is_a_box_mean_on_one_band():
    x = _clips(n=2, t=1)
    y = np.asarray(augment.augment_clips(jax.random.PRNGKey(6), x, Augmentations(blur=1.0)))
    padded = np.pad(np.asarray(x), ((0, 0), (0, 0), (2, 2), (2, 2)))
    box = np.mean([padded[:, :, i:i + 64, j:j + 44] for i in range(5) for j in range(5)], axis=0)
    for clip in range(2):
        rows = np.flatnonzero(np.any(y[clip, 0] != np.asarray(x)[clip, 0], axis=1))
        assert rows.size and rows.max() - rows.min() < 0.5 * 64 + 2
        np.testing.assert_allclose(y[clip, 0, rows], box[clip, 0, rows], atol=1e-6)
    assert np.any((y > 0) & (y < 1))


def test_identity_warp_returns_the_frames():
    x = _clips()
    np.testing.assert_allclose(augment._warp(x, jnp.broadcast_to(jnp.eye(3), (3, 3, 3))), x, atol=1e-6)


def test_homography_sends_each_corner_where_asked():
    src = jnp.array([[0.0, 0.0], [43.0, 0.0], [43.0, 63.0], [0.0, 63.0]])
    dst = src + jnp.array([[2.0, 1.0], [-3.0, 2.0], [1.0, -2.0], [4.0, 3.0]])
    h = augment._homography(src, dst)
    mapped = (h @ jnp.c_[src, jnp.ones(4)].T).T
    np.testing.assert_allclose(mapped[:, :2] / mapped[:, 2:], dst, atol=1e-3)


def test_a_probability_outside_0_1_names_its_key():
    with pytest.raises(ValueError, match="pretext.augment.blur"):
        Augmentations(blur=1.5)


# --- clip pairs --------------------------------------------------------------------------------

def test_two_copies_are_one_window_twice():
    s = sampling.ClipPairSampler(np.array([40, 50, 9]), batch_size=3, frames=8, span=8,
                                 pairs="two_copies", seed=1)
    b = s(0)
    np.testing.assert_array_equal(b["frame_a"], b["frame_b"])
    long = b["sequence"] != 2
    np.testing.assert_array_equal(np.diff(b["frame_a"][long], axis=1), 1)


def test_two_clips_are_ordered_frames_of_their_own_windows():
    lengths = np.array([60, 30, 5, 100])
    s = sampling.ClipPairSampler(lengths, batch_size=4, frames=6, span=10, pairs="two_clips", seed=2)
    b = s(3)
    for clip in (b["frame_a"], b["frame_b"]):
        assert np.all(np.diff(clip, axis=1) >= 0)  # time order
        assert np.all(clip.max(1) - clip.min(1) < 10)  # within one window of `span`
        assert np.all(clip.max(1) < lengths[b["sequence"]])
    assert not np.array_equal(b["frame_a"], b["frame_b"])
    short = b["sequence"] == 2  # 5 frames for 6 slots: frames repeat, all real
    assert np.all(b["frame_a"][short] < 5)


def test_clip_pairs_visit_every_sequence_once_per_epoch_and_depend_only_on_seed_and_batch():
    s = sampling.ClipPairSampler(np.full(10, 30), batch_size=5, frames=4, span=6, seed=3)
    epoch = np.concatenate([s(0)["sequence"], s(1)["sequence"]])
    assert sorted(epoch.tolist()) == list(range(10))
    again = sampling.ClipPairSampler(np.full(10, 30), batch_size=5, frames=4, span=6, seed=3)(1)
    np.testing.assert_array_equal(again["frame_a"], s(1)["frame_a"])


# --- losses --------------------------------------------------------------------------------------

def test_info_nce_by_hand():
    """Two rows, one part; logits = scale·cos: row 0 [s, 0], row 1 [0, s]."""
    q = jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    s, eps = 2.0, 0.1
    got = losses.info_nce_per_part(q, q, scale=s, label_smoothing=eps)
    log_p_right = s - np.log(np.exp(s) + 1.0)
    log_p_wrong = -np.log(np.exp(s) + 1.0)
    want = -((1 - eps / 2) * log_p_right + (eps / 2) * log_p_wrong)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_info_nce_is_per_part():
    """Part 1's keys swapped between rows: part 0 is right, part 1 wrong; the mean is between."""
    q = jnp.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    k = q.at[:, 1].set(q[::-1, 1])
    right = losses.info_nce_per_part(q[:, :1], k[:, :1], 4.0, 0.0)
    wrong = losses.info_nce_per_part(q[:, 1:], k[:, 1:], 4.0, 0.0)
    assert right < wrong
    np.testing.assert_allclose(losses.info_nce_per_part(q, k, 4.0, 0.0), (right + wrong) / 2, rtol=1e-6)


def _info_nce_reference(q, k, neg, valid, scale, eps, rows=None):
    """The queue's InfoNCE written out in numpy: per part, softmax over the batch's keys and the
    valid queued keys; the smoothing spread over those candidates. ``rows``: the queries' row
    numbers in the batch (default 0..len(q)-1), i.e. which key is each one's positive."""
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    q, k, neg = unit(np.asarray(q, np.float64)), unit(np.asarray(k, np.float64)), unit(np.asarray(neg, np.float64))
    n, parts = k.shape[:2]
    rows = list(range(len(q))) if rows is None else rows
    losses_ = []
    for p in range(parts):
        for row, i in enumerate(rows):
            cands = [k[j, p] for j in range(n)] + [neg[m, p] for m in range(len(neg)) if valid[m]]
            logits = scale * np.array([q[row, p] @ c for c in cands])
            log_p = logits - np.log(np.sum(np.exp(logits)))
            target = np.full(len(cands), eps / len(cands))
            target[i] += 1.0 - eps
            losses_.append(-np.sum(target * log_p))
    return np.mean(losses_)


def test_info_nce_with_a_queue_by_hand():
    rng = np.random.default_rng(3)
    q, k, neg = rng.normal(size=(3, 2, 4)), rng.normal(size=(3, 2, 4)), rng.normal(size=(5, 2, 4))
    valid = np.array([True, True, False, True, False])
    got = losses.info_nce_per_part(jnp.asarray(q), jnp.asarray(k), 3.0, 0.1, jnp.asarray(neg), jnp.asarray(valid))
    np.testing.assert_allclose(got, _info_nce_reference(q, k, neg, valid, 3.0, 0.1), rtol=1e-5)
    # Negatives close to a query's own key make its choice harder: the loss rises.
    hard = np.repeat(k[:1], 5, axis=0)
    harder = losses.info_nce_per_part(jnp.asarray(q), jnp.asarray(k), 3.0, 0.1, jnp.asarray(hard),
                                      jnp.ones(5, bool))
    np.testing.assert_allclose(harder, _info_nce_reference(q, k, hard, np.ones(5, bool), 3.0, 0.1), rtol=1e-5)


def test_an_empty_queue_leaves_info_nce_as_it_is():
    rng = np.random.default_rng(4)
    q, k = jnp.asarray(rng.normal(size=(4, 3, 8))), jnp.asarray(rng.normal(size=(4, 3, 8)))
    plain = losses.info_nce_per_part(q, k, 16.0, 0.1)
    empty = losses.info_nce_per_part(q, k, 16.0, 0.1, jnp.zeros((6, 3, 8)), jnp.zeros(6, bool))
    np.testing.assert_allclose(empty, plain, rtol=1e-6)


def test_the_queue_is_a_ring_that_keeps_the_newest_keys_and_their_views():
    queue = state_lib.init_queue(5, (1, 2))
    assert queue["views"].tolist() == [-1] * 5
    batch = lambda first, n: jnp.arange(first, first + n, dtype=jnp.float32)[:, None, None] * jnp.ones((n, 1, 2))  # noqa: E731
    views = lambda first, n: jnp.arange(first, first + n) % 3  # noqa: E731
    queue = state_lib.enqueue(queue, batch(1, 3), views(1, 3))  # slots 0-2
    assert int(queue["next"]) == 3 and int(queue["filled"]) == 3
    queue = state_lib.enqueue(queue, batch(4, 3), views(4, 3))  # slots 3, 4, then 0 (the oldest, key 1)
    np.testing.assert_array_equal(queue["keys"][:, 0, 0], [6, 2, 3, 4, 5])
    np.testing.assert_array_equal(queue["views"], np.array([6, 2, 3, 4, 5]) % 3)  # each key's own
    assert int(queue["next"]) == 1 and int(queue["filled"]) == 5
    queue = state_lib.enqueue(queue, batch(10, 7), views(10, 7))  # more than fits: the last five, in order
    np.testing.assert_array_equal(np.sort(queue["keys"][:, 0, 0]), [12, 13, 14, 15, 16])
    np.testing.assert_array_equal(queue["views"], queue["keys"][:, 0, 0].astype(int) % 3)
    assert int(queue["next"]) == 1 and int(queue["filled"]) == 5


def test_info_nce_takes_a_validity_per_query():
    """negatives_valid [N, Q]: each row ranks its key among its own candidates (the reference,
    row by row); one mask for every row gives another loss."""
    rng = np.random.default_rng(5)
    q, k, neg = rng.normal(size=(2, 1, 4)), rng.normal(size=(2, 1, 4)), rng.normal(size=(3, 1, 4))
    valid = np.array([[True, False, True], [False, True, False]])
    got = losses.info_nce_per_part(jnp.asarray(q), jnp.asarray(k), 2.0, 0.1, jnp.asarray(neg), jnp.asarray(valid))
    per_row = [_info_nce_reference(q[i:i + 1], k, neg, valid[i], 2.0, 0.1, rows=[i]) for i in range(2)]
    np.testing.assert_allclose(got, np.mean(per_row), rtol=1e-5)
    shared = losses.info_nce_per_part(jnp.asarray(q), jnp.asarray(k), 2.0, 0.1, jnp.asarray(neg),
                                      jnp.asarray(valid[0]))
    assert abs(float(shared) - float(got)) > 1e-3


def test_a_same_view_queue_offers_each_query_the_negatives_of_its_keys_view():
    c = _pretrain_config("contrastive")
    c.pretext.queue_size, c.pretext.queue_same_view = 4, True
    loss = pretexts.resolve(c).loss_fn
    queue = {"keys": jnp.asarray(np.random.default_rng(6).normal(size=(4, 1, 4)), jnp.float32),
             "views": jnp.array([0, 1, 1, -1]), "next": jnp.int32(3), "filled": jnp.int32(3)}
    q = k = jnp.asarray(np.random.default_rng(7).normal(size=(2, 1, 4)), jnp.float32)
    key_views = jnp.array([1, 0])
    want = losses.info_nce_per_part(q, k, 16.0, 0.1, queue["keys"],
                                    jnp.array([[False, True, True, False], [True, False, False, False]]))
    np.testing.assert_allclose(loss(q, k, queue, key_views), want, rtol=1e-6)
    c.pretext.queue_same_view = False  # every filled slot, whatever its view
    want_all = losses.info_nce_per_part(q, k, 16.0, 0.1, queue["keys"], jnp.array([True, True, True, False]))
    np.testing.assert_allclose(pretexts.resolve(c).loss_fn(q, k, queue, key_views), want_all, rtol=1e-6)


def test_the_authors_loss_compares_across_parts():
    """Equal per-part directions but different per-channel profiles over the parts: the paper's loss
    is 0, the authors' (cos along the parts axis) is not, and the other way round."""
    p = jnp.array([[[1.0, 1.0], [2.0, 2.0]]])  # [1, parts 2, d 2]
    z = jnp.array([[[2.0, 2.0], [1.0, 1.0]]])
    np.testing.assert_allclose(losses.byol_loss(p, z), 0.0, atol=1e-6)
    cos = (1 * 2 + 2 * 1) / 5.0
    np.testing.assert_allclose(losses.byol_loss_across_parts(p, z), 1.0 - cos, rtol=1e-6)
    p2 = jnp.array([[[1.0, 5.0], [2.0, 10.0]]])
    z2 = jnp.array([[[3.0, 1.0], [6.0, 2.0]]])  # each channel's profile over parts as p2's, directions not
    np.testing.assert_allclose(losses.byol_loss_across_parts(p2, z2), 0.0, atol=1e-6)
    assert losses.byol_loss(p2, z2) > 0.5


# --- the table and its options -----------------------------------------------------------------

def _pretrain_config(name="paper"):
    c = config_defaults.pretrain_config("tiny")
    c.pretext.name = name
    return c


def test_every_pretext_resolves_with_its_defaults():
    for name in pretexts.PRETEXT_NAMES:
        setting = pretexts.resolve(_pretrain_config(name))
        assert setting.pretext.name == name and setting.loss in pretexts.LOSSES
        assert setting.pretext.target in registry.TARGET_BRANCHES  # the table is in step with the models
    assert pretexts.resolve(_pretrain_config("contrastive")).augment == pretexts.GAITSSB_AUGMENT


def test_unset_augmentations_take_the_pretexts_own_and_set_ones_override():
    c = _pretrain_config("authors")
    c.pretext.augment.affine = 0.3
    aug = pretexts.resolve(c).augment
    assert aug.affine == 0.3 and aug.flip == 0.5 and aug.flip_per_frame


@pytest.mark.parametrize("key,value,match", [
    ("name", "simclr", "pretext.name"),
    ("loss", "triplet", "pretext.loss"),
    ("clip_frames", 9, "pretext.clip_frames"),
    ("scale", 0.0, "pretext.scale"),
    ("queue_size", -1, "pretext.queue_size"),
])
def test_a_bad_option_names_its_key(key, value, match):
    c = _pretrain_config("contrastive")
    c.pretext[key] = value
    with pytest.raises(ValueError, match=match):
        pretexts.resolve(c)


def test_a_queue_needs_the_info_nce_loss():
    c = _pretrain_config("authors")
    c.pretext.queue_size = 8
    with pytest.raises(ValueError, match="pretext.queue_size.*info_nce"):
        pretexts.resolve(c)
    c = _pretrain_config("contrastive")
    c.pretext.queue_same_view = True
    with pytest.raises(ValueError, match="pretext.queue_same_view: there is no queue"):
        pretexts.resolve(c)
    c = _pretrain_config("contrastive")
    c.pretext.queue_size = 8
    assert pretexts.resolve(c).queue_size == 8


def test_the_paper_pretext_refuses_clip_options():
    c = _pretrain_config("paper")
    c.pretext.augment.dilate = 0.2
    with pytest.raises(ValueError, match="pretext.augment.dilate"):
        pretexts.resolve(c)
    c = _pretrain_config("paper")
    c.pretext.loss = "info_nce"
    with pytest.raises(ValueError, match="two-clip"):
        pretexts.resolve(c)


# --- the two-clip step -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["contrastive", "authors"])
def test_clip_pair_step_trains_the_online_network_and_moves_the_target_by_ema(name):
    c = _pretrain_config(name)
    setting = pretexts.resolve(c)
    online, target = registry.build_byol_models(c.model, setting.pretext.target, setting.pretext.per_part_heads)
    tx = optax.sgd(0.05)
    state = state_lib.init_pretrain_state(online, target, tx, jax.random.PRNGKey(0), 4,
                                          target_takes_clip=True)
    c.byol.tau = 0.5
    step = jax.jit(steps.make_clip_pair_step(online, target, tx, optax.constant_schedule(0.05), setting,
                                             c.byol, 10))
    rng = np.random.default_rng(0)
    batch = {k: (rng.random((4, 4, 64, 44)) > 0.5).astype(np.uint8) * 255 for k in ("clip_a", "clip_b")}
    new, metrics = step(state, batch)
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
    assert set(new.target_params) == set(state.target_params)
    moved = jax.tree.map(lambda t0, o1, t1: np.allclose(t1, 0.5 * t0 + 0.5 * o1, atol=1e-6),
                         state.target_params, {k: new.params[k] for k in state.target_params},
                         new.target_params)
    assert all(jax.tree.leaves(moved))
    assert not np.allclose(new.params["backbone"]["block1"]["conv_a"]["conv"]["kernel"],
                           state.params["backbone"]["block1"]["conv_a"]["conv"]["kernel"])
    has_mtb = "mtb" in state.target_params
    assert has_mtb == (setting.pretext.target == "clip_mtb")


def _contrastive_without_augmentation(queue_size):
    """``(target, state, step)`` of the tiny contrastive pretext with a queue of ``queue_size``, the
    clips reaching the networks as they are (every augmentation off); the step not yet jitted."""
    c = _pretrain_config("contrastive")
    c.pretext.queue_size = queue_size
    for op in ("affine", "perspective", "flip", "dilate", "blur"):
        c.pretext.augment[op] = 0.0
    setting = pretexts.resolve(c)
    online, target = registry.build_byol_models(c.model, setting.pretext.target, True)
    tx = optax.sgd(0.05)
    state = state_lib.init_pretrain_state(online, target, tx, jax.random.PRNGKey(0), 4,
                                          target_takes_clip=True, queue_size=queue_size)
    step = steps.make_clip_pair_step(online, target, tx, optax.constant_schedule(0.05), setting, c.byol, 10)
    return target, state, step


def _clip_pair_batch(seed=1, n=4):
    rng = np.random.default_rng(seed)
    batch = {k: (rng.random((n, 4, 64, 44)) > 0.5).astype(np.uint8) * 255 for k in ("clip_a", "clip_b")}
    return {**batch, "views": np.repeat(rng.integers(0, 3, (n, 1), dtype=np.int32), 2, axis=1)}


@pytest.mark.slow
def test_the_queue_starts_empty_fills_with_both_clips_target_keys_and_then_adds_negatives():
    """Step 1 with an empty queue is the step without one; its 2B target keys are enqueued; step 2
    then has more negatives, so a larger loss from the same state."""
    def build(queue_size):
        target, state, step = _contrastive_without_augmentation(queue_size)
        return target, state, jax.jit(step)

    batch = _clip_pair_batch()
    target, queued0, step_queued = build(12)
    _, plain0, step_plain = build(0)
    assert plain0.queue == {} and queued0.queue["keys"].shape[0] == 12 and int(queued0.queue["filled"]) == 0

    queued1, m_queued = step_queued(queued0, batch)
    plain1, m_plain = step_plain(plain0, batch)
    np.testing.assert_allclose(m_queued["loss"], m_plain["loss"], rtol=1e-6)
    assert int(queued1.queue["filled"]) == 8 and int(queued1.queue["next"]) == 8
    clips = jnp.concatenate([batch["clip_a"], batch["clip_b"]]).astype(jnp.float32) / 255.0
    keys, _ = target.apply({"params": queued0.target_params, "batch_stats": queued0.target_batch_stats},
                           clips, jnp.ones(clips.shape[:2], bool), train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(queued1.queue["keys"][:8], keys, rtol=1e-4, atol=1e-4)  # jit vs eager
    np.testing.assert_array_equal(queued1.queue["keys"][8:], 0.0)

    queued2, m_queued = step_queued(queued1, batch)
    _, m_plain = step_plain(plain1, batch)
    assert float(m_queued["loss"]) > float(m_plain["loss"]) + 1e-3
    assert int(queued2.queue["filled"]) == 12 and int(queued2.queue["next"]) == 4


@pytest.mark.slow  # 1-vs-4-device comparison
def test_the_queue_is_the_same_on_one_and_four_devices():
    """The batch is sharded over the devices and the queue replicated: enqueueing gathers the keys
    of every device in batch order, so 4 devices keep the queue and the loss of 1. Each 4-device
    step starts from the 1-device run's state (the rounding of one step, which does not compound),
    the second one with a full queue."""
    _, state, step = _contrastive_without_augmentation(24)
    one, four = (sharding.data_mesh(jax.devices()[:n]) for n in (1, 4))
    step_one, step_four = steps.jit_step(step, one), steps.jit_step(step, four)
    states, losses_ = [jax.device_get(state)], []  # on the host: each step is given (and donates) a copy
    for seed in (1, 2):
        new, metrics = step_one(jax.device_put(states[-1], sharding.replicated(one)),
                                to_global(_clip_pair_batch(seed, n=8), one))
        states.append(jax.device_get(new))
        losses_.append(float(metrics["loss"]))
    for k, seed in enumerate((1, 2)):
        new, metrics = step_four(jax.device_put(states[k], sharding.replicated(four)),
                                 to_global(_clip_pair_batch(seed, n=8), four))
        np.testing.assert_allclose(float(metrics["loss"]), losses_[k], rtol=1e-5)
        queue = jax.device_get(new.queue)
        # BatchNorm over a batch split 4 ways: sums reassociated, ~1e-4 on keys of order 1; a key
        # in the wrong slot would be off by about 1
        np.testing.assert_allclose(queue["keys"], states[k + 1].queue["keys"], rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(queue["views"], states[k + 1].queue["views"])
        assert int(queue["next"]) == int(states[k + 1].queue["next"])
        assert int(queue["filled"]) == int(states[k + 1].queue["filled"])
    # 16 keys a step into 24 slots: slots 0-15, then 16-23 and 0-7 (the ring wraps)
    assert [(int(s.queue["next"]), int(s.queue["filled"])) for s in states[1:]] == [(16, 16), (8, 24)]


def test_clip_pairs_batched_by_view_hold_one_view_each():
    views = np.array(["000", "090"] * 10)
    s = sampling.ClipPairSampler(np.full(20, 30), batch_size=4, frames=4, span=6, groups=views, seed=4)
    for i in range(6):
        assert len(set(views[s(i)["sequence"]].tolist())) == 1


def test_other_view_clips_come_from_another_sequence_of_the_walk():
    # Sequences 0-2: one walk at three views; 3: a walk seen once (never sampled: no partner).
    partners = (np.array([1, 2]), np.array([0, 2]), np.array([0, 1]), np.array([], np.int64))
    s = sampling.ClipPairSampler(np.array([30, 25, 40, 30]), batch_size=6, frames=4, span=6,
                                 pairs="other_view_clips", partners=partners, seed=5)
    b = s(0)
    assert 3 not in b["sequence"].tolist()
    for a, other in zip(b["sequence"].tolist(), b["sequence_b"].tolist()):
        assert other in partners[a].tolist()
    assert np.all(b["frame_b"] < np.array([30, 25, 40, 30])[b["sequence_b"]][:, None])
    with pytest.raises(ValueError, match="partners"):
        sampling.ClipPairSampler(np.array([30, 25]), batch_size=2, pairs="other_view_clips")
