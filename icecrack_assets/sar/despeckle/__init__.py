"""Speckle filters: PPB (Deledalle 2009), its kernels and torch path, classical baselines, looks."""
