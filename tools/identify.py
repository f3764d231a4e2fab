"""Who is this walker? For each walker: the nearest identities of a gallery, and a name or "unknown".

    python3 tools/identify.py --model=M --gallery=G.npz (--video=V | --probe=SEQ) [--top=5] [--threshold=T]
    python3 tools/identify.py (--workdir=DIR [--step=N] | --model=M) --gallery=ROOT --probe=SEQ [--top=5]

G.npz is a gallery enrolled with tools/gallery.py (with the same model M); ROOT is a tree
root/subject/type/view/ of PNG frames (raw silhouettes, pretreated on load) or of OpenGait pkl files.
--video finds the walkers of a video as tools/silhouettes.py does (same flags). SEQ is a folder of
PNG frames, a .pkl file, a folder holding one .pkl, or a folder of several such sequences (e.g.
tools/silhouettes.py's output: one answer per walker). --model is a file written by tools/export.py
(runs without the training code). A walker whose nearest identity is farther than the threshold is
"unknown": --threshold, else the one stored with the model (tools/evaluate.py's, at a false-accept
rate; see docs/evaluation.md), else the nearest identity is the answer (closed set).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import selfgait_jax
from selfgait_jax.data.sources import ArraySource, SequenceMeta
from selfgait_jax.evaluation import gallery as gallery_lib
from selfgait_jax.evaluation import identify, ranking
from selfgait_jax.video.flags import add_extraction_flags, walkers_from_args


def probes_of(args) -> list[tuple[str, object]]:
    """``(label, frames [T, 64, 44])`` per walker: the video's walkers, or the sequences at --probe."""
    if args.probe:
        return identify.read_sequences(args.probe)
    return [(f"{w.name} (frames {w.track.first_frame}-{w.track.end_frame})", w.frames) for w in walkers_from_args(args)]


def gallery_of(args, model, embed):
    """``(embeddings [G, parts, dim], metas, description)`` of a gallery file or tree."""
    if Path(args.gallery).suffix.lower() == ".npz" or Path(args.gallery).is_file():
        return gallery_lib.searchable(args.gallery, model)
    tree = identify.open_gallery(args.gallery)
    return (embed(tree), tree.metas,
            f"{len(tree)} sequences of {len({m.subject for m in tree.metas})} identities")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--workdir", help="training workdir (holds checkpoints/; this or --model is required)")
    which.add_argument("--model", help="exported embedding file (tools/export.py; this or --workdir is required)")
    parser.add_argument("--step", type=int, default=None,
                        help="with --workdir: checkpoint step (default: the latest)")
    parser.add_argument("--gallery", required=True,
                        help="gallery file (tools/gallery.py) or tree root/subject/type/view/")
    probe = parser.add_mutually_exclusive_group(required=True)
    probe.add_argument("--probe", help="probe: folder of PNG frames, a .pkl, or a folder of such sequences "
                                       "(this or --video is required)")
    probe.add_argument("--video", help="a video (or folder of frames): every walker in it "
                                       "(this or --probe is required)")
    parser.add_argument("--top", type=int, default=5, help="identities to print per walker (default: %(default)s)")
    parser.add_argument("--metric", default="euclidean", choices=ranking.METRICS,
                        help="distance the gallery is ranked by (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="\"unknown\" above this distance (default: the model's stored threshold)")
    add_extraction_flags(parser)
    args = parser.parse_args(argv)
    selfgait_jax.configure_jax()
    try:
        probes = probes_of(args) if args.probe else None  # cheap: before the gallery, a video after it
        embed, model = identify.open_embedder(args.model, args.workdir, args.step)
        gallery, metas, described = gallery_of(args, model, embed)
        probes = probes if probes is not None else probes_of(args)
        probe_metas = [SequenceMeta(f"probe{i}", "probe", "probe") for i in range(len(probes))]
        embeddings = embed(ArraySource("probe", probe_metas, [frames for _, frames in probes]))
        if args.threshold is not None:
            threshold, note = args.threshold, f"threshold {args.threshold:g} (--threshold)"
        elif model is not None:
            threshold, note = identify.stored_threshold(model.meta, args.metric)
        else:
            threshold, note = None, "no threshold (a workdir stores none; pass --threshold)"
        answers = [(label, len(frames), identify.rank_identities(e, gallery, metas, args.metric))
                   for (label, frames), e in zip(probes, embeddings)]
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"gallery {args.gallery}: {described}; {note}")
    for label, length, matches in answers:
        answer = identify.decide(matches, threshold)
        nearest = matches[0]
        if answer == identify.UNKNOWN:
            verdict = f"unknown (nearest {nearest.subject} at {nearest.distance:.4f} > {threshold:.4g})"
        elif threshold is None:
            verdict = f"{answer} (nearest; closed set)"
        else:
            verdict = f"{answer} ({nearest.distance:.4f} <= {threshold:.4g})"
        print(f"\n{label}: {length} frames -> {verdict}")
        print(identify.format_matches(matches, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
