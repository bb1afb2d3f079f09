"""Dataset readers on tiny fake layouts of each kind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cevr_cli.errors import InputError, UsageError
from cevr_cli.evaluation.datasets import ev_from_name, load_dataset
from cevr_cli.evs import CONTINUOUS_EVS
from cevr_cli.io.hdrfile import write_exr, write_radiance_hdr


def _png(path: Path, value: float, shape: tuple[int, int] = (20, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((*shape, 3), round(value * 255), np.uint8))


def _hdr(path: Path, value: float = 2.0, shape: tuple[int, int] = (20, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_radiance_hdr(path, np.full((*shape, 3), value, np.float32))


@pytest.mark.parametrize(("name", "ev"), [
    ("ev-1.png", -1.0), ("EV+0.5.jpg", 0.5), ("scene_-2EV.tif", -2.0), ("03_ev+1.00.png", 1.0),
    ("t12_0EV_true.jpg.png", 0.0), ("t1_-3EV_true.jpg", -3.0), ("level2.png", None), ("photo.jpg", None),
])
def test_ev_from_name(name: str, ev: float | None) -> None:
    assert ev_from_name(name) == ev


def test_vds_distributed_layout(tmp_path: Path) -> None:
    for scene in ("t2", "t10"):
        for ev in range(-3, 4):
            _png(tmp_path / "test_set" / scene / f"{scene}_{ev}EV_true.jpg.png", 0.5 + 0.05 * ev)
        _hdr(tmp_path / "test_hdr_set" / scene / "target_hdr.hdr")
    scenes = load_dataset("vds", tmp_path, size=16)
    assert [s.name for s in scenes] == ["t2", "t10"]
    s = scenes[0]
    assert sorted(s.ldr_by_ev) == [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]
    assert s.input_ev0.shape == (16, 16, 3) and s.input_ev0.dtype == np.float32
    assert s.input_ev0[0, 0, 0] == pytest.approx(round(0.5 * 255) / 255)
    assert s.ldr_by_ev[3.0][0, 0, 0] == pytest.approx(round(0.65 * 255) / 255)
    assert s.hdr is not None and s.hdr.shape == (16, 16, 3) and s.hdr[0, 0, 0] == pytest.approx(2.0, rel=0.01)
    with pytest.raises(UsageError, match="train_set"):  # the folder given is wrong: the request's, exit 2
        load_dataset("vds", tmp_path, split="train")



@pytest.mark.parametrize(("scenes", "truths"), [("test_set", "test_hdr_set"), ("test/set", "test/hdr_set")])
def test_the_scenes_folder_given_finds_the_hdr_truths_beside_it(tmp_path: Path, scenes: str, truths: str) -> None:
    # `cevr bench --dataset vds VDS/test_set` read the scenes and no HDR truth (it looked in test_set/test_hdr_set):
    # every HDR metric n/a, with a gap naming no place it had looked
    for ev in range(-1, 2):
        _png(tmp_path / scenes / "t1" / f"t1_{ev}EV_true.jpg.png", 0.5)
    _hdr(tmp_path / truths / "t1" / "target_hdr.hdr")
    (scene,) = load_dataset("vds", tmp_path / scenes, size=16)
    assert scene.hdr is not None and scene.hdr[0, 0, 0] == pytest.approx(2.0, rel=0.01)


def test_two_frames_at_one_ev_are_named_not_one_picked_by_listing_order(tmp_path: Path) -> None:
    scene = tmp_path / "test_set" / "t1"
    for ev in range(-3, 4):
        _png(scene / f"t1_{ev}EV_true.jpg", 0.5)
    _png(scene / "t1_1EV_true.jpg.png", 0.9)  # a converted copy beside the original: which one is the truth?
    with pytest.raises(InputError, match=r"t1: two frames at EV \+1: t1_1EV_true\.jpg and t1_1EV_true\.jpg\.png"):
        load_dataset("vds", tmp_path, size=16)
    ldr = tmp_path / "eye" / "images" / "LDR"
    ldr.mkdir(parents=True)
    for name in ("C01_LDR.tif", "C01_LDR.tiff"):  # was two scenes named C01, scored twice
        cv2.imwrite(str(ldr / name), np.full((20, 24, 3), 30000, np.uint16))
    with pytest.raises(InputError, match=r"C01_LDR\.tiff: a second input of scene C01, beside C01_LDR\.tif"):
        load_dataset("hdreye", tmp_path / "eye", size=16)
    cv2.imwrite(str(ldr / "C02_LDR.tif"), np.full((20, 24, 3), 30000, np.uint16))
    skipped: list[str] = []
    assert [s.name for s in load_dataset("hdreye", tmp_path / "eye", size=16, skipped=skipped)] == ["C02"]
    assert skipped == [f"scene skipped: {ldr / 'C01_LDR.tiff'}: a second input of scene C01, beside C01_LDR.tif; "
                       "keep one"]


def test_a_scene_with_a_file_that_cannot_be_used_is_left_out_and_named_the_others_are_read(tmp_path: Path) -> None:
    """One broken scene stopped the whole benchmark; it is now a line of ``skipped`` (the CLI's "incomplete", exit 1)
    and the other scenes are read."""
    vds = tmp_path / "vds"
    for scene in ("t1", "t2", "t3", "t4"):
        for ev in range(-3, 4):
            _png(vds / "test_set" / scene / f"{scene}_{ev}EV_true.jpg.png", 0.5)
    (vds / "test_set" / "t2" / "t2_1EV_true.jpg.png").write_bytes(b"not a png")  # corrupt
    (vds / "test_set" / "t3" / "t3_0EV_true.jpg.png").unlink()  # missing its input
    _png(vds / "test_set" / "t4" / "t4_2EV_true.jpg.png", 0.5, shape=(24, 20))  # another size, at the native size
    skipped: list[str] = []
    assert [s.name for s in load_dataset("vds", vds, size=None, skipped=skipped)] == ["t1"]
    assert len(skipped) == 3 and all(line.startswith("scene skipped: ") for line in skipped), skipped
    assert skipped[0].startswith(f"scene skipped: {vds / 'test_set' / 't2' / 't2_1EV_true.jpg.png'}: ")
    assert skipped[1] == f"scene skipped: {vds / 'test_set' / 't3'}: VDS scene has no EV 0 image t3_0EV_true.jpg[.png]"
    assert skipped[2].startswith(f"scene skipped: {vds / 'test_set' / 't4' / 't4_2EV_true.jpg.png'}: 20x24 px, but")
    assert [s.name for s in load_dataset("vds", vds, size=16)] == ["t1", "t4"]  # resized, t4 compares
    eye = tmp_path / "eye" / "images"
    for name in ("C01", "C02"):
        (eye / "LDR").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(eye / "LDR" / f"{name}_LDR.tif"), np.full((20, 24, 3), 30000, np.uint16))
        _hdr(eye / "HDR" / f"{name}_HDR.hdr")
    (eye / "HDR" / "C01_HDR.hdr").write_bytes(b"junk")
    skipped = []
    assert [s.name for s in load_dataset("hdreye", tmp_path / "eye", size=16, skipped=skipped)] == ["C02"]
    assert len(skipped) == 1 and skipped[0].startswith(f"scene skipped: {eye / 'HDR' / 'C01_HDR.hdr'}: "), skipped
    (eye / "LDR" / "C02_LDR.tif").write_bytes(b"junk")
    with pytest.raises(InputError, match="C01_HDR.hdr"):  # no scene left: the first one's error
        load_dataset("hdreye", tmp_path / "eye", size=16)


def test_vds_cevr_layout_without_hdr(tmp_path: Path) -> None:
    for ev in range(-3, 4):
        _png(tmp_path / "test" / "set" / "t5" / f"t5_{ev}EV_true.jpg.png", 0.4)
    (scene,) = load_dataset("vds", tmp_path)
    assert scene.name == "t5" and scene.hdr is None and len(scene.ldr_by_ev) == 6
    assert scene.input_ev0.shape == (20, 24, 3)


def test_hdreye_layout(tmp_path: Path) -> None:
    ldr = tmp_path / "images" / "LDR"
    ldr.mkdir(parents=True)
    for name in ("C02", "C01"):
        cv2.imwrite(str(ldr / f"{name}_LDR.tif"), np.full((20, 24, 3), 30000, np.uint16))
        write_exr(tmp_path / "images" / "HDR" / f"{name}_HDR.exr", np.full((20, 24, 3), 3.0, np.float32))
    scenes = load_dataset("hdreye", tmp_path)
    assert [s.name for s in scenes] == ["C01", "C02"]
    assert scenes[0].ldr_by_ev == {} and scenes[0].hdr is not None
    assert scenes[0].input_ev0[0, 0, 0] == pytest.approx(30000 / 65535)
    with pytest.raises(UsageError):
        load_dataset("hdreye", tmp_path, split="train")
    with pytest.raises(UsageError, match="Cxx_LDR.tif"):
        load_dataset("hdreye", tmp_path / "images" / "HDR")


def test_what_a_dataset_holds_that_is_no_scene_of_its_layout_is_named_not_dropped(tmp_path: Path) -> None:
    """Such scenes were left out of the scores in silence: a partial score that read as a whole one."""
    vds = tmp_path / "vds"
    for scene, suffix in (("t1", "png"), ("t2", "png"), ("t3", "jpeg")):
        for ev in range(-1, 2):
            _png(vds / "test_set" / scene / f"{scene}_{ev}EV_true.{suffix}", 0.5)
    (vds / "test_set" / "t2").rename(vds / "test_set" / "t2_old")
    skipped: list[str] = []
    assert [s.name for s in load_dataset("vds", vds, skipped=skipped)] == ["t1"]
    assert skipped == [f"{vds / 'test_set' / 't2_old'}: its frames are named for scene t2, not t2_old",
                       f"{vds / 'test_set' / 't3'}: no frames named t3_<ev>EV_true.jpg, .jpg.png or .png"]
    flat = tmp_path / "flat"  # the scenes' folder given, their HDR truths' folder beside them: no scene, no gap
    flat.mkdir()
    (vds / "test_set" / "t1").rename(flat / "t1")
    _hdr(flat / "test_hdr_set" / "t1" / "target_hdr.hdr")
    skipped = []
    (scene,) = load_dataset("vds", flat, skipped=skipped)
    assert scene.hdr is not None and skipped == []

    ldr, hdr = tmp_path / "eye" / "images" / "LDR", tmp_path / "eye" / "images" / "HDR"
    ldr.mkdir(parents=True)
    cv2.imwrite(str(ldr / "C01_LDR.tif"), np.full((20, 24, 3), 30000, np.uint16))
    _png(ldr / "C02_LDR.png", 0.5)
    for name in ("C01", "C02", "C03"):
        _hdr(hdr / f"{name}_HDR.hdr")
    skipped = []
    assert [s.name for s in load_dataset("hdreye", tmp_path / "eye", skipped=skipped)] == ["C01"]
    assert skipped == [f"{ldr / 'C02_LDR.png'}: HDREye's inputs are Cxx_LDR.tif files",
                       f"{hdr / 'C03_HDR.hdr'}: an HDR truth without its Cxx_LDR.tif input"]

    _png(tmp_path / "brackets" / "kitchen" / "ev+0.png", 0.5)
    _hdr(tmp_path / "brackets" / "porch" / "truth.hdr")  # its brackets gone
    skipped = []
    assert [s.name for s in load_dataset("brackets", tmp_path / "brackets", skipped=skipped)] == ["kitchen"]
    assert len(skipped) == 1 and skipped[0].startswith(f"{tmp_path / 'brackets' / 'porch'}: no LDR images (.jpg, ")


def test_brackets_by_name(tmp_path: Path) -> None:
    for name, v in (("ev-1.png", 0.3), ("EV+0.png", 0.5), ("ev+1.5.png", 0.8)):
        _png(tmp_path / "kitchen" / name, v)
    _hdr(tmp_path / "kitchen" / "truth.hdr")
    _png(tmp_path / "porch" / "a_0EV.png", 0.5)
    scenes = load_dataset("brackets", tmp_path)
    assert [s.name for s in scenes] == ["kitchen", "porch"]
    assert sorted(scenes[0].ldr_by_ev) == [-1.0, 1.5] and scenes[0].hdr is not None
    assert scenes[1].ldr_by_ev == {} and scenes[1].hdr is None
    # A folder of images is itself one scene.
    (single,) = load_dataset("brackets", tmp_path / "kitchen")
    assert single.name == "kitchen"


def _jpeg_with_exif(path: Path, value: int, exposure_time: float, f_number: float = 8.0,
                    iso: int = 100) -> None:
    image = Image.fromarray(np.full((20, 24, 3), value, np.uint8))
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    sub[0x829A] = exposure_time
    sub[0x829D] = f_number
    sub[0x8827] = iso
    image.save(path, exif=exif)


def test_brackets_by_exif(tmp_path: Path) -> None:
    # 1/250 s, 1/125 s (ref, middle), 1/60 s (about 1.06 stops brighter -> snapped to +1)
    _jpeg_with_exif(tmp_path / "a.jpg", 60, 1 / 250)
    _jpeg_with_exif(tmp_path / "b.jpg", 120, 1 / 125)
    _jpeg_with_exif(tmp_path / "c.jpg", 200, 1 / 60)
    (scene,) = load_dataset("brackets", tmp_path)
    assert sorted(scene.ldr_by_ev) == [-1.0, 1.0]
    assert scene.input_ev0.mean() == pytest.approx(120 / 255, abs=0.01)


def test_brackets_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="one folder per scene"):
        load_dataset("brackets", tmp_path)
    _png(tmp_path / "s" / "ev-1.png", 0.3)
    _png(tmp_path / "s" / "ev+1.png", 0.6)
    with pytest.raises(InputError, match="no EV 0"):
        load_dataset("brackets", tmp_path)
    _png(tmp_path / "s" / "nameless.png", 0.5)
    with pytest.raises(InputError, match="EXIF"):
        load_dataset("brackets", tmp_path)
    with pytest.raises(UsageError):
        load_dataset("nope", tmp_path)
    with pytest.raises(UsageError, match="missing: not found: no vds dataset folder"):  # the request's: exit 2
        load_dataset("vds", tmp_path / "missing")
    (tmp_path / "scene.exr").write_bytes(b"a file")
    with pytest.raises(UsageError, match="scene.exr: is a file, not a vds dataset folder"):
        load_dataset("vds", tmp_path / "scene.exr")


def test_synthetic_is_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a.exr", "b.hdr"):
        radiance = np.exp(rng.normal(0, 1.5, (24, 32, 3))).astype(np.float32)
        (write_exr if name.endswith(".exr") else write_radiance_hdr)(tmp_path / name, radiance)
    first = load_dataset("synthetic", tmp_path, size=16)
    second = load_dataset("synthetic", tmp_path, size=16)
    assert [s.name for s in first] == ["a", "b"]
    assert sorted(first[0].ldr_by_ev) == [ev for ev in CONTINUOUS_EVS if ev != 0]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x.input_ev0, y.input_ev0)
        np.testing.assert_array_equal(x.ldr_by_ev[1.5], y.ldr_by_ev[1.5])
        assert x.hdr is not None and x.hdr.shape == (16, 16, 3)
    # Brighter EVs are brighter.
    assert first[0].ldr_by_ev[2.0].mean() > first[0].input_ev0.mean() > first[0].ldr_by_ev[-2.0].mean()


def test_synthetic_cameras_extend_the_bench_camera(tmp_path: Path) -> None:
    from cevr_cli.evaluation.datasets import synthetic_bench_scenes

    radiance = np.exp(np.random.default_rng(1).normal(0, 1.5, (24, 32, 3))).astype(np.float32)
    write_exr(tmp_path / "a.exr", radiance)
    bench = load_dataset("synthetic", tmp_path, size=16)[0]
    pairs = list(synthetic_bench_scenes([tmp_path / "a.exr"], 16, CONTINUOUS_EVS, cameras=3))
    assert [b.name for b, _ in pairs] == ["a", "a#1", "a#2"]
    np.testing.assert_array_equal(pairs[0][0].input_ev0, bench.input_ev0)  # camera 0 is the bench's camera
    assert len({s.seed for _, s in pairs}) == 3
    assert not np.array_equal(pairs[1][0].ldr_by_ev[1.0], pairs[2][0].ldr_by_ev[1.0])


def test_the_default_dataset_folder_is_found_in_cevr_datasets_in_any_letter_case(tmp_path, monkeypatch):
    from cevr_cli.evaluation.datasets import default_dataset_path

    (tmp_path / "root" / "VDS").mkdir(parents=True)
    (tmp_path / "root" / "hdreye").write_text("a file, not the dataset")
    assert default_dataset_path("vds", {"CEVR_DATASETS": str(tmp_path / "root")}) == tmp_path / "root" / "VDS"
    with pytest.raises(UsageError, match=r"no hdreye folder in \$CEVR_DATASETS \(.*root\)"):
        default_dataset_path("hdreye", {"CEVR_DATASETS": str(tmp_path / "root")})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"no vds folder in ./datasets: give the dataset's folder"):
        default_dataset_path("vds", {})
    (tmp_path / "datasets" / "vds").mkdir(parents=True)
    assert default_dataset_path("vds", {}) == Path("datasets") / "vds"


def test_at_native_size_a_scene_file_of_another_size_is_named_and_resized_it_is_compared(tmp_path: Path) -> None:
    ldr = tmp_path / "images" / "LDR"
    ldr.mkdir(parents=True)
    cv2.imwrite(str(ldr / "C02_LDR.tif"), np.full((64, 80, 3), 30000, np.uint16))
    hdr = tmp_path / "images" / "HDR" / "C02_HDR.exr"
    write_exr(hdr, np.full((32, 40, 3), 3.0, np.float32))  # half the photo's size
    with pytest.raises(InputError) as caught:  # was "images to compare differ in shape", naming no file, exit 2
        load_dataset("hdreye", tmp_path)
    assert str(caught.value) == (f"{hdr}: 40x32 px, but the scene's EV 0 photo C02_LDR.tif is 80x64: --size N "
                                 "compares both at NxN") and caught.value.exit_code == 1
    (scene,) = load_dataset("hdreye", tmp_path, size=16)
    assert scene.input_ev0.shape == scene.hdr.shape == (16, 16, 3)
    for ev in (0, 1):
        _png(tmp_path / "vds" / "test_set" / "t1" / f"t1_{ev}EV_true.jpg", 0.5, shape=(20, 24) if ev else (24, 20))
    with pytest.raises(InputError, match=r"t1_1EV_true\.jpg: 24x20 px, but the scene's EV 0 photo t1_0EV_true\.jpg "
                                         r"is 20x24"):
        load_dataset("vds", tmp_path / "vds")


def test_the_file_of_another_size_is_the_one_named(tmp_path: Path) -> None:
    for name, shape in (("ev-1.png", (20, 30)), ("ev+0.png", (24, 32)), ("ev+1.png", (24, 32))):
        _png(tmp_path / "kitchen" / name, 0.5, shape=shape)  # files listed in another order than their EVs
    with pytest.raises(InputError, match=r"ev-1\.png: 30x20 px, but the scene's EV 0 photo ev\+0\.png is 32x24"):
        load_dataset("brackets", tmp_path)


def test_a_scene_too_small_for_the_metrics_at_its_own_size_is_named_before_any_scores(tmp_path: Path) -> None:
    write_exr(tmp_path / "a.exr", np.ones((24, 32, 3), np.float32))
    write_exr(tmp_path / "tiny.exr", np.ones((1, 1, 3), np.float32))  # failed in SSIM, after the others, unnamed
    skipped: list[str] = []
    assert [s.name for s in load_dataset("synthetic", tmp_path, size=None, skipped=skipped)] == ["a"]
    assert skipped == [f"scene skipped: {tmp_path / 'tiny.exr'}: 1x1 px is too small to benchmark (16 px minimum a "
                       "side; --size resizes every scene)"]
    (tmp_path / "a.exr").unlink()
    with pytest.raises(InputError, match=r"tiny\.exr: 1x1 px is too small to benchmark \(16 px minimum a side"):
        load_dataset("synthetic", tmp_path, size=None)  # no scene left: the error itself
    write_exr(tmp_path / "a.exr", np.ones((24, 32, 3), np.float32))
    assert len(load_dataset("synthetic", tmp_path, size=16)) == 2  # --size resizes it
