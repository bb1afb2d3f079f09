"""Redirections of file descriptors 1 and 2 around C libraries' output, from several threads at once."""

import os
import re
import threading

from cevr_cli.io.library_output import quiet_library_output, stderr_without


def test_a_silenced_block_in_another_thread_leaves_stderr_as_it_was(capfd):
    """OpenEXR's silenced read (fds 1 and 2 on /dev/null) in one thread while another captured fd 2 (a JPEG decoded
    in the batch's prefetch thread): the capture ended first, and the read, ending last, put back the capture's file
    as fd 2 for good: every later line of the run was lost."""
    silenced, captured = threading.Event(), threading.Event()

    def read_exr() -> None:
        with quiet_library_output():
            silenced.set()
            captured.wait(30)

    reader = threading.Thread(target=read_exr)
    with stderr_without(re.compile(rb"^dropped\n$")):
        reader.start()
        silenced.wait(1)  # the reader silences now, or waits for this capture to end
        os.write(2, b"dropped\n")
    captured.set()
    reader.join()
    os.write(2, b"after both\n")
    assert capfd.readouterr().err == "after both\n"
