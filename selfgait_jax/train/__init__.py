"""Training: losses, state, steps on a device mesh, checkpoints and the loop (no TensorFlow import
at module level; the input pipeline is imported lazily by ``loop``)."""
