"""Test helpers: builders of tiny products, local servers, the small pipeline."""
