"""The names the library accepts and the CLI offers, each defined once.

Kept free of numpy, OpenCV and torch so that the CLI can build its choices from here while
``cevr --help`` and shell completion stay instant. Library modules validate against these same tuples.
"""

from __future__ import annotations

from .evs import CONTINUOUS_STACK, PREDEFINED_STACK

DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: CUDA, then MPS, then the CPU
_ONLY_DEVICE = {"cpu:0": "cpu", "mps:0": "mps"}  # a machine has one of each: PyTorch numbers it 0
NUMBERED_GPU = "cuda:N"  # beside DEVICES: one GPU of several by its number (cuda:0, cuda:1, ...), as PyTorch names it
DEVICE_HELP = "Device: auto picks CUDA, then MPS, then the CPU; cuda:N is the GPU PyTorch numbers N."


def device_name(value: str) -> str | None:
    """``value`` as a device name the library takes (lower case: ``CUDA:1`` is ``cuda:1``; ``cpu:0`` and ``mps:0``,
    as PyTorch names a tensor's device there, are ``cpu`` and ``mps``), or None for one it does not; whether a
    numbered GPU exists is for :func:`cevr_cli.model.device.resolve_device` to say."""
    name = value.strip().lower()
    name = _ONLY_DEVICE.get(name, name)
    number = name.removeprefix("cuda:")
    if name in DEVICES or (number != name and number.isascii() and number.isdecimal()):
        return name
    return None


# Photos: display-encoded images and camera RAW files, by suffix (lower case).
# HEIF (HEIC: Apple's and most Android phones' default) decoded by pillow-heif, AVIF by Pillow's own plugin,
# WebP (web and messaging exports) by OpenCV.
HEIF_SUFFIXES = (".heic", ".heif", ".hif")
LDR_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", *HEIF_SUFFIXES, ".avif", ".webp")
# Compressed lossily in blocks (JPEG; HEIF's HEVC, AVIF's AV1 and WebP's VP8 transforms): next to clipped pixels
# their codes carry the clip's ringing as well as light. (A lossless WebP is read as lossy too: the few near-white
# pixels joined to a clip are then taken as clipped, which costs little.)
LOSSY_SUFFIXES = (".jpg", ".jpeg", *HEIF_SUFFIXES, ".avif", ".webp")
RAW_SUFFIXES = (
    ".3fr", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".iiq", ".kdc", ".mef", ".mos", ".mrw",
    ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
)
PHOTO_SUFFIXES = LDR_SUFFIXES + RAW_SUFFIXES

# Where each stage writes when given no -o, and so where the next stage looks when given no inputs:
# photos -> `cevr stack` -> cevr-stacks/ -> `cevr fuse` -> cevr-hdr/ -> `cevr tonemap` -> cevr-tonemapped/.
STAGE_OUTPUTS = {"stack": "cevr-stacks", "fuse": "cevr-hdr", "tonemap": "cevr-tonemapped"}
PREVIOUS_STAGE = {"fuse": "stack", "tonemap": "fuse"}
# `cevr bench --dataset NAME` without a path: NAME's folder (any letter case) in $CEVR_DATASETS, else ./datasets.
DATASETS_ENV, DATASETS_FOLDER = "CEVR_DATASETS", "datasets"

# The key under which an output records the batch input it was made from (its resolved path): in a folder output's
# marker (stack.json, fuse.json) and in a file output's comment. Two inputs of one name, batched in separate runs
# into one -o, are told apart by it (batch.py), so that neither is skipped as done nor replaces the other's output.
MADE_FROM_KEY = "made_from"

# Stack images: container -> (suffix, bits per channel).
STACK_FORMATS: dict[str, tuple[str, int]] = {"png": (".png", 8), "tiff": (".tif", 16)}


def format_for_bits(bits: int) -> str:
    """The stack image format that holds ``bits`` per channel without loss."""
    return next(name for name, (_, depth) in STACK_FORMATS.items() if depth >= bits)

# HDR outputs: OpenEXR (half or float) or Radiance RGBE.
HDR_FORMATS = ("exr", "hdr")
HDR_SUFFIXES = tuple(f".{name}" for name in HDR_FORMATS)
# The record `cevr fuse` writes last in each photo's output folder; `cevr tonemap` knows such folders by it.
FUSE_MANIFEST = "fuse.json"
STACK_MANIFEST = "stack.json"  # a `cevr stack` folder's marker
# What marks a folder as a stage's output: a recursive walk for photos does not take their images for photos.
OUTPUT_MARKERS = (STACK_MANIFEST, FUSE_MANIFEST)
EXR_COMPRESSIONS = ("zip", "zips", "piz", "dwaa", "rle", "none")
EXR_COMPRESSION = "zip"  # the default: lossless, as OpenEXR's own tools write
# Display images: container -> (suffix, bits per channel).
DISPLAY_FORMATS: dict[str, tuple[str, int]] = {"png": (".png", 8), "jpg": (".jpg", 8), "tiff": (".tif", 16)}
MAX_MEGAPIXELS = 250.0  # a photo larger is refused unless --max-megapixels allows it (a decompression bomb)
MIN_PHOTO_SIDE = 16  # px: CEVR's encoder pools three times, and a thumbnail holds nothing to re-expose
DISPLAY_GAMMA = 2.2  # the HDR Toolbox's GammaTMO exponent, as in CEVR's evaluation
# Tone-mapping bounds wide of any use (Reinhard's keys are 0.045-0.72; display gammas 1-3; a white of 1e20 is the
# idiom for "no white point", L / (1 + L)) that keep the arithmetic finite: a key or white of 1e308 overflowed,
# 1e-300 gave black images.
TONEMAP_KEY_RANGE = (1e-3, 100.0)
TONEMAP_WHITE_RANGE = (1e-3, 1e100)
DISPLAY_GAMMA_RANGE = (0.1, 10.0)
# Tone mappers (hdr/tonemap.py implements each): CLI name -> what it is.
TONE_MAPPERS = {
    "reinhard": "Reinhard et al. 2002 photographic operator, global (automatic key as Reinhard 2002b; the scene's "
                "99.9th percentile luminance at display white)",
    "reinhard-local": "the same with dodging and burning (local adaptation)",
    "kimkautz": "Kim & Kautz 2008 consistent tone reproduction",
}

# Camera RAW: exact exposures from the linear sensor data with CEVR only where it clipped (linear), or the
# RAW developed to a display-encoded image and treated like a JPEG (cevr).
RAW_MODES = {"linear": "exact re-exposure of the sensor's linear data, CEVR filling only what the sensor clipped",
             "cevr": "develop to 16-bit display-encoded RGB, then CEVR re-exposes it like any photo"}

# `cevr stack` / `cevr fuse` / `cevr bench --model`: how frames are made (cevr_cli/exposure.py).
EXPOSURE_MODELS = {
    "cevr": "exact physics through the photo's response, the residual CEVR network filling what the photo clipped",
    "physics": "exact physics through the photo's response only: clipped highlights take the hue of the light "
               "around them, at least their recorded value, raised as far as that light rose towards the clip",
    "cevr-paper": "the paper's CEVR: the network re-exposes the photo, whatever its response",
}
# `--response`: the photo's tone curve (cevr_cli/response.py), or a profile .json from `cevr calibrate`.
RESPONSES = ("auto", "camera", "srgb", "gamma:G", "linear")
RESPONSE_SUGGESTIONS = ("auto", "camera", "srgb", "gamma:2.2", "linear")  # what shell completion offers
RESPONSE_HELP = ("Tone curve of the photos: auto (RAW -> linear; camera EXIF -> its installed profile, else the "
                 "camera prior; otherwise srgb), camera, srgb, gamma:G (e.g. gamma:2.2), linear, or a profile "
                 ".json from `cevr calibrate`.")
# `fuse --merge`: how the HDR image is made from a photo.
MERGES = {
    "auto": "measured, except debevec with --model cevr-paper (the paper's pipeline)",
    "measured": "the photo's own light R^-1(x) where it measured, the model's light where it clipped",
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
TRAINING_PRECISIONS = {
    "auto": "bf16 where the device runs it natively (CPUs with AVX512-BF16/AMX, CUDA), else fp32",
    "bf16": "bfloat16 autocast, float32 weights",
    "fp32": "float32 everywhere",
}
# Model variants (model/config.py's VARIANTS holds each one's shape).
MODEL_VARIANTS = {"cevr": "the paper's model", "cevr-tiny": "the same wiring at 1/8 of the width, for tests",
                  "cevr-residual": "the same network in the physics-first role: it fills only what the photo did "
                                   "not record (cevr_cli/exposure.py)",
                  "cevr-residual-tiny": "the residual role at 1/8 of the width, for tests"}
# What the residual network is trained on (`cevr train --objective`, residual variants only).
RESIDUAL_OBJECTIVES = {
    "frame": "each darker frame on its own, P + w (G - P) against the truth at s (physics revisions 1-2)",
    "light": "darker frames as inference makes them: the network's frames at -3..-0.5 EV merged into one light "
             "per clipped pixel, every frame its re-exposure (physics revision 3 on; darkening only)",
}
# Which checkpoint `cevr train` exports into the weights pair (`--keep`).
KEPT_CHECKPOINTS = {
    "best": "the checkpoint with the best mean validation PSNR",
    "last": "the last checkpoint, the end of the recipe whatever validation says (its validation is still recorded)",
}
# How the residual network's errors are pooled (`cevr train --loss`, residual variants only).
RESIDUAL_LOSSES = {
    "pixel": "L1 over every weighted pixel of the batch alike (large clipped skies dominate)",
    "photo": "each photo's log mean squared error (-PSNR), averaged over photos: every photo counts alike, as in "
             "a benchmark's mean PSNR, so a barely clipped overcast sky weighs as much as a sun",
    "photo-chroma": "photo, plus each photo's log mean squared chroma error (the error less its mean over the "
                    "channels), so that the highlights' hue counts as much as their brightness",
}

# `cevr bench`: dataset layouts and the paper's two stacks.
DATASET_KINDS = ("vds", "hdreye", "brackets", "synthetic")
STACK_KINDS = {"continuous": CONTINUOUS_STACK, "predefined": PREDEFINED_STACK}
# `cevr bench --metrics` (evaluation/metrics.py's METRICS implements each): LDR ones score each EV's image,
# HDR ones the fused radiance map.
LDR_METRICS = {"psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM"}
HDR_METRICS = {
    "reinhard_psnr": "PSNR after Reinhard tone mapping",
    "kimkautz_psnr": "PSNR after Kim-Kautz tone mapping",
    "pu21_psnr": "PSNR on PU21-encoded luminance",
    "pu21_ssim": "SSIM on PU21-encoded luminance",
    "hdrvdp2": "HDR-VDP-2.2.1 Q, the paper's metric",
    "cvvdp": "ColorVideoVDP, Mantiuk et al. 2024; needs pip install 'cevr[metrics]'",
}
# `cevr calibrate --method`: how a response is fitted to a bracket (cevr_cli/calibrate.py).
CALIBRATION_METHODS = {
    "basis": "Grossberg & Nayar 2003: 12 principal components of measured camera curves (default; no error that "
             "repeats every stop, the most accurate on noisy brackets)",
    "debevec": "Debevec & Malik 1997 least squares with smoothness",
    "robertson": "Robertson et al. 1999/2003 iteration (kept for comparison)",
}

# Folders a file system or an OS keeps at a volume's root, never a user's photos (fsck's recoveries, Windows's
# system and recycle folders): a walk passes over them as over hidden folders; they are often unreadable, and a
# card or disk walked with -r would otherwise fail on them every run.
SYSTEM_FOLDERS = frozenset({"lost+found", "system volume information", "$recycle.bin"})  # compared case-folded
