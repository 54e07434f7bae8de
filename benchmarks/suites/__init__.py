"""Benchmark suites: the spec model of ``specs/bench/*.yaml`` and how to load a suite by name or path."""
from sedkit.benchmarks.suites.spec import SuiteSpec, data_ref, load_suite, suite_names

__all__ = ["SuiteSpec", "data_ref", "load_suite", "suite_names"]
