"""Time silhouette extraction from video per segmenter: frames per second, walkers, quality.

    python tools/bench/benchmark_video.py [--video=V] [--max_height=H] [--max_frames=N]
        [--segmenters=person,background] [--repeats=2] [--out=FILE.json] [--append-docs]

Without --video the clip is rendered: 250 frames of 480x360, two SynthGait walkers crossing (the
clip of docs/benchmarks.md's earlier video lines). Each segmenter runs ``extract.extract_walkers``
(segmentation, tracking, pretreatment to 64x44; decoding excluded) --repeats times, the segmenters
alternating so that they share the machine's load; the fastest run of each counts, and every run's
rate is recorded, and the CPU time per frame (all threads; on a machine shared with other jobs the
wall-clock rate says more about them than about the segmenter). The walkers found and the quality
measures (``video/quality.py``) come from the last run. Prints a JSON record (and writes it to
--out); --append-docs appends one line to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def rendered_clip():
    from selfgait_jax.data.synthgait.scene import Actor, render_scene
    from selfgait_jax.video.clips import Clip

    actors = [Actor("001", view=90, start=0.8, ground=0.92),
              Actor("002", view=270, start=0.2, ground=0.85, scale=0.22, clothes=1)]
    return Clip(render_scene(actors, size=(360, 480), frames=250).frames, 25.0, "rendered two walkers crossing")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", default=None, help="a video file or frame folder (default: a rendered clip)")
    parser.add_argument("--max_height", type=int, default=0,
                        help="shrink taller frames on reading (0: keep; default: %(default)s)")
    parser.add_argument("--max_frames", type=int, default=0,
                        help="read at most this many frames (0: all; default: %(default)s)")
    parser.add_argument("--segmenters", default="person,background",
                        help="comma-separated segmenters (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each segmenter (default: %(default)s)")
    parser.add_argument("--out", default=None, help="JSON file to write (default: none, printed only)")
    parser.add_argument("--append-docs", action="store_true", help="append a line to docs/benchmarks.md")
    args = parser.parse_args(argv)

    import cv2

    from selfgait_jax.video import clips, extract, quality

    load_before = round(os.getloadavg()[0], 2)
    clip = (clips.read_clip(args.video, max_frames=args.max_frames, max_height=args.max_height) if args.video
            else rendered_clip())
    names = [s for s in args.segmenters.split(",") if s]
    runs: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    found = {}
    for _ in range(args.repeats):
        for name in names:
            start, start_cpu = time.perf_counter(), time.process_time()
            extraction = extract.extract_walkers(clip, name)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
            runs[name].append(round(len(clip.frames) / seconds, 2))
            cpu[name].append(round(1000 * cpu_seconds / len(clip.frames), 2))
            found[name] = extraction
    height, width = clip.frames.shape[1:3]
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python tools/bench/benchmark_video.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "load_average": [load_before, round(os.getloadavg()[0], 2)],
        "clip": {"source": clip.source, "frames": len(clip.frames), "size": [width, height]},
        "segmenters": {
            name: {"frames_per_second": max(runs[name]), "runs": runs[name],
                   "cpu_ms_per_frame": min(cpu[name]), "cpu_ms_per_frame_runs": cpu[name],
                   "seconds_per_stage": {k: round(v, 2) for k, v in found[name].seconds.items()},
                   "walkers": len(found[name].walkers), "dropped": len(found[name].dropped),
                   "quality": {k: (round(v, 4) if v == v else None) for k, v in found[name].quality.items()},
                   "quality_text": quality.describe(found[name].quality)}
            for name in names},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.append_docs:
        _append_line(result)
    return result


def _append_line(r: dict) -> None:
    clip = r["clip"]
    parts = [f"**{name} {s['frames_per_second']:.1f} frames/s** (runs {', '.join(f'{x:.1f}' for x in s['runs'])}; "
             f"{s['cpu_ms_per_frame']:.0f} ms of CPU time per frame, both cores together; {s['walkers']} walkers; "
             f"{s['quality_text']})" for name, s in r["segmenters"].items()]
    line = (f"- {r['date'][:10]} `{r['command']}` ({r['machine']}, opencv {r['opencv']} with {r['opencv_threads']} "
            f"threads, load average {r['load_average'][0]}→{r['load_average'][1]}): silhouette extraction "
            f"(segmentation, tracking, pretreatment; decoding excluded) of {clip['source']}, {clip['frames']} "
            f"frames of {clip['size'][0]}x{clip['size'][1]}: " + "; ".join(parts) + "\n")
    with BENCHMARKS_MD.open("a") as f:
        f.write(line)


if __name__ == "__main__":
    main()
