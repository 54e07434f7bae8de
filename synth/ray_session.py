"""One way to use Ray, for synthesis (``synth --executor ray``) and the benchmark (``bench run --executor ray``)."""
from __future__ import annotations

import contextlib

from sedkit import SedkitError, first_line


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None = None):
    """Yield the ``ray`` module with Ray running: the cluster at ``address`` (``auto``, ``ray://host:port``), or a
    local instance (with ``num_cpus``) started here and shut down on exit. A Ray already running is used as it is.
    Missing Ray or an unreachable cluster is one line."""
    try:
        import ray
    except ImportError:
        raise SedkitError("--executor ray needs Ray: .venv/bin/pip install -e '.[ray]' in the sedkit checkout") from None
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     **({"num_cpus": num_cpus} if num_cpus and not address else {}))
        except (RuntimeError, ConnectionError, ValueError) as e:
            raise SedkitError(f"cannot start or reach Ray (address {address or 'local'}): {first_line(e)}") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
