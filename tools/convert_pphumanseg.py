"""Rebuild the person segmenter's network: PP-HumanSeg v1 lite, Paddle inference model -> ONNX.

    python tools/convert_pphumanseg.py --model_dir=DIR [--out=selfgait_jax/video/models/pphumanseg_v1_lite_192.onnx]

DIR holds PaddleSeg's ``human_pp_humansegv1_lite_192x192_inference_model_with_softmax`` export
(``model.pdmodel``, ``model.pdiparams``; Apache-2.0). The copy this repository ships was taken from
the history of github.com/jdyjjj/All-in-One-Gait, commit 09c0c9c (the parent of 3aa2265), folder
``OpenGait/demo/checkpoints/seg_model/human_pp_humansegv1_lite_192x192_inference_model_with_softmax/``
(model.pdmodel sha256 given in models/NOTICE). The conversion needs, in a scratch environment and
not in the project's:

    python3 -m venv /tmp/p2o && /tmp/p2o/bin/pip install paddle2onnx==1.2.11 onnx
    /tmp/p2o/bin/python tools/convert_pphumanseg.py --model_dir=DIR

paddle2onnx 1.2.x converts with its own C++ parser; its Python wrapper imports ``paddle`` only for
other entry points, so a stand-in module is put in its place when PaddlePaddle is absent (nothing
of it is called). ONNX opset 11; the result is deterministic (the same bytes each time) and its
sha256 must equal ``selfgait_jax.video.person.MODEL_SHA256``, which the segmenter checks on loading.
Checked once against PaddlePaddle 2.6.2's own inference on a real person crop and on noise: the
largest difference of the probabilities is 1.6e-6, no pixel's class differs.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import types
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "selfgait_jax" / "video" / "models" / "pphumanseg_v1_lite_192.onnx"
OPSET = 11


def convert(model_dir: Path, out: Path) -> str:
    """Writes the ONNX file; returns its sha256."""
    try:
        import paddle  # noqa: F401
    except ImportError:
        sys.modules["paddle"] = types.ModuleType("paddle")  # paddle2onnx.convert imports it, never uses it here
    from paddle2onnx import paddle2onnx_cpp2py_export as c_p2o

    model, params = model_dir / "model.pdmodel", model_dir / "model.pdiparams"
    for path in (model, params):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (--model_dir must hold model.pdmodel and model.pdiparams)")
    # Arguments: opset, auto-upgrade opset, verbose, ONNX checker, experimental ops, optimise,
    # custom ops, deploy backend, calibration file, external data file, fp16.
    data = c_p2o.export(str(model), str(params), OPSET, True, False, True, True, True, {}, "onnxruntime",
                        "", "", False)
    out.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, type=Path, help="the Paddle inference model's folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the ONNX file (default: %(default)s)")
    args = parser.parse_args(argv)
    digest = convert(args.model_dir, args.out)
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
