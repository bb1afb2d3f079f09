"""EXIF facts and the EXIF cevr writes (cevr_cli/io/exif.py)."""

import math
import warnings

import numpy as np
import pytest
from PIL import Image

from cevr_cli.io.exif import reexposed_exif
from tests.raw_containers import CR3_EXIF, CR3_IFD0, box, jpeg_with_exif, raf_header, tiff_ifd, write_cr3

EXIF_IFD, EXPOSURE_TIME, F_NUMBER, ISO, EXPOSURE_BIAS = 0x8769, 0x829A, 0x829D, 0x8827, 0x9204
SHUTTER_SPEED = 0x9201  # APEX Tv = -log2(exposure time), beside ExposureTime in most cameras' EXIF


def camera_exif(exposure_time=None, bias=None, shutter_speed=None) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Nikon", "D750"
    sub = exif.get_ifd(EXIF_IFD)
    sub[F_NUMBER], sub[ISO] = 8.0, 200
    if exposure_time is not None:
        sub[EXPOSURE_TIME] = exposure_time
    if shutter_speed is not None:  # APEX Tv
        from PIL.TiffImagePlugin import IFDRational

        sub[SHUTTER_SPEED] = IFDRational(round(shutter_speed * 1000000), 1000000)
    if bias is not None:
        from PIL.TiffImagePlugin import IFDRational

        sub[EXPOSURE_BIAS] = IFDRational(*bias)
    return exif.tobytes()


def parsed(exif_bytes: bytes):
    exif = Image.Exif()
    exif.load(exif_bytes)
    return exif, exif.get_ifd(EXIF_IFD)


@pytest.mark.parametrize(("s", "time"), [(-3.0, 1 / 800), (-0.5, 0.01 / 2**0.5), (1.0, 1 / 50), (2.5, 0.01 * 2**2.5)])
def test_a_frames_exposure_time_is_the_photos_times_two_to_the_ev(s, time):
    exif, sub = parsed(reexposed_exif(camera_exif(exposure_time=1 / 100, bias=(-2, 3)), s))
    assert float(sub[EXPOSURE_TIME]) == pytest.approx(time, rel=1e-6)
    assert float(sub[EXPOSURE_BIAS]) == pytest.approx(-2 / 3 + s, abs=1e-3)  # the photo's own compensation + s
    assert float(sub[F_NUMBER]) == 8.0 and sub[ISO] == 200 and exif[0x010F] == "Nikon"  # the rest as it was


def test_without_an_exposure_time_only_the_bias_says_the_step():
    _, sub = parsed(reexposed_exif(camera_exif(), -1.5))
    assert EXPOSURE_TIME not in sub and float(sub[EXPOSURE_BIAS]) == -1.5


def test_the_photo_itself_no_exif_and_unreadable_exif():
    photo = camera_exif(exposure_time=1 / 100)
    assert reexposed_exif(photo, 0.0) is photo
    assert reexposed_exif(None, -2.0) is None
    assert reexposed_exif(b"Exif\x00\x00not a tiff header", -2.0) is None


def test_two_steps_compose():
    photo = camera_exif(exposure_time=1 / 60)
    _, sub = parsed(reexposed_exif(reexposed_exif(photo, -3.0), 3.0))
    assert float(sub[EXPOSURE_TIME]) == pytest.approx(1 / 60, rel=1e-6) and float(sub[EXPOSURE_BIAS]) == 0.0


@pytest.mark.parametrize("s", [-3.0, -0.5, 2.0])
def test_a_frames_shutter_speed_value_says_its_exposure_time_too(s):
    """Cameras (Canon, Nikon, phones) write the APEX ShutterSpeedValue beside ExposureTime; the frames kept the
    photo's, so a -3 EV frame said 1/800 s in one tag and 1/100 s in the other (HDR software that reads
    ShutterSpeedValue, or reads it where ExposureTime is missing, took every frame for the same exposure)."""
    photo = camera_exif(exposure_time=1 / 100, shutter_speed=6.643856)
    _, sub = parsed(reexposed_exif(photo, s))
    assert float(sub[SHUTTER_SPEED]) == pytest.approx(-math.log2(float(sub[EXPOSURE_TIME])), abs=2e-3)
    _, back = parsed(reexposed_exif(reexposed_exif(photo, s), -s))  # as fuse undoes it on a stack folder
    assert float(back[SHUTTER_SPEED]) == pytest.approx(6.643856, abs=1e-3)
    _, alone = parsed(reexposed_exif(camera_exif(), s))  # no ShutterSpeedValue: none is added
    assert SHUTTER_SPEED not in alone


def test_a_stack_folder_made_before_its_frames_said_their_shutter_speed_is_undone_as_it_was_made():
    """stack.json's frame_exif names what its frames' EXIF says; one that does not name ShutterSpeedValue kept
    the photo's, which undoing must leave as it is."""
    from cevr_cli.io.exif import FRAME_EXPOSURE, FRAME_EXPOSURE_BEFORE_SHUTTER_SPEED, photo_exif_of_frame

    before = camera_exif(exposure_time=1 / 800, shutter_speed=6.643856)  # -3 EV's time, the photo's Tv
    _, old = parsed(photo_exif_of_frame(before, -3.0, FRAME_EXPOSURE_BEFORE_SHUTTER_SPEED))
    assert float(old[EXPOSURE_TIME]) == pytest.approx(1 / 100)
    assert float(old[SHUTTER_SPEED]) == pytest.approx(6.643856, abs=1e-5)
    now = camera_exif(exposure_time=1 / 800, shutter_speed=9.643856)  # -3 EV's time and Tv
    _, new = parsed(photo_exif_of_frame(now, -3.0, FRAME_EXPOSURE))
    assert float(new[EXPOSURE_TIME]) == pytest.approx(1 / 100)
    assert float(new[SHUTTER_SPEED]) == pytest.approx(6.643856, abs=1e-5)


def tiff_ep_exif() -> bytes:
    """EXIF as a TIFF/EP file (ISO 12234-2) holds it: the exposure facts in IFD0, no EXIF IFD."""
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    exif[0x010F], exif[EXPOSURE_TIME], exif[F_NUMBER], exif[ISO] = "Nikon", IFDRational(1, 100), IFDRational(8), 200
    exif[EXPOSURE_BIAS] = IFDRational(-1, 3)
    return exif.tobytes()


@pytest.mark.parametrize("s", [-2.0, 1.0])
def test_a_tiff_ep_photos_frames_say_their_own_exposure_time(s):
    from cevr_cli.io.exif import exif_from_pillow

    frame, _ = parsed(reexposed_exif(tiff_ep_exif(), s))
    info = exif_from_pillow(frame)  # read back as cevr reads a photo: the EXIF IFD's, else IFD0's
    assert info.exposure_time == pytest.approx(0.01 * 2**s, rel=1e-6) and info.f_number == 8.0 and info.iso == 200
    biases = [float(ifd[EXPOSURE_BIAS]) for ifd in (frame, frame.get_ifd(EXIF_IFD)) if EXPOSURE_BIAS in ifd]
    assert biases == [pytest.approx(-1 / 3 + s, abs=1e-3)]  # the photo's own compensation + s, said once


def xmp_description(packet: bytes) -> dict[str, str]:
    """The rdf:Description's attributes and ISO of an XMP packet, parsed by the standard library's XML parser."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.fromstring(packet.decode("utf-8").split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    rdf, exif = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}", "{http://ns.adobe.com/exif/1.0/}"
    description = root.find(f"{rdf}RDF/{rdf}Description")
    values = {key.split("}")[-1]: value for key, value in description.attrib.items() if not key.startswith(rdf)}
    iso = description.find(f"{exif}ISOSpeedRatings/{rdf}Seq/{rdf}li")
    return {**values, **({"ISO": iso.text} if iso is not None else {})}


def test_the_xmp_packet_says_the_exposure_in_the_exif_schema():
    from cevr_cli.io.exif import exposure_xmp

    exif = Image.Exif()
    sub = exif.get_ifd(EXIF_IFD)
    sub.update({EXPOSURE_TIME: 1 / 125, F_NUMBER: 2.8, ISO: 400, 0x9003: "2024:05:01 12:34:56",
                0xA434: "24-70mm f/2.8 <G> & ED"})
    packet = exposure_xmp(reexposed_exif(exif.tobytes(), -2.0))
    assert packet.startswith(b'<?xpacket begin="\xef\xbb\xbf"')  # the BOM, as XMP Part 1 asks
    assert xmp_description(packet) == {"ExposureTime": "1/500", "FNumber": "14/5", "ExposureBiasValue": "-2/1",
                                       "DateTimeOriginal": "2024-05-01T12:34:56",
                                       "LensModel": "24-70mm f/2.8 <G> & ED", "ISO": "400"}
    assert exposure_xmp(None) is None and exposure_xmp(Image.Exif().tobytes()) is None  # nothing to say


def test_a_tiff_ep_photos_xmp_packet_says_its_exposure():
    from cevr_cli.io.exif import exposure_xmp

    assert xmp_description(exposure_xmp(reexposed_exif(tiff_ep_exif(), -2.0))) == {
        "ExposureTime": "1/400", "FNumber": "8/1", "ExposureBiasValue": "-7/3", "ISO": "200"}


def test_control_characters_in_a_lens_name_leave_the_xmp_readable():
    from cevr_cli.io.exif import exposure_xmp

    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD).update({EXPOSURE_TIME: 1 / 60, 0xA434: "Lens\x01 \x1fName"})
    assert xmp_description(exposure_xmp(exif.tobytes()))["LensModel"] == "Lens Name"


def test_a_tiff_sources_xmp_packet_does_not_travel_into_a_frame():
    exif = Image.Exif()
    exif[700] = b"<x:xmpmeta>exif:ExposureTime=1/100</x:xmpmeta>"
    exif.get_ifd(EXIF_IFD)[EXPOSURE_TIME] = 1 / 100
    frame, sub = parsed(reexposed_exif(exif.tobytes(), -1.0))
    assert 700 not in frame and float(sub[EXPOSURE_TIME]) == pytest.approx(1 / 200)


def test_a_cr3s_metadata_boxes_give_its_camera_and_exposure(tmp_path):
    from cevr_cli.io.exif import read_raw_container_exif

    path = write_cr3(tmp_path / "IMG_0001.CR3", box(b"CMT1", tiff_ifd(CR3_IFD0)) + box(b"CMT2", tiff_ifd(CR3_EXIF)))
    exif = read_raw_container_exif(path)
    assert (exif.camera_make, exif.camera_model, exif.lens) == ("Canon", "Canon EOS R6", "RF24-105mm F4 L IS USM")
    assert (exif.exposure_time, exif.f_number, exif.iso) == (0.004, 2.8, 800)
    assert exif.datetime_original == "2024:05:01 10:11:10"
    assert exif.exposure_value() == pytest.approx(math.log2(2.8**2 / 0.004) - 3)


def test_a_cr3_with_other_boxes_or_a_broken_length_gives_nothing_or_what_it_can(tmp_path):
    from cevr_cli.io.exif import read_raw_container_exif

    other_uuid = write_cr3(tmp_path / "a.cr3", box(b"CMT1", tiff_ifd(CR3_IFD0)), uuid=bytes(16))
    assert read_raw_container_exif(other_uuid) is None
    only_ifd0 = write_cr3(tmp_path / "b.cr3", box(b"CMT1", tiff_ifd(CR3_IFD0)))
    exif = read_raw_container_exif(only_ifd0)
    assert exif.camera_model == "Canon EOS R6" and exif.exposure_time is None
    assert exif.datetime_original == "2024:05:01 10:11:12"  # IFD0's DateTime when no EXIF IFD says otherwise
    garbled = write_cr3(tmp_path / "d.cr3", box(b"CMT1", b"II*\x00\x08\x00\x00\x00\xff\xff not an IFD"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow says what it skipped
        assert read_raw_container_exif(garbled) is None  # the photo's metadata is missing, not its pixels
    truncated = tmp_path / "c.cr3"
    truncated.write_bytes(only_ifd0.read_bytes()[:60])  # moov's length runs past the end
    assert read_raw_container_exif(truncated) is None


def test_a_rafs_preview_gives_its_exif_and_else_the_header_its_camera(tmp_path):
    from cevr_cli.io.exif import read_raw_container_exif

    ifd0 = [(0x010F, 2, "FUJIFILM"), (0x0110, 2, "X-T4"), (0x0132, 2, "2023:11:02 08:09:10")]
    preview = jpeg_with_exif(tiff_ifd(ifd0))
    path = tmp_path / "DSCF0001.RAF"
    path.write_bytes(raf_header("X-T4", 0x94, len(preview)) + preview + bytes(64))
    exif = read_raw_container_exif(path)
    assert (exif.camera_make, exif.camera_model, exif.datetime_original) == ("FUJIFILM", "X-T4", "2023:11:02 08:09:10")

    bare = jpeg_with_exif(None)
    path.write_bytes(raf_header("X100V", 0x94, len(bare)) + bare)
    exif = read_raw_container_exif(path)
    assert (exif.camera_make, exif.camera_model, exif.exposure_time) == ("FUJIFILM", "X100V", None)

    for length in (len(bare) + 4096, 0xFFFFFFF0):  # a preview past the end of the file, one past any sense
        path.write_bytes(raf_header("X100V", 0x94, length) + bare)
        assert read_raw_container_exif(path).camera_model == "X100V"


def test_other_files_are_not_raw_containers(tmp_path):
    from cevr_cli.io.exif import read_raw_container_exif

    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(jpeg_with_exif(tiff_ifd([(0x010F, 2, "Canon")])))
    assert read_raw_container_exif(jpeg) is None
    assert read_raw_container_exif(tmp_path / "missing.cr3") is None


# An XMP packet as Adobe's software writes one (XMP Part 1's RDF: some properties as attributes, some as
# elements), with an entity in the lens name
ADOBE_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"\n'
    '    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" exif:ExposureTime="1/640" exif:FNumber="56/10"\n'
    '    exif:DateTimeOriginal="2023-08-14T18:42:07.25+02:00" aux:Lens="EF 24-70mm f/2.8L &amp; hood">\n'
    '   <exif:ISOSpeedRatings>\n    <rdf:Seq>\n     <rdf:li>320</rdf:li>\n    </rdf:Seq>\n   </exif:ISOSpeedRatings>\n'
    '  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>').encode()


def test_an_xmp_packets_exposure_facts_are_read_in_either_form():
    from cevr_cli.io.exif import exposure_from_xmp

    facts = exposure_from_xmp(ADOBE_XMP)
    assert (facts.exposure_time, facts.f_number, facts.iso) == (1 / 640, 5.6, 320)
    assert facts.datetime_original == "2023:08:14 18:42:07" and facts.lens == "EF 24-70mm f/2.8L & hood"
    as_elements = ADOBE_XMP.replace(b'exif:FNumber="56/10"', b"").replace(
        b"</rdf:Description>", b"<exif:FNumber>4/1</exif:FNumber></rdf:Description>")
    assert exposure_from_xmp(as_elements).f_number == 4.0
    nothing = exposure_from_xmp(b'<x:xmpmeta exif:ExposureTime="1/0" exif:FNumber="wide"/>')
    assert (nothing.exposure_time, nothing.f_number, nothing.iso, nothing.datetime_original) == (None,) * 4
    assert exposure_from_xmp(None).exposure_time is None


def test_a_tiff_without_an_exif_ifd_gives_its_xmp_exposure(tmp_path):
    """cevr's 16-bit TIFF outputs (tifffile writes no EXIF IFD) say their exposure in XMP only; a bracket of them
    is one `cevr calibrate` can take without --evs."""
    import tifffile

    from cevr_cli.io.exif import read_exif

    path = tmp_path / "frame.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint16), photometric="rgb",
                     extratags=[(271, "s", 0, "Testmaker", True), (272, "s", 0, "Testcam 1", True),
                                (700, "B", len(ADOBE_XMP), ADOBE_XMP, True)])
    facts = read_exif(path)
    assert (facts.camera_make, facts.camera_model, facts.exposure_time, facts.iso) == (
        "Testmaker", "Testcam 1", 1 / 640, 320)
    assert facts.exposure_value() == pytest.approx(math.log2(5.6**2 * 640) - math.log2(3.2))


def test_exposure_in_ifd0_as_tiff_ep_puts_it_is_read_and_the_exif_ifd_wins(tmp_path):
    """TIFF/EP (ISO 12234-2) keeps exposure time, f-number and ISO in IFD0; a file with them only there still has
    an exposure value, and where the EXIF IFD says otherwise the EXIF IFD is believed."""
    from PIL.TiffImagePlugin import IFDRational

    from cevr_cli.io.exif import read_exif

    exif = Image.Exif()
    exif[0x010F], exif[EXPOSURE_TIME], exif[F_NUMBER], exif[ISO] = "Kodak", IFDRational(1, 125), 5.6, 400
    only_ifd0 = tmp_path / "ifd0.jpg"
    only_ifd0.write_bytes(jpeg_with_exif(exif.tobytes()))
    facts = read_exif(only_ifd0)
    assert (facts.exposure_time, facts.f_number, facts.iso) == (pytest.approx(1 / 125), pytest.approx(5.6), 400)
    assert facts.exposure_value() == pytest.approx(math.log2(5.6**2 * 125) - math.log2(4))
    exif.get_ifd(EXIF_IFD)[EXPOSURE_TIME] = IFDRational(1, 250)
    both = tmp_path / "both.jpg"
    both.write_bytes(jpeg_with_exif(exif.tobytes()))
    assert read_exif(both).exposure_time == pytest.approx(1 / 250)


def test_a_tiff_structured_raws_ifd0_exposure_is_read(tmp_path):
    """The raw path (tifffile, no pixels decoded) reads TIFF/EP's IFD0 exposure tags too."""
    import tifffile

    from cevr_cli.io.exif import tiff_exif

    path = tmp_path / "tiffep.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint16),
                     extratags=[(271, "s", 0, "Kodak", True), (EXPOSURE_TIME, "2I", 1, (1, 60), True),
                                (F_NUMBER, "2I", 1, (28, 10), True), (ISO, "H", 1, 100, True)])
    with tifffile.TiffFile(path) as tif:
        facts = tiff_exif(tif)
    assert (facts.camera_make, facts.exposure_time, facts.f_number, facts.iso) == (
        "Kodak", pytest.approx(1 / 60), pytest.approx(2.8), 100)


def test_camera_names_beyond_ascii_read_as_utf8_and_are_written_so():
    """Pillow reads an ASCII tag's bytes as Latin-1: a make written in UTF-8 (as cameras and exiftool write it) read
    "SÃ¸ny", and named its installed profile so; the EXIF cevr writes for a RAW's outputs made it "S?ny"."""
    from cevr_cli.io.exif import ExifInfo, exif_from_pillow

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Søny Ünï".encode(), "α7 IV/日本".encode()
    read = Image.Exif()
    read.load(exif.tobytes())
    info = exif_from_pillow(read)
    assert (info.camera_make, info.camera_model) == ("Søny Ünï", "α7 IV/日本")
    latin = Image.Exif()
    latin[0x010F] = "Søny".encode("latin-1")  # a single-byte encoding: read as the characters it holds
    read.load(latin.tobytes())
    assert exif_from_pillow(read).camera_make == "Søny"
    written = Image.Exif()
    written.load(ExifInfo(camera_make="Søny Ünï", camera_model="α7 IV/日本").rendered_exif())
    assert (exif_from_pillow(written).camera_make, exif_from_pillow(written).camera_model) == ("Søny Ünï",
                                                                                               "α7 IV/日本")


@pytest.mark.parametrize(("time", "s"), [(1 / 180000, -3.0), (1 / 32000, -3.0), (3600.0, 0.5), (3600.0, 3.0)])
def test_extreme_exposure_times_keep_their_value_and_fit_a_rational(time, s):
    """1/180000 s (an electronic shutter) at -3 EV was written as 0 s, a millionth of a second being the finest
    step; an hour's exposure at +0.5 EV needs a numerator that still fits 32 bits."""
    _, sub = parsed(reexposed_exif(camera_exif(exposure_time=time), s))
    written = sub[EXPOSURE_TIME]
    assert float(written) == pytest.approx(time * 2.0**s, rel=1e-6)
    assert 0 < written.numerator < 2**32 and 0 < written.denominator < 2**32
