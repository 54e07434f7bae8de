"""The common output of the throughput benchmarks: each path's rate, then ``ratio ours / alternative: X.XXx``
(the line `sedkit bench perf` reads back, see :func:`sedkit.benchmarks.commands.ratio_of`)."""
from __future__ import annotations


def print_comparison(unit: str, alternative: tuple[str, float, float], ours: tuple[str, float, float],
                     names: tuple[str, str] = ("sedkit", "plain"), per_minute: bool = False, indent: str = "",
                     note: str = "") -> float:
    """Print ``label: rate unit/s (seconds)`` for the alternative and for ours (each ``(label, count, seconds)``),
    then the ratio of their rates; returns the ratio (ours / alternative)."""
    scale, per = (60.0, "min") if per_minute else (1.0, "s")
    width = max(len(alternative[0]), len(ours[0]))
    for label, count, seconds in (alternative, ours):
        print(f"{indent}{label:<{width}} : {scale * count / seconds:7.2f} {unit}/{per} ({seconds:.1f} s)")
    ratio = (ours[1] / ours[2]) / (alternative[1] / alternative[2])
    print(f"{indent}ratio {names[0]} / {names[1]}: {ratio:.2f}x{' ' + note if note else ''}")
    return ratio


def cpu_seconds(own: bool = True) -> float:
    """CPU seconds of this process (``own``) and of its finished children (pool workers, generator workers, the sox
    processes of pysox)."""
    import resource

    who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if own else (resource.RUSAGE_CHILDREN,)
    return sum(getattr(resource.getrusage(w), k) for w in who for k in ("ru_utime", "ru_stime"))
