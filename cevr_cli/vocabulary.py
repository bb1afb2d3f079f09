"""The names the library accepts and the CLI offers, each defined once.

Kept free of numpy, OpenCV and torch so that the CLI can build its choices from here while
``cevr --help`` and shell completion stay instant. Library modules validate against these same tuples.
"""

from __future__ import annotations

from .evs import CONTINUOUS_STACK, PREDEFINED_STACK

DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: CUDA, then MPS, then the CPU

# Stack images: container -> (suffix, bits per channel).
STACK_FORMATS: dict[str, tuple[str, int]] = {"png": (".png", 8), "tiff": (".tif", 16)}
# HDR outputs: OpenEXR (half or float) or Radiance RGBE.
HDR_FORMATS = ("exr", "hdr")
HDR_SUFFIXES = tuple(f".{name}" for name in HDR_FORMATS)
EXR_COMPRESSIONS = ("zip", "zips", "piz", "dwaa", "rle", "none")
# Display images: container -> (suffix, bits per channel).
DISPLAY_FORMATS: dict[str, tuple[str, int]] = {"png": (".png", 8), "jpg": (".jpg", 8), "tiff": (".tif", 16)}

# Camera RAW: exact exposures from the linear sensor data with CEVR only where it clipped (linear), or the
# RAW developed to a display-encoded image and treated like a JPEG (cevr).
RAW_MODES = {"linear": "exact re-exposure of the sensor's linear data; CEVR fills only what the sensor clipped",
             "cevr": "develop to 16-bit display-encoded RGB, then CEVR re-exposes it like any photo"}

# `cevr stack` / `cevr fuse` / `cevr bench --model`: how frames are made (cevr_cli/exposure.py).
EXPOSURE_MODELS = {
    "cevr": "exact physics through the photo's response; the residual CEVR network fills what the photo clipped",
    "physics": "exact physics through the photo's response only; clipped highlights stay at their recorded value",
    "cevr-paper": "the paper's CEVR: the network re-exposes the photo, whatever its response",
}
# `--response`: the photo's tone curve (cevr_cli/response.py), or a profile .json from `cevr calibrate`.
RESPONSES = ("auto", "camera", "srgb", "gamma:G", "linear")
RESPONSE_HELP = ("Tone curve of the photos: auto (RAW -> linear; camera EXIF -> its installed profile, else the "
                 "camera prior; otherwise srgb), camera, srgb, gamma:G (e.g. gamma:2.2), linear, or a profile "
                 ".json from `cevr calibrate`.")
# `fuse --merge`: how the HDR image is made from a photo.
MERGES = {
    "auto": "measured, except debevec with --model cevr-paper (the paper's pipeline)",
    "measured": "the photo's own light R^-1(x) where it measured, filled from the darker frames where it clipped",
    "debevec": "Debevec & Malik 1997: the response recovered from the stack and the stack merged (the paper)",
}

# `cevr stack` / `cevr fuse --precision`: the arithmetic of inference.
INFERENCE_PRECISIONS = {
    "auto": "fp32 (the measured fastest on CPUs tried so far)",
    "fp32": "float32 everywhere",
    "bf16": "bfloat16 features, float32 intensity maps (CPUs with AVX512-BF16/AMX, CUDA)",
    "fp16": "float16 features, float32 intensity maps (CUDA, MPS)",
}

# `cevr train`: which model(s), how the cycle loss splits s (Eq. 4), arithmetic precision.
TRAIN_DIRECTIONS = ("inc", "dec", "both")
CYCLE_SPLITS = ("random", "half")  # random: a ~ U[0, 1] (paper); half: s/2 (released code)
PRECISIONS = ("auto", "bf16", "fp32")

# `cevr bench`: dataset layouts and the paper's two stacks.
DATASET_KINDS = ("vds", "hdreye", "brackets", "synthetic")
STACK_KINDS = {"continuous": CONTINUOUS_STACK, "predefined": PREDEFINED_STACK}
# `cevr calibrate --method`: how a response is fitted to a bracket (cevr_cli/calibrate.py).
CALIBRATION_METHODS = {
    "debevec": "Debevec & Malik 1997 least squares with smoothness (the more accurate on measured curves)",
    "robertson": "Robertson et al. 1999/2003 iteration (kept for comparison)",
}
