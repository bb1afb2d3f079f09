"""Training CEVR: the synthetic camera, scene files, training pairs and the loop (Chen et al. 2023, Sec. 3.3)."""
