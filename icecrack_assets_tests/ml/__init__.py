"""Tests of the model, its samples and evaluations."""
