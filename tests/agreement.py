"""Compare the stream's rows (read from Redis) with the oracle's."""

from __future__ import annotations

from collections.abc import Mapping

from kpi.histogram import RELATIVE_ERROR

Rows = Mapping[str, Mapping[str, float | None]]


def _is_quantile(key: str) -> bool:
    return "_p" in key and key.endswith("_seconds") and key.split("_p")[-1][0].isdigit()


def diff_rows(stream: Rows, oracle: Rows, where: str) -> list[str]:
    """Human-readable differences; counts and ratios exact, quantiles within the error."""
    problems: list[str] = []
    for key in sorted(set(stream) | set(oracle)):
        if key not in stream or key not in oracle:
            side = "stream" if key in stream else "oracle"
            problems.append(f"{where} {key}: only in {side}")
            continue
        a, b = stream[key], oracle[key]
        for k in sorted(set(a) | set(b)):
            x, y = a.get(k), b.get(k)
            if _is_quantile(k) and x is not None and y is not None:
                if abs(x - y) > RELATIVE_ERROR * abs(y) + 1e-9:
                    problems.append(f"{where} {key} {k}: stream {x} oracle {y} (beyond 2%)")
            elif x != y and not (isinstance(x, float) and isinstance(y, float)
                                 and abs(x - y) <= 1e-9 * max(1.0, abs(y))):
                problems.append(f"{where} {key} {k}: stream {x} oracle {y}")
    return problems
