"""Metrics (tagging, SED), post-processing and the prediction files."""
