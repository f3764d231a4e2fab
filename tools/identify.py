"""Who is this walker? Rank the identities of a gallery tree by distance to one probe sequence.

    python tools/identify.py (--workdir=DIR [--step=N] | --model=FILE) --gallery=ROOT --probe=SEQ [--top=5]

ROOT is a tree root/subject/type/view/ of PNG frames (raw silhouettes, pretreated on load) or of
OpenGait pkl files. SEQ is a folder of PNG frames, a .pkl file, or a folder holding one .pkl.
--model is a file written by tools/export.py (runs without the training code).
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.data.sources import ArraySource, SequenceMeta
from selfgait_jax.evaluation import identify, protocol


def make_embedder(args):
    """embed(source) -> [len(source), parts, dim], from an exported file or a workdir's checkpoint.

    The probe goes through the same bucketed batches as the gallery, so it reuses their compiles.
    """
    if args.model:
        from selfgait_jax.evaluation.exported import load_exported

        model = load_exported(args.model)
        return lambda source: identify.embed_sequences(model, source)
    from selfgait_jax.evaluation import embed
    from selfgait_jax.train.checkpointing import load_for_inference

    _, embed_model, variables, _ = load_for_inference(args.workdir, args.step)
    fn = embed.make_embed_fn(embed_model)
    return lambda source: embed.embed_source(embed_model, variables, source, embed_fn=fn)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--workdir", help="training workdir (holds checkpoints/)")
    which.add_argument("--model", help="exported embedding file (tools/export.py)")
    parser.add_argument("--step", type=int, default=None, help="with --workdir: checkpoint step")
    parser.add_argument("--gallery", required=True, help="gallery tree root/subject/type/view/")
    parser.add_argument("--probe", required=True, help="probe: folder of PNG frames or a .pkl")
    parser.add_argument("--top", type=int, default=5, help="identities to print")
    parser.add_argument("--metric", default="euclidean", choices=protocol.METRICS)
    args = parser.parse_args(argv)
    try:
        probe = identify.read_probe(args.probe)
        gallery = identify.open_gallery(args.gallery)
        embed = make_embedder(args)
        probe_source = ArraySource("probe", [SequenceMeta("probe", "probe", "probe")], [probe])
        matches = identify.rank_identities(
            embed(probe_source)[0], embed(gallery), gallery.metas, args.metric
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"probe {args.probe}: {len(probe)} frames; gallery {args.gallery}: "
          f"{len(gallery)} sequences of {len({m.subject for m in gallery.metas})} identities")
    print(identify.format_matches(matches, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
