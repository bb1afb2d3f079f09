"""Evaluation as the CEVR paper does it: benchmark datasets, metrics, non-learned baselines, `cevr bench`."""
