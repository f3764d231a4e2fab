"""An enrolled gallery of named walkers, for tools/identify.py.

    python3 tools/gallery.py enroll --model=M --gallery=G.npz --name=NAME \
        (--video=V [--walker=walker-01] | --sequence=DIR)
    python3 tools/gallery.py list --gallery=G.npz
    python3 tools/gallery.py remove --gallery=G.npz --name=NAME

enroll embeds one walk with the exported model M (tools/export.py) and adds it under NAME (a name may
have several walks). --video runs tools/silhouettes.py's extraction (same flags); a video with several
walkers needs --walker. --sequence is a folder of silhouette PNGs, a .pkl, or a folder holding one
such sequence (e.g. one walker of tools/silhouettes.py's output). The gallery records the model;
enrolling or identifying with another one is refused. Writes are atomic. See docs/video.md.
"""

from __future__ import annotations

import argparse
import sys

from selfgait_jax.evaluation import gallery as gallery_lib
from selfgait_jax.evaluation import identify
from selfgait_jax.video.flags import add_extraction_flags, walkers_from_args


def walk_to_enroll(args) -> tuple[str, object]:
    """``(source description, frames uint8 [T, 64, 44])`` of the one walk --video or --sequence names."""
    if args.sequence:
        found = identify.read_sequences(args.sequence)
        if len(found) != 1:
            raise ValueError(f"{args.sequence}: holds {len(found)} sequences ({', '.join(k for k, _ in found)}); "
                             f"name the one to enroll")
        return found[0]
    found = walkers_from_args(args)
    walkers = {w.name: w for w in found}
    describe = ", ".join(f"{w.name} (frames {w.track.first_frame}-{w.track.end_frame})" for w in found)
    if args.walker:
        if args.walker not in walkers:
            raise ValueError(f"{args.video}: no {args.walker}; found {describe}")
        walker = walkers[args.walker]
    elif len(walkers) > 1:
        raise ValueError(f"{args.video}: {len(walkers)} walkers found: {describe}; choose one with "
                         f"--walker (tools/silhouettes.py's contact sheet shows which is which)")
    else:
        walker = found[0]
    return f"{args.video}#{walker.name}", walker.frames


def enroll(args) -> str:
    from selfgait_jax.evaluation.exported import load_exported

    gallery, source, frames = gallery_lib.enroll(args.gallery, load_exported(args.model), args.name,
                                                 lambda: walk_to_enroll(args))
    count = gallery.identities()[args.name]
    return (f"enrolled {args.name} from {source} ({frames} silhouettes; walk {count} of {args.name}); "
            f"{args.gallery}: {_count(len(gallery.identities()), 'identity', 'identities')}, "
            f"{_count(len(gallery), 'walk', 'walks')}")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def listing(args) -> str:
    gallery = gallery_lib.load_gallery(args.gallery)
    lines = [f"{args.gallery}: {_count(len(gallery.identities()), 'identity', 'identities')}, "
             f"{_count(len(gallery), 'walk', 'walks')}, model "
             f"{gallery_lib.describe_model(gallery.model)}"]
    for name, count in gallery.identities().items():
        sources = [s for n, s in zip(gallery.names, gallery.sources) if n == name]
        lines.append(f"  {name}: {count} walk{'s' if count > 1 else ''} ({'; '.join(sources)})")
    return "\n".join(lines)


def remove(args) -> str:
    gallery, removed = gallery_lib.remove(args.gallery, args.name)
    return (f"removed {args.name} ({_count(removed, 'walk', 'walks')}); {args.gallery}: "
            f"{_count(len(gallery.identities()), 'identity', 'identities')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    enroll_parser = commands.add_parser("enroll", help="add a walk under a name")
    enroll_parser.add_argument("--model", required=True, help="exported model file (tools/export.py)")
    enroll_parser.add_argument("--gallery", required=True, help="gallery file (.npz; created if missing)")
    enroll_parser.add_argument("--name", required=True, help="who walks")
    which = enroll_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--video", help="a video (or folder of frames) of the walker (this or --sequence is required)")
    which.add_argument("--sequence", help="a silhouette sequence folder, or a .pkl (this or --video is required)")
    enroll_parser.add_argument("--walker", default=None,
                               help="with --video: which walker (walker-01, ...; default: the only one)")
    add_extraction_flags(enroll_parser)
    list_parser = commands.add_parser("list", help="the enrolled names")
    list_parser.add_argument("--gallery", required=True, help="gallery file (.npz)")
    remove_parser = commands.add_parser("remove", help="remove every walk of a name")
    remove_parser.add_argument("--gallery", required=True, help="gallery file (.npz)")
    remove_parser.add_argument("--name", required=True, help="whose walks to remove")
    args = parser.parse_args(argv)
    try:
        print({"enroll": enroll, "list": listing, "remove": remove}[args.command](args))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
