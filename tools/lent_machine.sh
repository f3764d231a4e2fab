# Sourced, from the repository root, by the scripts for a lent GPU machine (tools/published_recipe.sh,
# tools/bench/benchmark_gpu.sh). Its image has jax, flax, optax, orbax and tensorboard but not
# ml-collections, clu or TensorFlow (docs/performance.md, docs/gpu_recipe.md): the wheels carried in
# .whl/ are installed into /tmp/site, and they and this checkout go on PYTHONPATH, so that
# `python3 tools/NAME.py` imports the package without installing it.
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
