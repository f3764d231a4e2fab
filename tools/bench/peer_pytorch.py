"""A plain PyTorch SelfGait pretraining step, to measure JAX against a PyTorch peer on the same machine.

    pip install torch   # CPU wheel; torch is NOT a dependency of selfgait_jax, only of this tool
    python3 tools/bench/peer_pytorch.py --out=FILE.json [--batch=8] [--frames=30] [--steps=5] [--threads=N]
        [--append-docs]

Why: the issue's target is "beat a plain PyTorch implementation of the same step". Timings on a shared
2-core machine move by ±25 % from one minute to the next, so the ratio is only meaningful when both
run side by side (docs/performance.md). The network is the paper's, as in selfgait_jax.models:
GaitSet conv stack (bias-free, leaky ReLU 0.01), HPM (1, 2, 4, 8, 16 strips, mean + max), part FCs,
MTB with per-part weights (grouped 1-D convolutions, one group per part), FC bins, BYOL projector and
predictor (Linear, BatchNorm, ReLU, Linear); target = EMA copy (τ = 0.996) fed frame k; loss
2 − 2·cos per part; Adam lr 1e-4. Random binary frames (content does not change the cost).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

BENCHMARKS_MD = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
BINS = (1, 2, 4, 8, 16)


def conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)


class Backbone(nn.Module):
    def __init__(self, c=(32, 64, 128)):
        super().__init__()
        self.convs = nn.ModuleList([conv(1, c[0], 5), conv(c[0], c[0], 3), conv(c[0], c[1], 3),
                                    conv(c[1], c[1], 3), conv(c[1], c[2], 3), conv(c[2], c[2], 3)])

    def forward(self, x):  # [B, 1, 64, 44] -> [B, 128, 16, 11]
        for i, layer in enumerate(self.convs):
            x = F.leaky_relu(layer(x), 0.01)
            if i in (1, 3):
                x = F.max_pool2d(x, 2)
        return x


def hpm(x):  # [B, C, 16, 11] -> [B, 31, C]
    b, c = x.shape[:2]
    parts = []
    for n in BINS:
        strips = x.reshape(b, c, n, -1)
        parts.append(strips.mean(-1) + strips.amax(-1))
    return torch.cat(parts, 2).permute(0, 2, 1)


class SeparateFCs(nn.Module):
    def __init__(self, parts, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(parts, cin, cout))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x):  # [..., P, C]
        return torch.einsum("...pc,pcf->...pf", x, self.weight)


class MTB(nn.Module):
    """Per-part weights as grouped 1-D convolutions over [N, P·C, T]."""

    def __init__(self, parts=31, c=128, squeeze=4):
        super().__init__()
        h = c // squeeze

        def c1d(cin, cout, k):
            return nn.Conv1d(parts * cin, parts * cout, k, padding=k // 2, groups=parts, bias=False)

        self.b1a, self.b1b = c1d(c, h, 3), c1d(h, c, 1)
        self.b2a, self.b2b = c1d(c, h, 3), c1d(h, c, 3)

    def forward(self, x):  # [N, T, P, C] -> [N, P, C]
        n, t, p, c = x.shape
        x = x.permute(0, 2, 3, 1).reshape(n, p * c, t)
        act = lambda y: F.leaky_relu(y, 0.01)  # noqa: E731
        att1 = torch.sigmoid(self.b1b(act(self.b1a(x))))
        att2 = torch.sigmoid(self.b2b(act(self.b2a(x))))
        t1 = F.avg_pool1d(x, 3, 1, 1) + F.max_pool1d(x, 3, 1, 1)
        t2 = F.avg_pool1d(x, 5, 1, 2) + F.max_pool1d(x, 5, 1, 2)
        out = (t1 * att1 + t2 * att2).amax(-1)
        return out.reshape(n, p, c)


class Head(nn.Module):
    def __init__(self, cin=128, hidden=256, cout=128):
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(cin, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, cout)

    def forward(self, x):  # [N, P, C]; BN over batch x parts
        n, p, _ = x.shape
        y = self.bn(self.fc1(x).reshape(n * p, -1))
        return self.fc2(F.relu(y)).reshape(n, p, -1)


class Online(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.part_fcs = Backbone(), SeparateFCs(31, 128, 128)
        self.mtb, self.fc_bins = MTB(), SeparateFCs(31, 128, 128)
        self.projector, self.predictor = Head(), Head()

    def frame_parts(self, frames):  # [B, H, W] -> [B, 31, 128]
        return self.part_fcs(hpm(self.backbone(frames[:, None])))

    def forward(self, frames):  # [N, T, H, W]
        n, t = frames.shape[:2]
        parts = self.frame_parts(frames.flatten(0, 1)).reshape(n, t, 31, 128)
        return self.predictor(self.projector(self.fc_bins(self.mtb(parts))))

    def target(self, frame):  # the target network's path (no MTB, no predictor)
        return self.projector(self.fc_bins(self.frame_parts(frame)))


def build_step(batch: int = 8, frames: int = 30, threads: int | None = None, seed: int = 0):
    """A callable running one full pretraining step (target forward, online forward/backward, Adam,
    EMA) on fixed random frames; tools/bench/benchmark.py --peer-pytorch interleaves it with the JAX step."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads or os.cpu_count())
    online = Online()
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(online.parameters(), lr=1e-4)
    clips = (torch.rand(batch, frames, 64, 44) < 0.3).float()
    target_frame = (torch.rand(batch, 64, 44) < 0.3).float()
    shared = [n for n, _ in online.named_parameters() if not n.startswith(("mtb", "predictor"))]

    def step():
        with torch.no_grad():
            z = target.target(target_frame)
        pred = online(clips)
        loss = (2 - 2 * F.cosine_similarity(pred, z, dim=-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            online_params = dict(online.named_parameters())
            for name, p in target.named_parameters():
                if name in shared:
                    p.mul_(0.996).add_(online_params[name], alpha=0.004)
        return loss.detach().item()

    return step


def time_steps(step, steps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--batch", type=int, default=8, help="sequences per step (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median; default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads (default: the CPU count, %(default)s)")
    parser.add_argument("--append-docs", action="store_true",
                        help="also append the result's line to docs/benchmarks.md (a tracked file)")
    args = parser.parse_args(argv)
    load_before = [round(v, 2) for v in os.getloadavg()]
    times = time_steps(build_step(args.batch, args.frames, args.threads), args.steps)
    step_s = statistics.median(times)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
        "torch_version": torch.__version__, "threads": args.threads,
        "load_average": load_before, "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "train_step": {"stage": "pretrain", "shape": [args.batch, args.frames, 64, 44],
                       "step_ms_median": round(step_s * 1e3, 1),
                       "step_ms_all": [round(t * 1e3, 1) for t in times],
                       "seq_per_s": round(args.batch / step_s, 3)},
    }
    text = json.dumps(result, indent=2)
    print(text)
    Path(args.out).write_text(text + "\n")
    if args.append_docs:
        t = result["train_step"]
        with BENCHMARKS_MD.open("a") as f:
            f.write(f"- {result['date'][:10]} `tools/bench/peer_pytorch.py` ({result['machine']}, torch "
                    f"{result['torch_version']}, {args.threads} threads, load average "
                    f"{load_before[0]}→{result['load_average_after'][0]}): plain PyTorch SelfGait "
                    f"pretrain step {'x'.join(map(str, t['shape']))} fp32: **{t['step_ms_median']:.0f} "
                    f"ms/step, {t['seq_per_s']:.2f} sequences/s**\n")


if __name__ == "__main__":
    main()
