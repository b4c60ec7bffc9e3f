"""Predicted against measured decode attention on a real GPU (``attnkit validate -o DIR``).

Reads ``gpu-validation`` tables: one row per measured call with ``latency_us``,
``predicted_us``, ``error`` and ``role`` (``calibration``, ``prediction``,
``best measured``). Left: the parity plot, log-log, one colour per backend;
the points a calibration used are hollow, a backend with no public schedule
(cuDNN) is drawn against lean's prediction. Right: the error against context,
one line per backend and KV-head count.
"""

from __future__ import annotations

from attnkit.reports.figure import Figure, colour, shared_legend, si_seq, subplots

ORDER = 45
TITLE = "Decode on a measured GPU: predicted against measured"


def figures(tables) -> list[Figure]:
    return [_figure(t) for t in tables if t.kind == "gpu-validation" and _rows(t)]


def _rows(t):
    return [r for r in t.rows if r.get("role") in ("calibration", "prediction", "best measured")]


def _figure(t) -> Figure:
    rows = _rows(t)
    fig, (parity, error) = subplots(2, "predicted against measured decode attention", width=5.0, height=4.2)
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    for b in backends:
        mine = [r for r in rows if r["backend"] == b]
        engine = mine[0]["engine"]
        label = f"{b} ({'best measured, beside ' if mine[0]['role'] == 'best measured' else ''}{engine})"
        for cal, marker in ((False, "o"), (True, "o")):
            part = [r for r in mine if (r["role"] == "calibration") == cal]
            if part:
                parity.scatter(
                    [r["latency_us"] for r in part],
                    [r["predicted_us"] for r in part],
                    s=28,
                    marker=marker,
                    facecolors="none" if cal else colour(b),
                    edgecolors=colour(b),
                    label=f"{label}, calibration point" if cal else label,
                )
        for kv in sorted({r["kv_heads"] for r in mine}, reverse=True):
            line = sorted((r for r in mine if r["kv_heads"] == kv), key=lambda r: r["context"])
            error.plot(
                [r["context"] for r in line],
                [100 * r["error"] for r in line],
                marker="o",
                ms=3,
                color=colour(b),
                ls="-" if kv == max(r["kv_heads"] for r in mine) else ":",
                label=f"{b}, {kv} KV heads",
            )
    lo = min(min(r["latency_us"], r["predicted_us"]) for r in rows) / 1.5
    hi = max(max(r["latency_us"], r["predicted_us"]) for r in rows) * 1.5
    parity.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    parity.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi))
    parity.set_xlabel("measured (us)")
    parity.set_ylabel("predicted (us)")
    parity.set_title("parity (grey: predicted = measured)")
    error.axhline(0, color="grey", lw=0.8)
    error.set_xscale("log", base=2)
    ctxs = sorted({r["context"] for r in rows})
    error.set_xticks(ctxs, [si_seq(c) for c in ctxs], rotation=45)
    error.set_xlabel("context (keys)")
    error.set_ylabel("predicted / measured - 1 (%)")
    error.set_title("error against context")
    shared_legend(fig, [parity, error])
    preds = [abs(r["error"]) for r in rows if r["role"] == "prediction"]
    by: dict[str, list[float]] = {}
    for r in rows:
        if r["role"] == "prediction":
            by.setdefault(r["backend"], []).append(abs(r["error"]))
    med = "; ".join(
        f"{b}: median |error| {100 * sorted(v)[len(v) // 2]:.1f}%, worst {100 * max(v):.1f}%" for b, v in by.items()
    )
    caption = (
        f"{len(preds)} predictions against measured calls ({med}); hollow points calibrated the constants and are"
        " left out of the error figures; cuDNN has no public schedule, so it is shown beside lean's prediction."
    )
    table = [
        {
            k: r.get(k)
            for k in ("backend", "batch", "heads", "kv_heads", "context", "latency_us", "predicted_us", "error", "role")
        }
        for r in rows
    ]
    return Figure("gpu-validation", TITLE, fig, table, caption)
