"""The command-line flags every tool that reads a video shares (tools/silhouettes.py, gallery.py,
identify.py), and the extraction they ask for: one definition, so the three tools take the same
flags with the same defaults (tracking.TrackOptions')."""

from __future__ import annotations

import argparse

from selfgait_jax.video import clips, extract, segmenters, tracking


def add_extraction_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every tool that reads a video shares (silhouettes.py, gallery.py, identify.py)."""
    defaults = tracking.TrackOptions()
    parser.add_argument("--segmenter", default=segmenters.DEFAULT,
                        help=f"one of {sorted(segmenters.BUILT_IN)} or module:function (file.py:function): "
                             f"person (learned, any camera) or background (median / mog2 by length: a "
                             f"fixed camera, cheaper); see docs/video.md (default: %(default)s)")
    parser.add_argument("--min_frames", type=int, default=defaults.min_frames,
                        help="shortest kept walker, in frames (default: %(default)s)")
    parser.add_argument("--min_height", type=int, default=defaults.min_height,
                        help="smallest kept walker (median height, pixels after --max_height; default: %(default)s)")
    parser.add_argument("--max_gap", type=int, default=defaults.max_gap,
                        help="frames a walker may vanish (default: %(default)s)")
    parser.add_argument("--keep_merged", action="store_true",
                        help="keep frames whose body holds another walker too in the sequence (left out by default)")
    parser.add_argument("--max_frames", type=int, default=0,
                        help="read at most this many frames (0: all; default: %(default)s)")
    parser.add_argument("--max_height", type=int, default=0,
                        help="shrink taller frames to this height on reading (0: keep their size; "
                             "default: %(default)s)")


def tracking_options(args) -> tracking.TrackOptions:
    """The tracking options the flags above set."""
    return tracking.TrackOptions(min_frames=args.min_frames, min_height=args.min_height,
                                 max_gap=args.max_gap, keep_merged=args.keep_merged)


def extract_from_args(args) -> tuple[clips.Clip, extract.Extraction]:
    """The clip ``args.video`` names, read and cut into walkers as the flags above say."""
    clip = clips.read_clip(args.video, max_frames=args.max_frames, max_height=args.max_height)
    return clip, extract.extract_walkers(clip, args.segmenter, tracking_options(args))


def walkers_from_args(args) -> list[extract.Walker]:
    """The walkers `extract_from_args` finds; none is extract.NoWalkerFound naming the video and why."""
    _, extraction = extract_from_args(args)
    return extraction.require_walkers(args.video)
