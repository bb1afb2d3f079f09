"""cevr: single-photo HDR with continuous exposure value representations (CEVR, ICCV 2023)."""

__version__ = "0.1.0"
