"""Benchmark suites: the spec model of ``specs/bench/*.yaml`` and how to load a suite by name or path."""
from sedkit.benchmarks.suites.spec import SCALES, SuiteSpec, data_ref, load_suite, scale_overrides, suite_names

__all__ = ["SCALES", "SuiteSpec", "data_ref", "load_suite", "scale_overrides", "suite_names"]
