"""Tests of the catalogue clients against local servers."""
