"""The one place where sedkit adapts a third-party library to the current numpy.

scaper 1.6.5 uses ``np.Inf``, which numpy 2 removed. We restore the alias before importing scaper.
Always import scaper through :func:`import_scaper`.
"""
from __future__ import annotations

import numpy as np


def import_scaper():
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # scaper 1.6.5 compatibility (np.Inf was removed in numpy 2.0)
    import scaper

    return scaper
