"""A folder of small radiance maps, shared by the training tests."""

import pytest
from radiance_maps import radiance_map

from cevr_cli.io.hdrfile import write_radiance_hdr


@pytest.fixture()
def scene_folder(tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for i in range(4):
        write_radiance_hdr(folder / f"scene{i}.hdr", radiance_map(i))
    return folder
