"""Write a PNG contact sheet of one SynthGait subject: rows = view x condition, columns = frames.

    python3 tools/contact_sheet.py --dataset synthgait_b --subject 001 --out docs/images/synthgait_b.png
    python3 tools/contact_sheet.py --augment=contrastive --out docs/images/augmentations_contact_sheet.png

``--augment=PRETEXT`` draws instead one sequence (the first type and view) and independently
augmented copies of it, as that pretext's step augments its clips (``train/augment.py``).

Rendering is direct (no cache), so this works on any machine in a few seconds.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from selfgait_jax import config_defaults
from selfgait_jax.data.datasets import DATASETS
from selfgait_jax.data.synthgait.dataset import SynthGaitSpec, render_walk
from selfgait_jax.train import augment, pretexts
from selfgait_jax.train.pretexts import PRETEXT_NAMES


def sequence_rows(
    spec: SynthGaitSpec, subject: str, types: list[str], views: list[str], frames: int, stride: int
) -> list:
    """(label, frames) per (type, view): ``frames`` frames ``stride`` apart."""
    spec = SynthGaitSpec(spec.name, spec.seed, (subject,), tuple(types), tuple(views), frames * stride, frames * stride)
    rows = []
    for sequence_type in types:
        for view, sequence in zip(views, render_walk(spec, subject, sequence_type)):
            rows.append((f"{sequence_type} {view}", sequence[::stride][:frames]))
    return rows


def draw_rows(rows) -> Image.Image:
    """``rows``: (label, uint8 frames [T, 64, 44]) → one sheet, a row each."""
    label_width, gap = 70, 2
    frames = max(len(sequence) for _, sequence in rows)
    height = len(rows) * (64 + gap)
    width = label_width + frames * (44 + gap)
    sheet = Image.new("L", (width, height), 40)
    draw = ImageDraw.Draw(sheet)
    for r, (label, sequence) in enumerate(rows):
        y = r * (64 + gap)
        draw.text((4, y + 26), label, fill=255)
        for c, frame in enumerate(sequence):
            sheet.paste(Image.fromarray(np.asarray(frame)), (label_width + c * (44 + gap), y))
    return sheet


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synthgait_b",
                        choices=[n for n, d in DATASETS.items() if d.generated and d.labelled],
                        help="the SynthGait set to draw (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the dataset's seed (default: %(default)s)")
    parser.add_argument("--subject", default="001", help="whose walks (default: %(default)s)")
    parser.add_argument("--types", default="nm-01,bg-01,cl-01",
                        help="comma-separated sequence types, one row each (default: %(default)s)")
    parser.add_argument("--views", default="000,036,090,144,180",
                        help="comma-separated views, one column block each (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=12, help="frames shown per walk (default: %(default)s)")
    parser.add_argument("--stride", type=int, default=3, help="take every stride-th frame (default: %(default)s)")
    parser.add_argument("--augment", default="", choices=["", *PRETEXT_NAMES],
                        help="draw one walk and augmented copies of it as this pretext makes them "
                             "(default: none, the plain sheet)")
    parser.add_argument("--copies", type=int, default=6, help="with --augment: augmented copies (default: %(default)s)")
    parser.add_argument("--out", required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    known = DATASETS[args.dataset].full.views
    views = args.views.split(",")
    unknown = [v for v in views if v not in known]
    if unknown:
        parser.error(f"--views {unknown} are not views of {args.dataset}: {known}")
    spec = SynthGaitSpec(args.dataset, args.seed, (args.subject,), ("nm-01",), tuple(views), 1, 1)
    rows = sequence_rows(spec, args.subject, args.types.split(","), views, args.frames, args.stride)
    if args.augment:
        config = config_defaults.pretrain_config("full")
        config.pretext.name = args.augment
        aug = pretexts.resolve(config).augment
        label, original = rows[0]
        copies = augment.augmented_examples(original, aug, args.copies, args.seed)
        rows = [(label, original)] + [(f"{args.augment} {i + 1}", c) for i, c in enumerate(copies)]
    sheet = draw_rows(rows)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()
