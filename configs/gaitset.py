"""Supervised GaitSet baseline (Table 1): batch-all triplet loss on the whole training split.

The recipe is the original GaitSet's (AAAI 2019, github.com/AbnerHqC/GaitSet, whose CASIA-B LT
numbers Table 1 quotes): Adam lr 1e-4, constant, 80k iterations, 8 × 16 sequences of 30 frames drawn
as an unordered set. OpenGait's configs/gaitset/gaitset.yaml trains it differently: SGD lr 0.1,
momentum 0.9, weight decay 5e-4, lr ×0.1 at 10k, 20k and 30k, 40k iterations (same batch); to run
that one: --config.optimizer.name=sgd --config.optimizer.lr=0.1 --config.optimizer.weight_decay=5e-4
--config.optimizer.schedule=multistep --config.optimizer.boundaries="(10000, 20000, 30000)"
--config.total_steps=40000.
"""

from selfgait_jax import config_defaults


def get_config(arg=None):
    return config_defaults.gaitset_config(config_defaults.parse_size(arg))
