"""Walkers' silhouettes from a static camera's video, as the PNG tree the readers and tools take.

    python tools/silhouettes.py --video=V --out=DIR [--segmenter=background|median|mog2|knn|module:function]
                                [--min_frames=15] [--min_height=48] [--max_gap=12] [--keep_merged]
                                [--max_frames=N] [--max_height=H] [--type=NAME] [--view=cam] [--overwrite]

V is any video OpenCV reads (mp4, avi, mov, mkv, ...) or a folder of frames. Writes
DIR/<walker>/<type>/<view>/<frame>.png (64x44 silhouettes, the project's pretreatment),
DIR/summary.json (each walker; each dropped track with its reason) and DIR/contact_sheet.png (the
silhouettes over the original frames). Frames where a walker's body also holds another walker are
left out of its sequence (--keep_merged keeps them). --segmenter=module:function plugs in any function
RGB frames uint8 [T, H, W, 3] -> masks [T, H, W]. See docs/video.md.
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.video import clips, extract, segmenters, tracking


def add_extraction_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every tool that reads a video shares (this one, gallery.py, identify.py)."""
    defaults = tracking.TrackOptions()
    parser.add_argument("--segmenter", default="background",
                        help=f"one of {sorted(segmenters.BUILT_IN)} or module:function (file.py:function) "
                             f"(default: %(default)s)")
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


def extract_from_args(args, *, require_walkers: bool = True) -> tuple[clips.Clip, extract.Extraction]:
    """The clip at --video and its extraction; ``require_walkers``: extract.NoWalkerFound when no
    walker is kept."""
    clip = clips.read_clip(args.video, max_frames=args.max_frames, max_height=args.max_height)
    options = tracking.TrackOptions(min_frames=args.min_frames, min_height=args.min_height,
                                    max_gap=args.max_gap, keep_merged=args.keep_merged)
    extraction = extract.extract_walkers(clip, args.segmenter, options)
    if require_walkers:
        extraction.require_walkers(args.video)
    return clip, extraction


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="a video file or a folder of frames")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--type", default=None, help="the sequence type folder (default: the video's name)")
    parser.add_argument("--view", default=extract.DEFAULT_VIEW, help="the view folder (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's output in --out")
    add_extraction_flags(parser)
    args = parser.parse_args(argv)
    try:
        clip, extraction = extract_from_args(args, require_walkers=False)
        record = extract.write_extraction(extraction, clip, args.out, sequence_type=args.type,
                                          view=args.view, overwrite=args.overwrite)
    except ValueError as error:  # clips.VideoError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.video}: {record['frames']} frames of {record['frame_size'][0]}x{record['frame_size'][1]}, "
          f"segmenter {record['segmenter']}, {record['frames_per_second']:.0f} frames/s")
    for walker, found in zip(record["walkers"], extraction.walkers):
        left_out = extract.left_out_text(found.track)
        print(f"  {walker['name']}: {walker['silhouettes']} silhouettes (frames {walker['first_frame']}-"
              f"{walker['last_frame']}{'; ' + left_out if left_out else ''}) -> {args.out}/{walker['folder']}")
    for dropped in record["dropped"]:
        print(f"  dropped track {dropped['track']} (frames {dropped['first_frame']}-{dropped['last_frame']}): "
              f"{dropped['reason']}")
    if not record["walkers"]:
        print("  no walker found")
    print(f"contact sheet: {args.out}/{extract.CONTACT_SHEET}; summary: {args.out}/{extract.SUMMARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
