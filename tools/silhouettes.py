"""Walkers' silhouettes from a static camera's video, as the PNG tree the readers and tools take.

    python tools/silhouettes.py --video=V --out=DIR [--segmenter=background|median|mog2|knn|module:function]
                                [--min_frames=15] [--min_height=48] [--max_gap=12] [--keep_merged]
                                [--max_frames=N] [--max_height=H] [--type=NAME] [--view=cam] [--overwrite]

V is any video OpenCV reads (mp4, avi, mov, mkv, ...) or a folder of frames. Writes
OUT/<walker>/<type>/<view>/<frame>.png (64x44 silhouettes, the project's pretreatment),
DIR/summary.json (each walker; each dropped track with its reason) and DIR/contact_sheet.png (the
silhouettes over the original frames). Frames where a walker's body also holds another walker are
left out of its sequence (--keep_merged keeps them). --segmenter=module:function plugs in any function
RGB frames uint8 [T, H, W, 3] -> masks [T, H, W]. See docs/video.md.
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.video import extract
from selfgait_jax.video.flags import add_extraction_flags, extract_from_args


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
    add_extraction_flags(parser)
    args = parser.parse_args(argv)
    try:
        clip, extraction = extract_from_args(args)
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
