"""Walkers' silhouettes from a static camera's video, as the PNG tree the readers and tools take.

    python tools/silhouettes.py --video=V --out=DIR [--segmenter=person|background|median|mog2|knn|module:function]
                                [--min_frames=15] [--min_height=48] [--max_gap=12] [--keep_merged]
                                [--max_frames=N] [--max_height=H] [--type=NAME] [--view=cam] [--overwrite]
                                [--compare=SEGMENTER]

V is any video OpenCV reads (mp4, avi, mov, mkv, ...) or a folder of frames. Writes
OUT/<walker>/<type>/<view>/<frame>.png (64x44 silhouettes, the project's pretreatment),
DIR/summary.json (each walker; each dropped track with its reason) and DIR/contact_sheet.png (the
silhouettes over the original frames); --compare=background cuts the clip with that segmenter
too and puts its sheet and its numbers beside. Frames where a walker's body also holds another walker are
left out of its sequence (--keep_merged keeps them). --segmenter=module:function plugs in any function
RGB frames uint8 [T, H, W, 3] -> masks [T, H, W]. See docs/video.md.
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.video import extract, quality
from selfgait_jax.video.flags import add_extraction_flags, extract_from_args, tracking_options


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="a video file or a folder of frames")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--type", default=None, metavar="NAME", help="name of the <type> folder in "
                        "OUT/<walker>/<type>/<view>/, e.g. nm-01 to file the walk as a dataset's normal walk "
                        "(default: the video's file name)")
    parser.add_argument("--view", default=extract.DEFAULT_VIEW, metavar="NAME", help="name of the <view> folder in "
                        "OUT/<walker>/<type>/<view>/, e.g. 090 for a camera at 90 degrees to the walk, as "
                        "CASIA-B names its views (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's output in --out")
    parser.add_argument("--compare", default=None,
                        help="another segmenter to cut the clip with too: its walkers and quality in the "
                             "summary, its contact sheet beside this one's (e.g. --compare=background; default: "
                             "none)")
    add_extraction_flags(parser)
    args = parser.parse_args(argv)
    try:
        clip, extraction = extract_from_args(args)
        other = (extract.extract_walkers(clip, args.compare, tracking_options(args)) if args.compare else None)
        record = extract.write_extraction(extraction, clip, args.out, sequence_type=args.type,
                                          view=args.view, overwrite=args.overwrite, compare=other)
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
    print(f"quality (no labels): {quality.describe(extraction.quality)}")
    if other is not None:
        print(f"compared with segmenter {other.segmenter}: {len(other.walkers)} walkers, "
              f"{len(other.dropped)} tracks dropped, {other.frames_per_second:.0f} frames/s; "
              f"quality {quality.describe(other.quality)}")
    print(f"contact sheet: {args.out}/{extract.CONTACT_SHEET}; summary: {args.out}/{extract.SUMMARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
