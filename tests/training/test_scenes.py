"""Scene files: .exr and .hdr from several folders, the fixed validation split by scene."""

import numpy as np
import pytest

from cevr_cli.errors import InputError, UsageError
from cevr_cli.io.hdrfile import write_exr, write_radiance_hdr
from cevr_cli.training.scenes import VALIDATION_SCENES, find_radiance_maps, load_radiance, scene_views, split_scenes


def test_both_formats_from_several_folders(tmp_path):
    rgb = np.exp(np.random.default_rng(0).normal(0, 2, (16, 24, 3))).astype(np.float32)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_exr(tmp_path / "a" / "one.exr", rgb, half=False)
    write_radiance_hdr(tmp_path / "b" / "two.hdr", rgb)
    (tmp_path / "b" / "notes.txt").write_text("x")
    paths = find_radiance_maps([tmp_path / "a", tmp_path / "b"])
    assert [p.name for p in paths] == ["one.exr", "two.hdr"]
    np.testing.assert_allclose(load_radiance(paths[0]), rgb, rtol=1e-6)
    # RGBE shares one exponent per pixel: each channel is exact to 1/256 of the pixel's largest channel.
    assert np.all(np.abs(load_radiance(paths[1]) - rgb) <= rgb.max(axis=2, keepdims=True) / 128)
    with pytest.raises(UsageError, match=f"--data {tmp_path}: no .exr or .hdr"):  # the request's: exit 2
        find_radiance_maps([tmp_path / "a", tmp_path])


def test_the_fixed_validation_scenes_are_split_by_scene(tmp_path):
    names = [*VALIDATION_SCENES, "Adjuster", "venice", "lab_2"]
    paths = [tmp_path / f"{n}.hdr" for n in names]
    train, val = split_scenes(paths)
    assert {p.stem for p in val} == set(VALIDATION_SCENES) and len(val) >= 8
    assert {p.stem for p in train} == {"Adjuster", "venice", "lab_2"}
    assert not {p.stem for p in train} & {p.stem for p in val}


def test_a_users_own_folder_falls_back_to_every_fourth_scene(tmp_path):
    paths = [tmp_path / f"s{i}.exr" for i in range(8)]
    train, val = split_scenes(paths)
    assert [p.stem for p in val] == ["s1", "s5"] and len(train) == 6


def test_scene_views_resize_flat_maps_and_take_two_views_of_panoramas():
    flat = np.ones((30, 40, 3), dtype=np.float32)
    pano = np.ones((32, 64, 3), dtype=np.float32)
    assert [v.shape for v in scene_views(flat, 16)] == [(16, 16, 3)]
    assert [v.shape for v in scene_views(pano, 16)] == [(16, 16, 3), (16, 16, 3)]



@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_a_map_without_light_to_photograph_is_refused_by_name(tmp_path, fill):
    path = tmp_path / "bad.exr"
    rgb = np.full((32, 32, 3), fill, np.float32)
    rgb[0, :5] = 1.0  # 5 of 1024 pixels: under 1 %
    write_exr(path, rgb, half=False)
    with pytest.raises(InputError) as caught:
        load_radiance(path)
    assert str(caught.value) == f"{path}: only 0.5% of its pixels hold any light: not a scene to train on"
    rgb[1, :6] = 1.0  # 11 of 1024: enough
    write_exr(path, rgb, half=False)
    assert load_radiance(path).max() == 1.0


def test_maps_that_are_all_fixed_validation_scenes_are_refused_in_one_line_before_anything_is_written(tmp_path):
    """Every map named as one of VALIDATION_SCENES left no training scene: the first batch failed with a numpy
    traceback ('high <= 0') after split.json was written."""
    from cevr_cli.training.loop import TrainConfig, run_training

    maps = tmp_path / "maps"
    maps.mkdir()
    for name in ("Bonita.hdr", "lab.hdr"):
        write_radiance_hdr(maps / name, np.full((24, 32, 3), 0.5, np.float32))
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=rf"^--data {maps}: every map is a fixed validation scene \(Bonita\.hdr, "
                                         r"lab\.hdr; training/scenes\.py VALIDATION_SCENES\): add maps to train on$"):
        run_training(TrainConfig(data=str(maps), out=str(out), variant="cevr-tiny", crop=16, device="cpu"))
    assert not out.exists()
