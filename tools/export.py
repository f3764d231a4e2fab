"""Export a trained embedding network as one portable file (serialized StableHLO + params).

    python tools/export.py --workdir=DIR [--step=N] --out=FILE [--platforms=cpu,cuda]

The batch and sequence-length dimensions are symbolic, so one file embeds any number of sequences of
any length. Load it without the training code:

    from selfgait_jax.evaluation.exported import load_exported
    embed = load_exported("model.npz")
    embeddings = embed(frames_uint8_NT6444, mask_bool_NT)   # float32 [N, parts, dim]
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.evaluation import exported


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="training workdir (holds checkpoints/)")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    parser.add_argument("--out", required=True, help="file to write (a .npz)")
    parser.add_argument("--platforms", default=",".join(exported.DEFAULT_PLATFORMS),
                        help="comma-separated jax.export platforms (cpu, cuda, rocm, tpu)")
    args = parser.parse_args(argv)
    from selfgait_jax.train.checkpointing import load_for_inference

    try:
        config, embed_model, variables, step = load_for_inference(args.workdir, args.step)
        meta = exported.export_embedding(
            embed_model, variables, args.out,
            platforms=[p.strip() for p in args.platforms.split(",") if p.strip()],
            extra_meta={"model": config.model.name, "dataset": config.data.name, "step": step},
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {meta['model']} step {step}, output {meta['output']}, "
          f"platforms {','.join(meta['platforms'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
