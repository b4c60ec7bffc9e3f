"""Functional coverage of the attention and decode testbenches, with ``cocotb-coverage``: which scenarios a run reached.

:class:`AttentionCoverage` declares the points below (cover points of
``cocotb_coverage.coverage``, named ``<prefix>.<point>``) and samples them
from each problem the testbench drives (:meth:`~AttentionCoverage.problem`,
from its inputs and the golden model's logits) and from what the output
stream did (:meth:`~AttentionCoverage.output`); :meth:`~AttentionCoverage.report`
gives, per point, ``{"hit": bins hit, "declared": bins declared, "bins": {bin: hits}}``.

- ``running_max``: per query row and key tile after its first unmasked one, the
  tile's largest exponent (``floor`` of the logit, what the row unit's running
  max ``M`` tracks) against ``M`` so far: ``rises``, ``stays`` or ``falls``;
- ``row_mask``: per query row: ``unmasked``, ``partial``, ``fully-masked``;
- ``tile_mask``: per query row and key tile: ``full``, ``partial``, ``empty``;
- ``equal_scores``: per query row with two or more keys kept: ``all-equal`` logits or ``varied``;
- ``extremes``: per problem, which inputs reach their format's limits (``q-min`` ... ``v-max``) and
  whether a logit saturates at the top of ``logit_fmt`` (``logit-max``);
- ``ragged_tile``: per problem, ``ragged`` when the last key tile holds fewer than R keys;
- ``backpressure``: per problem, ``stalled`` if an output row waited for ``o.ready``, else ``none``.

Every bin is reachable by the shipped testbench for a suitable configuration
(``ragged`` needs ``seq_len`` not a multiple of ``array_2d.rows``; ``stalled`` at
least two rounds of the problem kinds, :data:`attnkit.testbench.attention_tb.BACKPRESSURE_FROM`).

:class:`DecodeCoverage` does the same for the decode testbench, sampled per
problem from the schedule the engine runs (``RtlDecodeParams.schedule``,
LeanAttention's stream-K split over the ``units`` cores) by
:meth:`~DecodeCoverage.problem`; :meth:`~DecodeCoverage.report` has the same shape:

- ``head_cross``: per core, ``yes`` if its tile ranges span two or more heads, else ``no``;
- ``pieces``: per (batch, KV head), the partials its host merges: ``1`` ... ``N`` (N = ``units``);
- ``peer_then_host``: ``yes`` per core that finishes one head as a peer and then hosts the next;
- ``group``: per problem, ``gqa`` (query heads per KV head > 1) or ``mha`` (1);
- ``backpressure``: per problem, ``stalled`` if an output row waited for ``o.ready``, else ``none``
  (:meth:`~DecodeCoverage.output`; ``stalled`` needs at least two rounds of the problem kinds,
  :data:`attnkit.testbench.decode_tb.BACKPRESSURE_FROM`).

The schedule and the group are fixed by a configuration, so one run cannot
hit every decode bin: with consecutive tile ranges of near-equal length a head
spread over all N cores (``N`` pieces) is longer than a core's share, so every
head is, and none is merged from one piece. Two runs cover them all, e.g.
(``units = 3``, ``block_n = 8``) ``heads = kv_heads = 1``, ``context = 24``
(MHA, 3 pieces) and ``heads = 8``, ``kv_heads = 4``, ``context = 9`` (GQA, 1 and
2 pieces, crossing and not, peer then host); :func:`merged` adds reports up.
"""

from __future__ import annotations

import itertools

import numpy as np
from cocotb_coverage.coverage import CoverPoint, coverage_db

from attnkit.models.attention import logits

POINTS = {
    "running_max": ("rises", "stays", "falls"),
    "row_mask": ("unmasked", "partial", "fully-masked"),
    "tile_mask": ("full", "partial", "empty"),
    "equal_scores": ("all-equal", "varied"),
    "extremes": ("q-min", "q-max", "k-min", "k-max", "v-min", "v-max", "logit-max"),
    "ragged_tile": ("ragged",),
    "backpressure": ("none", "stalled"),
}
MULTI = {"extremes"}  # one sample may hit several bins (a set of labels)
_instances = itertools.count()


class _Covered:
    """Cover points ``{name: bins}`` under a fresh name (``prefix`` plus a counter, so that two instances
    in one process never share bins)."""

    def __init__(self, p, points: dict, prefix: str):
        self.p, self.points = p, points
        self.prefix = f"{prefix}{next(_instances)}"
        self._sample = {name: self._point(name, bins) for name, bins in points.items()}

    def _point(self, name: str, bins):
        rel = (lambda got, b: b in got) if name in MULTI else None

        @CoverPoint(f"{self.prefix}.{name}", xf=lambda x: x, bins=list(bins), rel=rel, inj=name not in MULTI)
        def sample(x):
            pass

        return sample

    def _many(self, name: str, labels) -> None:
        s = self._sample[name]
        for label in labels:
            s(label)

    def output(self, stall_cycles: int) -> None:
        """Sample one problem's output stream: the cycles an offered row waited for ``o.ready``."""
        self._sample["backpressure"]("stalled" if stall_cycles else "none")

    def case(self, case) -> None:
        """Sample one case of the testbench (its problem, or each of its calls)."""
        raise NotImplementedError

    def _wrap(self, exact, fmt) -> None:
        """Sample ``wrap``: whether any exact sum leaves ``fmt``'s range."""
        self._sample["wrap"]("wrapped" if np.any((exact < fmt.min_raw) | (exact > fmt.max_raw)) else "in-range")

    def report(self) -> dict:
        out = {}
        for name in self.points:
            item = coverage_db[f"{self.prefix}.{name}"]
            bins = {str(b): int(h) for b, h in item.detailed_coverage.items()}
            out[name] = {"hit": sum(h > 0 for h in bins.values()), "declared": len(bins), "bins": bins}
        return out


class _CallsCovered(_Covered):
    """Cover points sampled per call of a case (the Edge-MoE units' testbenches: ``case.info["calls"]``)."""

    def case(self, case) -> None:
        for c in case.info["calls"]:
            self.call(c)

    def call(self, c) -> None:
        raise NotImplementedError


def _extremes_hit(inputs) -> set[str]:
    """``NAME-min`` and ``NAME-max`` for each ``(NAME, raw values, format)`` of ``inputs`` whose values reach
    that limit of the format."""
    return {
        f"{name}-{end}"
        for name, x, f in inputs
        for end, raw in (("min", f.min_raw), ("max", f.max_raw))
        if np.any(np.asarray(x) == raw)
    }


class AttentionCoverage(_Covered):
    """The attention cover points (:data:`POINTS`)."""

    def __init__(self, p, prefix: str = "attention"):
        super().__init__(p, POINTS, prefix)

    def case(self, case) -> None:
        self.problem(*case.info)

    def problem(self, q, k, v, mask) -> None:
        """Sample one problem's inputs (raw ``in_fmt``, N x d; ``mask`` N x N, True = keep), causal mask applied."""
        p, num = self.p, self.p.numerics
        n, R = p.seq_len, p.rows
        keep = np.asarray(mask, bool)
        if p.causal:
            keep = keep & np.tri(n, n, dtype=bool)
        t = logits(np.asarray(q, np.int64), np.asarray(k, np.int64), num, keep)
        lf = num.logit_fmt
        e = t >> lf.frac_bits
        kept = keep.sum(axis=1)
        self._many("row_mask", np.where(kept == n, "unmasked", np.where(kept == 0, "fully-masked", "partial")).tolist())
        tiles = [slice(j, min(j + R, n)) for j in range(0, n, R)]
        tile_kept = np.stack([keep[:, s].sum(axis=1) for s in tiles], axis=1)  # rows x tiles
        sizes = np.array([s.stop - s.start for s in tiles])
        self._many(
            "tile_mask",
            np.where(tile_kept == sizes, "full", np.where(tile_kept == 0, "empty", "partial")).ravel().tolist(),
        )
        neg = np.iinfo(np.int64).min
        tile_max = np.stack([np.where(keep[:, s], e[:, s], neg).max(axis=1) for s in tiles], axis=1)
        run = np.full(n, neg)
        steps = []
        for j in range(len(tiles)):
            has = tile_kept[:, j] > 0
            seen = has & (run != neg)
            m = tile_max[:, j]
            steps += np.where(m[seen] > run[seen], "rises", np.where(m[seen] == run[seen], "stays", "falls")).tolist()
            run = np.where(has, np.maximum(run, m), run)
        self._many("running_max", steps)
        tk = np.where(keep, t, lf.max_raw + 1)
        lo, hi = tk.min(axis=1), np.where(keep, t, lf.min_raw).max(axis=1)
        two = kept >= 2
        self._many("equal_scores", np.where(lo[two] == hi[two], "all-equal", "varied").tolist())
        f = num.in_fmt
        hit = _extremes_hit((("q", q, f), ("k", k, f), ("v", v, f)))
        if np.any(keep & (t == lf.max_raw)):
            hit.add("logit-max")
        self._sample["extremes"](frozenset(hit))
        if n % R:
            self._sample["ragged_tile"]("ragged")


class CoverageMonitor:
    """A testbench's monitor (:meth:`attnkit.testbench.streams.StreamBench.monitor`): samples ``cov``, one
    of the coverages here, with every case and its output stream's stalls, and reports it with its total."""

    def __init__(self, cov: _Covered):
        self.cov = cov

    def case_done(self, case, trace) -> None:
        self.cov.case(case)
        self.cov.output(sum(trace.held))

    def result(self) -> dict:
        report = self.cov.report()
        return {"coverage": report, "coverage_total": summary(report)}


def summary(report: dict) -> dict:
    """Bins hit and declared over every point, and the points with a bin never hit."""
    hit = sum(r["hit"] for r in report.values())
    declared = sum(r["declared"] for r in report.values())
    return {
        "hit": hit,
        "declared": declared,
        "missed": {
            name: [b for b, h in r["bins"].items() if not h] for name, r in report.items() if r["hit"] < r["declared"]
        },
    }


def decode_bins(units: int) -> dict:
    """The decode points' bins for ``units`` cores."""
    return {
        "head_cross": ("yes", "no"),
        "pieces": tuple(str(i) for i in range(1, units + 1)),
        "peer_then_host": ("yes",),
        "group": ("mha", "gqa"),
        "backpressure": POINTS["backpressure"],
    }


class DecodeCoverage(_Covered):
    """The decode cover points (:func:`decode_bins` of ``p.units``), same mechanism and report."""

    def __init__(self, p, prefix: str = "decode"):
        super().__init__(p, decode_bins(p.units), prefix)

    def case(self, case) -> None:
        self.problem()

    def problem(self) -> None:
        """Sample one problem: what the schedule has its cores and host do (its values do not change that)."""
        s = self.p.schedule
        for rs in s.ctas:
            self._sample["head_cross"]("yes" if len({(r.batch, r.kv_head) for r in rs}) > 1 else "no")
            if any(not a.host and b.host for a, b in zip(rs, rs[1:])):
                self._sample["peer_then_host"]("yes")
        self._many("pieces", [str(len(v)) for v in s.ranges_by_head().values()])
        self._sample["group"]("gqa" if self.p.group > 1 else "mha")


LINEAR_POINTS = {
    "kind": ("normal", "wide", "extremes", "equal-rows"),
    "gelu": ("on", "off"),
    "bias_fmt": ("bias", "attn_bias"),
    "rows": ("1", "2-5", "6+"),
    "wrap": ("wrapped", "in-range"),
    "extremes": ("x-min", "x-max", "w-min", "w-max", "b-min", "b-max"),
    "backpressure": POINTS["backpressure"],
}


class LinearCoverage(_CallsCovered):
    """The cover points of the linear unit's testbench, sampled per call (:meth:`call`) and per case's
    output stream (:meth:`output`); the same mechanism and report as :class:`AttentionCoverage`:

    - ``kind``: the call's kind (:data:`attnkit.testbench.edgemoe_linear_tb.KINDS`);
    - ``gelu``, ``bias_fmt``: its flags;
    - ``rows``: its token rows, ``1``, ``2-5`` or ``6+``;
    - ``wrap``: ``wrapped`` when an exact sum (bias plus truncated products) leaves ``act_fmt``'s range;
    - ``extremes``: which inputs reach their format's limits;
    - ``backpressure``: ``stalled`` if an output waited for ``o.ready``."""

    def __init__(self, p, prefix: str = "edgemoe_linear"):
        super().__init__(p, LINEAR_POINTS, prefix)

    def call(self, c) -> None:
        """Sample one call (an :class:`attnkit.testbench.edgemoe_linear_tb.Call`)."""
        n = self.p.numerics
        A, wf = n.act_fmt, n.weight_fmt
        bf = n.attn_bias_fmt if c.attn_bias else n.bias_fmt
        self._sample["kind"](c.kind)
        self._sample["gelu"]("on" if c.gelu else "off")
        self._sample["bias_fmt"]("attn_bias" if c.attn_bias else "bias")
        T = len(c.x)
        self._sample["rows"]("1" if T == 1 else "2-5" if T < 6 else "6+")
        exact = (c.b << (A.frac_bits - bf.frac_bits))[None, :] + (
            (c.x[:, None, :] * c.w[None, :, :]) >> wf.frac_bits
        ).sum(axis=2)
        self._wrap(exact, A)
        self._sample["extremes"](frozenset(_extremes_hit((("x", c.x, A), ("w", c.w, wf), ("b", c.b, bf)))))


EDGEMOE_ATTENTION_POINTS = {
    "kind": ("normal", "wide", "extremes", "equal-rows", "masked"),
    "blocks": ("1", "2+"),
    "last_block": ("full", "partial"),
    "masked": ("none", "some", "full-row"),
    "wrap": ("wrapped", "in-range"),
    "extremes": ("q-min", "q-max", "k-min", "k-max", "v-min", "v-max"),
    "backpressure": POINTS["backpressure"],
}


class EdgeMoeAttentionCoverage(_CallsCovered):
    """The cover points of the Edge-MoE attention unit's testbench, sampled per call (:meth:`call`) and per
    case's output stream (:meth:`output`); the same mechanism and report as :class:`AttentionCoverage`:

    - ``kind``: the call's kind (:data:`attnkit.testbench.edgemoe_attention_tb.KINDS`);
    - ``blocks``: its query blocks of ``attention.lanes``, ``1`` or ``2+``;
    - ``last_block``: ``partial`` when its last query block has fewer than ``lanes`` queries;
    - ``masked``: whether a score equals ``act_fmt``'s minimum (a masked key): ``none``, ``some``, or
      ``full-row`` when some query's every key is masked in some head;
    - ``wrap``: ``wrapped`` when an exact block sum of ``q x k`` products leaves ``act_fmt``'s range;
    - ``extremes``: which inputs reach their format's limits;
    - ``backpressure``: ``stalled`` if an output waited for ``o.ready``."""

    def __init__(self, p, prefix: str = "edgemoe_attention"):
        super().__init__(p, EDGEMOE_ATTENTION_POINTS, prefix)

    def call(self, c) -> None:
        """Sample one call (an :class:`attnkit.testbench.edgemoe_attention_tb.Call`)."""
        from attnkit.models.edgemoe_golden import scores
        from attnkit.testbench.edgemoe_attention_tb import golden_params

        p = self.p
        A = p.numerics.act_fmt
        T, L = len(c.q), p.lanes
        self._sample["kind"](c.kind)
        self._sample["blocks"]("1" if T <= L else "2+")
        self._sample["last_block"]("full" if T % L == 0 else "partial")
        masked = scores(c.q, c.k, golden_params(p)) == A.min_raw
        self._sample["masked"]("full-row" if masked.all(axis=2).any() else "some" if masked.any() else "none")
        prods = (c.q[:, None, :] * c.k[None, :, :]) >> A.frac_bits
        parts = prods.reshape(T, T, -1, p.dims).sum(axis=3)
        self._wrap(parts, A)
        self._sample["extremes"](frozenset(_extremes_hit((("q", c.q, A), ("k", c.k, A), ("v", c.v, A)))))


def merged(*reports: dict) -> dict:
    """Several runs' reports of the same points as one: hits added per bin."""
    out: dict = {}
    for rep in reports:
        for name, r in rep.items():
            bins = out.setdefault(name, {})
            for b, h in r["bins"].items():
                bins[b] = bins.get(b, 0) + h
    return {
        name: {"hit": sum(h > 0 for h in bins.values()), "declared": len(bins), "bins": bins}
        for name, bins in out.items()
    }
