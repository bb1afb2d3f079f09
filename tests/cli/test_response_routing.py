"""`--response auto` routes each photo by what its file says, and stack.json / fuse.json record the choice."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cevr_cli.cli import app
from cevr_cli.model import save_pair
from cevr_cli.response import camera_key, profile_record, table_response

runner = CliRunner()


def scene(h: int = 32, w: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 3)], axis=-1)
    rgb[8:16, 20:30] = 1.0  # a clipped highlight
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def with_camera(path, make: str, model: str) -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    Image.fromarray(scene()).save(path, quality=95, exif=exif.tobytes())


@pytest.fixture()
def weights(tmp_path, tiny_residual_pair):
    path = tmp_path / "tiny.safetensors"
    save_pair(tiny_residual_pair, path)
    return path


def stacked(tmp_path, photo, weights, *extra) -> dict:
    out = tmp_path / "stacks"
    result = runner.invoke(app, ["stack", str(photo), "-o", str(out), "--evs", "-1,1", "--weights", str(weights),
                                 "--device", "cpu", "-q", *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / photo.stem / "stack.json").read_text())


def test_a_jpeg_with_a_camera_make_gets_the_camera_prior(tmp_path, weights):
    with_camera(tmp_path / "canon.jpg", "Canon", "Canon EOS 5D")
    manifest = stacked(tmp_path, tmp_path / "canon.jpg", weights)
    assert manifest["response"]["name"] == "camera"
    assert manifest["response"]["reason"] == "EXIF Make Canon, no profile: camera prior"
    assert manifest["request"]["response"] == "auto" and manifest["request"]["model"] == "cevr"
    assert manifest["frames"]["-1.00"] == "exact, CEVR residual where the photo clipped"
    assert manifest["frames"]["+1.00"] == "exact (measured light x 2^EV)"


def test_a_png_without_exif_gets_srgb(tmp_path, weights):
    Image.fromarray(scene()).save(tmp_path / "render.png")
    manifest = stacked(tmp_path, tmp_path / "render.png", weights)
    assert manifest["response"]["name"] == "srgb" and "no camera EXIF" in manifest["response"]["reason"]


def test_an_installed_profile_is_matched_by_make_and_model(tmp_path, weights, monkeypatch):
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    folder = tmp_path / "config" / "responses"
    folder.mkdir(parents=True)
    codes = np.arange(256) / 255
    record = profile_record(table_response("x", codes, codes**2.0), "Nikon", "D90", "test")
    (folder / f"{camera_key('NIKON CORPORATION', 'NIKON D90')}.json").write_text(json.dumps(record))
    with_camera(tmp_path / "other.jpg", "Nikon", "D90")
    with_camera(tmp_path / "d90.jpg", "NIKON CORPORATION", "NIKON D90")
    manifest = stacked(tmp_path, tmp_path / "d90.jpg", weights)
    assert manifest["response"]["name"] == "profile:Nikon D90" and "installed profile" in manifest["response"]["reason"]
    assert stacked(tmp_path, tmp_path / "other.jpg", weights)["response"]["name"] == "camera"  # another model


def test_a_profile_installed_replaced_or_removed_later_redoes_its_cameras_photos_only(tmp_path, weights,
                                                                                       monkeypatch):
    """The camera's profile path is a dependency of its photos' stacks under auto, whether or not it exists yet."""
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    with_camera(tmp_path / "d90.jpg", "Nikon", "D90")
    with_camera(tmp_path / "canon.jpg", "Canon", "EOS 5D")

    def run():
        result = runner.invoke(app, ["stack", str(tmp_path / "d90.jpg"), str(tmp_path / "canon.jpg"), "-o",
                                     str(tmp_path / "stacks"), "--evs", "-1,1", "--weights", str(weights), "--json"])
        assert result.exit_code == 0, result.output
        items = {Path(item["source"]).name: item for item in json.loads(result.stdout)["items"]}
        names = {name: json.loads((tmp_path / "stacks" / Path(name).stem / "stack.json").read_text())["response"][
            "name"] for name in items}
        messages.update({name: item["message"] for name, item in items.items()})
        return {name: item["status"] for name, item in items.items()}, names

    messages: dict[str, str] = {}

    assert run() == ({"d90.jpg": "done", "canon.jpg": "done"}, {"d90.jpg": "camera", "canon.jpg": "camera"})
    assert run()[0] == {"d90.jpg": "skipped", "canon.jpg": "skipped"}
    profile = tmp_path / "config" / "responses" / f"{camera_key('Nikon', 'D90')}.json"
    profile.parent.mkdir(parents=True)
    codes = np.arange(256) / 255
    profile.write_text(json.dumps(profile_record(table_response("x", codes, codes**2.0), "Nikon", "D90", "test")))
    assert run() == ({"d90.jpg": "done", "canon.jpg": "skipped"}, {"d90.jpg": "profile:Nikon D90",
                                                                   "canon.jpg": "camera"})
    assert run()[0] == {"d90.jpg": "skipped", "canon.jpg": "skipped"}
    profile.write_text(json.dumps(profile_record(table_response("x", codes, codes**2.4), "Nikon", "D90", "test")))
    assert run()[0] == {"d90.jpg": "done", "canon.jpg": "skipped"}  # recalibrated
    assert messages["d90.jpg"] == "redone: a file it was made with (its camera profile) changed since"
    profile.unlink()
    assert run() == ({"d90.jpg": "done", "canon.jpg": "skipped"}, {"d90.jpg": "camera", "canon.jpg": "camera"})
    # another profiles folder (CEVR_CONFIG_DIR) holding this camera's profile: another request, so redone with it
    other = tmp_path / "other-config" / "responses" / profile.name
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps(profile_record(table_response("x", codes, codes**2.0), "Nikon", "D90", "test")))
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "other-config"))
    assert run() == ({"d90.jpg": "done", "canon.jpg": "done"}, {"d90.jpg": "profile:Nikon D90",
                                                               "canon.jpg": "camera"})
    assert messages["canon.jpg"] == "redone: the earlier output was made with other options"


def test_an_explicit_response_is_recorded_and_a_new_one_redoes_the_stack(tmp_path, weights):
    with_camera(tmp_path / "canon.jpg", "Canon", "Canon EOS 5D")
    first = stacked(tmp_path, tmp_path / "canon.jpg", weights, "--response", "gamma:2.2")
    assert first["response"]["name"] == "gamma:2.2" and first["response"]["reason"] == "--response gamma:2.2"
    again = stacked(tmp_path, tmp_path / "canon.jpg", weights, "--response", "srgb")
    assert again["response"]["name"] == "srgb" and again["created"] >= first["created"]


def test_fuse_records_the_response_and_the_measured_merge(tmp_path, weights):
    Image.fromarray(scene()).save(tmp_path / "render.png")
    out = tmp_path / "hdr"
    result = runner.invoke(app, ["fuse", str(tmp_path / "render.png"), "-o", str(out), "--evs", "-2:2:1",
                                 "--weights", str(weights), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "render" / "fuse.json").read_text())
    assert manifest["response"]["name"] == "srgb" and manifest["merge"].startswith("measured")


@pytest.mark.parametrize("spec, message", [("bogus", "--response 'bogus'"), ("gamma:0", "from 0.2 to 5"),
                                           ("nope.json", "no such profile")])
def test_a_bad_response_is_one_line_and_exit_2(tmp_path, weights, spec, message):
    Image.fromarray(scene()).save(tmp_path / "render.png")
    result = runner.invoke(app, ["stack", str(tmp_path / "render.png"), "-o", str(tmp_path / "s"), "--weights",
                                 str(weights), "--response", spec])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "s").exists()


def test_paper_weights_for_the_residual_model_say_what_to_do(tmp_path, tiny_pair):
    save_pair(tiny_pair, tmp_path / "paper.safetensors")
    Image.fromarray(scene()).save(tmp_path / "render.png")
    result = runner.invoke(app, ["stack", str(tmp_path / "render.png"), "-o", str(tmp_path / "s"), "--weights",
                                 str(tmp_path / "paper.safetensors")])
    assert result.exit_code == 2 and "use --model cevr-paper" in result.output


def test_a_broken_response_file_is_one_line_and_exit_2_before_any_photo(tmp_path, weights):
    with_camera(tmp_path / "canon.jpg", "Canon", "Canon EOS 5D")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "cevr-response", "version": None, "codes": [0, 1], "linear": [[0, 1]]}))
    result = runner.invoke(app, ["stack", str(tmp_path / "canon.jpg"), "-o", str(tmp_path / "out"),
                                 "--response", str(broken), "--weights", str(weights), "--device", "cpu"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip() == f"error: --response {broken}: the profile's version None is not a whole number"
    assert not (tmp_path / "out").exists()


def test_a_broken_installed_profile_fails_its_cameras_photos_by_name_and_the_batch_goes_on(tmp_path, weights,
                                                                                          monkeypatch):
    monkeypatch.setenv("CEVR_CONFIG_DIR", str(tmp_path / "config"))
    folder = tmp_path / "config" / "responses"
    folder.mkdir(parents=True)
    installed = folder / f"{camera_key('Nikon', 'D90')}.json"
    installed.write_text("{truncated")
    photos = tmp_path / "photos"
    photos.mkdir()
    with_camera(photos / "d90.jpg", "Nikon", "D90")
    with_camera(photos / "canon.jpg", "Canon", "EOS 5D")
    result = runner.invoke(app, ["stack", str(photos), "-o", str(tmp_path / "out"), "--evs", "-1,1",
                                 "--weights", str(weights), "--device", "cpu"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{photos / 'd90.jpg'}: its camera's installed profile {installed}: cannot read" in result.output
    assert (tmp_path / "out" / "canon" / "stack.json").is_file() and not (tmp_path / "out" / "d90").exists()
