"""The closed form of :mod:`attnkit.sim.pipeline` over many rows at once.

:class:`BatchRun` runs one schedule per design point, NumPy columns: an
engine's batch form steps tiles whose durations are columns and repeats
bodies a column of times, each row jumping over its repetitions once its own
state is periodic (as :func:`attnkit.sim.pipeline.run_closed` does). The
jumps are exact, so every row gets the cycles its scalar run gives.
:class:`BatchSums` takes the same calls and only sums the durations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from attnkit.sim.pipeline import Pipeline

_MAX_PERIOD = 8  # repetitions BatchRun compares when looking for a periodic state


class BatchRun:
    """The closed form of one pipeline for ``n`` rows at once (each row its own schedule).

    :meth:`step` runs one tile on the rows of ``active`` (None: all), its
    durations integers or int columns; :meth:`repeat` runs ``body(active)``
    ``count`` times per row (a column), or the tile ``body`` when it is a
    tuple of durations, jumping, row by row, over the repetitions once that
    row's state is periodic (as :func:`run_closed` does). An engine writes its
    tile program as calls, its counts and durations columns, so rows whose
    programs share a shape share the calls.
    """

    def __init__(self, pipe: Pipeline, n: int, settle: int = 0):
        if not pipe.dedicated:
            raise ValueError("the closed form needs one resource per stage")
        self.pipe, self.n = pipe, n
        # repetitions of a body before its states count for a period: an engine's own state beside
        # the pipeline's (gemm's last two outputs) is the body's own after that many
        self.settle = settle
        self.S, self.D = len(pipe.stages), pipe.depth
        # end[s] of the last tile per stage, then the last `depth` ends of the last stage (oldest first)
        self.x = np.zeros((self.S + self.D, n), dtype=np.int64)
        self.tiles = np.zeros(n, dtype=np.int64)
        self.work = np.zeros((self.S, n), dtype=np.int64)  # busy cycles per stage
        # per row, the most repetitions any repeat ran before its state was periodic (a repeat that never
        # became periodic: its count), and the lcm of the periods found; a walk reads them to know how
        # short a run may become and by how much it may move (PeriodicWalk). Row 0: since the run began;
        # row 1: since the row's last restart().
        self.transient = np.zeros((2, n), dtype=np.int64)
        self.cycle = np.ones((2, n), dtype=np.int64)

    @property
    def cycles(self) -> np.ndarray:
        return self.x[self.S - 1]

    def take(self, rows: np.ndarray) -> BatchRun:
        """A run of the rows at indices ``rows`` only, in their present state (:meth:`put` it back)."""
        sub = BatchRun(self.pipe, len(rows), self.settle)
        sub.x, sub.tiles, sub.work = self.x[:, rows], self.tiles[rows], self.work[:, rows]
        sub.transient, sub.cycle = self.transient[:, rows], self.cycle[:, rows]
        return sub

    def put(self, sub: BatchRun, rows: np.ndarray) -> None:
        """The state of ``sub`` (from :meth:`take`) back into rows ``rows``."""
        self.x[:, rows], self.tiles[rows], self.work[:, rows] = sub.x, sub.tiles, sub.work
        self.transient[:, rows], self.cycle[:, rows] = sub.transient, sub.cycle

    def restart(self, rows: np.ndarray) -> None:
        """Begin row 1 of :attr:`transient` and :attr:`cycle` again for rows ``rows``."""
        self.transient[1, rows], self.cycle[1, rows] = 0, 1

    def settled(self, rows: np.ndarray, since: int) -> np.ndarray:
        """Per row of ``rows``, the count from which a run of this run's repeats (row ``since`` of
        :attr:`transient`) is past its transient by more than the longest period looked for."""
        return self.transient[since, rows] + _MAX_PERIOD + 1

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The state now (copies of the ends, tiles and busy cycles), for :meth:`same_shape` and :meth:`follow`."""
        return self.x.copy(), self.tiles.copy(), self.work.copy()

    def same_shape(self, snap: tuple) -> np.ndarray:
        """Per row: the state now is ``snap``'s with every end later by one number of cycles, so a program
        run from here runs as it ran from there, that much later."""
        x = snap[0]
        return ((self.x[1:] - self.x[0]) == (x[1:] - x[0])).all(0)

    def follow(self, rows: np.ndarray, since: tuple, then: tuple, times=1) -> None:
        """Rows ``rows``, in :meth:`same_shape` of snapshot ``since``, run ``times`` over what ran from
        ``since`` to snapshot ``then`` (more than once only where ``then`` has ``since``'s shape): their
        ends become ``then``'s, later by the cycles they are later than ``since`` and by ``times - 1``
        times the cycles ``then`` is later than ``since``; tiles and busy cycles add ``times`` increments."""
        (x0, t0, w0), (x1, t1, w1) = since, then
        times = np.asarray(times)
        late = self.x[0, rows] - x0[0, rows] + (times - 1) * (x1[0, rows] - x0[0, rows])
        self.x[:, rows] = x1[:, rows] + late
        self.tiles[rows] += times * (t1[rows] - t0[rows])
        self.work[:, rows] += times * (w1[:, rows] - w0[:, rows])

    @property
    def busy(self) -> dict[str, np.ndarray]:
        out = {r: np.zeros(self.n, dtype=np.int64) for r in self.pipe.resources}
        for stage, w in zip(self.pipe.stages, self.work):
            out[stage.resource] += w
        return out

    def _durations(self, tile: Sequence) -> list[np.ndarray]:
        d = [_int_column(v) for v in tile]
        if len(d) != self.S:
            raise ValueError(f"a tile of {len(d)} durations for {self.S} stages")
        return d

    def step(self, tile: Sequence, active: np.ndarray | None = None) -> None:
        self._step(self._durations(tile), active)

    def _step(self, d: list[np.ndarray], active: np.ndarray | None) -> None:
        S, D, x = self.S, self.D, self.x
        new = np.empty_like(x)
        t = (np.maximum(x[0], x[S]) if D else x[0]) + d[0]  # and the buffer slot of tile i - depth
        new[0] = t
        for s in range(1, S):
            t = np.maximum(t, x[s]) + d[s]
            new[s] = t
        if D:
            new[S : S + D - 1] = x[S + 1 :]
            new[S + D - 1] = t
        if active is None:
            self.x = new
            self.tiles += 1
            for s in range(S):
                self.work[s] += d[s]
        else:
            self.x = np.where(active, new, x)
            self.tiles += active
            for s in range(S):
                self.work[s] += np.where(active, d[s], 0)

    def when(self, mask, body: Callable[[np.ndarray | None], None], active: np.ndarray | None = None) -> None:
        """``body`` once on the rows of ``mask`` (and ``active``): a part of the program only some rows have."""
        _when(self.n, mask, body, active)

    def repeat(
        self, count, body: Callable[[np.ndarray | None], None] | Sequence, active: np.ndarray | None = None
    ) -> None:
        n = self.n
        count = np.broadcast_to(_int_column(count), (n,))
        live = count > 0 if active is None else active & (count > 0)
        if not live.any():
            return
        if callable(body):
            run_body = body
        else:
            d = self._durations(body)

            def run_body(act):
                self._step(d, act)

        most = int(count[live].max())
        if most <= 2 + self.settle:  # too few repetitions for a jump to save any
            for i in range(most):
                rows = live & (count > i)
                run_body(None if rows.all() else rows)
            self.transient = np.where(live, np.maximum(self.transient, count), self.transient)
            return
        # Only the rows that repeat at all are tracked (idx), the body runs on the whole run.
        idx = np.flatnonzero(live)
        m = len(idx)
        cnt = count[idx]
        on = np.ones(m, dtype=bool)  # idx rows still repeating
        jumped = np.zeros(m, dtype=bool)
        k = np.zeros(m, dtype=np.int64)
        # The states after the last repetitions (a ring), as (x[0], x - x[0]): periodic when the
        # differences recur; `valid`: how many of them count for each row (1 after a jump).
        H = _MAX_PERIOD + 1
        bases = np.empty((H, m), dtype=np.int64)
        shapes = np.empty((H, self.S + self.D - 1, m), dtype=np.int64)
        tiles = np.empty((H, m), dtype=np.int64)
        work = np.empty((H, self.S, m), dtype=np.int64)

        at = slice(None) if m == n else idx  # a view, not a copy, where every row repeats

        def keep(slot):
            x = self.x[:, at]
            bases[slot], shapes[slot], tiles[slot], work[slot] = x[0], x[1:] - x[0], self.tiles[at], self.work[:, at]

        keep(0)
        valid = np.ones(m, dtype=np.int64)
        cols = np.arange(m)
        c = 0
        while True:
            if on.all():
                run_body(None if m == n else live)
            else:
                act = np.zeros(n, dtype=bool)
                act[idx[on]] = True
                run_body(act)
            k += on
            c += 1
            cur = c % H
            keep(cur)
            valid = np.minimum(valid + 1, H)
            # the slots written 1 .. min(c, H - 1) repetitions ago, those at least `settle` in
            back = np.arange(1, min(c - self.settle, H - 1) + 1)
            if back.size:
                slots = (cur - back) % H
                match = (shapes[slots] == shapes[cur]).all(axis=1) & (back[:, None] < valid) & on
                p = np.where(match, back[:, None], H).min(axis=0)
                q = np.where(p < H, (cnt - k) // np.minimum(p, H - 1), 0)
                jump = q > 0
                if jump.any():
                    first = idx[jump & ~jumped]
                    self.transient[:, first] = np.maximum(self.transient[:, first], k[jump & ~jumped])
                    jumped |= jump
                    p = np.where(jump, p, 0)
                    self.cycle[:, idx] = np.where(jump, np.lcm(self.cycle[:, idx], p), self.cycle[:, idx])
                    then = (cur - p) % H
                    # every repetition adds the same tiles and work: q times those of the last p
                    self.x[:, at] += q * (bases[cur] - bases[then, cols])
                    self.tiles[at] += q * (tiles[cur] - tiles[then, cols])
                    self.work[:, at] += q * (work[cur] - work[then, :, cols].T)
                    k += q * p
                    valid[jump] = 1
                    keep(cur)
            on &= k < cnt
            if not on.any():
                unsettled = idx[~jumped]
                self.transient[:, unsettled] = np.maximum(self.transient[:, unsettled], cnt[~jumped])
                return


def _when(n: int, mask, body: Callable[[np.ndarray | None], None], active: np.ndarray | None) -> None:
    rows = np.broadcast_to(mask, (n,)) if active is None else active & mask
    if rows.any():
        body(None if rows.all() else rows)


def _int_column(v) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind not in "iub":
        raise TypeError(f"durations and counts must be integers, got {a.dtype}")
    return a.astype(np.int64, copy=False)


class BatchSums:
    """The tile count and each stage's summed durations of a tile program written for :class:`BatchRun`
    (the same calls), without timing it: :func:`column_sums` per row, added in its order (a repeat's
    body summed on its own, then times the count), so float durations give its very sums."""

    def __init__(self, nstages: int, n: int, dtype=np.int64):
        self.n = n
        self.tiles: np.ndarray = np.zeros(n, dtype=np.int64)
        self.sums: np.ndarray = np.zeros((nstages, n), dtype=dtype)  # float64 for records with fractions

    def step(self, tile: Sequence, active: np.ndarray | None = None) -> None:
        self.tiles += 1 if active is None else active
        for s, v in enumerate(tile):
            v = _int_column(v) if self.sums.dtype.kind == "i" else np.asarray(v, dtype=self.sums.dtype)
            self.sums[s] = self.sums[s] + (v if active is None else np.where(active, v, 0))

    def when(self, mask, body: Callable[[np.ndarray | None], None], active: np.ndarray | None = None) -> None:
        _when(self.n, mask, body, active)

    def repeat(
        self, count, body: Callable[[np.ndarray | None], None] | Sequence, active: np.ndarray | None = None
    ) -> None:
        count = np.broadcast_to(_int_column(count), (self.n,))
        live = count > 0 if active is None else active & (count > 0)
        if not live.any():
            return
        tiles, sums = self.tiles, self.sums
        self.tiles, self.sums = np.zeros_like(tiles), np.zeros_like(sums)
        if callable(body):
            body(None if live.all() else live)
        else:
            self.step(body, None if live.all() else live)
        times = np.where(live, count, 0)
        self.tiles = tiles + times * self.tiles
        self.sums = sums + times * self.sums


class PeriodicWalk:
    """The closed form of a walk: a loop whose iteration runs a program on a :class:`BatchRun`, fixed by
    the walk's coordinates at its start (and adding to its own sums), such as a causal schedule's blocks.

    The walk :meth:`record` s, per row, its coordinates and sums (int columns) and the run's state at
    the points it chooses (after every iteration, or once a period). :meth:`periods` finds, per row, the
    shortest period p (up to ``longest`` records) over which, for ``seen`` periods running, the
    coordinates moved by the same amounts, the run's state had the same shape (its ends less the first)
    and its growing figures (the first end, tiles, busy cycles, the sums) had the same second difference
    (three periods; two where the caller knows the increments are affine).
    :meth:`jump` then moves a row ``q`` whole periods on: coordinates by ``q`` times their step, each
    growing figure ``f`` by Newton's forward formula ``f + q d1 + q (q + 1) / 2 d2``, the shape unchanged.

    That is exact when each of the next ``q`` periods runs the same calls as the last, every count
    moved by the same amount per period, and every run whose count moves is past its transient and
    moves by whole periods of its own (:attr:`BatchRun.transient`, :attr:`BatchRun.cycle`); the caller
    checks those. Then every period starts from the same shape, a repeat's extra or missing repetitions
    add or take its periodic increment, and the per-period increments are affine in the period index.
    """

    def __init__(self, n: int, coords: int, sums: int, run: BatchRun, longest: int = 4, seen: int = 3):
        self.n, self.run, self.longest, self.seen = n, run, longest, seen
        self.H = seen * longest + 1
        self.nshape = run.S + run.D - 1
        self.ncoord, self.nsums = coords, sums
        self.ngrow = sums + 1 + 1 + run.S  # sums, first end, tiles, work
        self.ring = np.zeros((self.H, self.nshape + coords + self.ngrow, n), dtype=np.int64)
        self.valid = np.zeros(n, dtype=np.int64)  # records since the row's last jump
        self.c = np.full(n, -1, dtype=np.int64)  # the slot of each row's last record

    def take(self, rows: np.ndarray, run: BatchRun) -> PeriodicWalk:
        sub = PeriodicWalk.__new__(PeriodicWalk)
        sub.__dict__.update(self.__dict__)
        sub.n, sub.run, sub.ring = len(rows), run, self.ring[:, :, rows]
        sub.valid, sub.c = self.valid[rows], self.c[rows]
        return sub

    def put(self, sub: PeriodicWalk, rows: np.ndarray) -> None:
        """The records of ``sub`` (from :meth:`take`) back into rows ``rows``."""
        self.ring[:, :, rows], self.valid[rows], self.c[rows] = sub.ring, sub.valid, sub.c

    def record(self, coords: list, sums: list, rows: np.ndarray | None = None) -> None:
        """A record of the rows at indices ``rows`` (None: all)."""
        run = self.run
        parts = [run.x[1:] - run.x[0]]
        parts += [np.asarray(v, dtype=np.int64)[None] for v in (*coords, *sums)]
        parts += [run.x[:1], run.tiles[None], run.work]
        state = np.concatenate(parts)
        idx = np.arange(self.n) if rows is None else rows
        self.c[idx] = (self.c[idx] + 1) % self.H
        self.ring[self.c[idx], :, idx] = state[:, idx].T
        self.valid[idx] = np.minimum(self.valid[idx] + 1, self.H)

    def at(self, back: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The coordinates (ncoord, len(rows)) of rows ``rows`` ``back`` records ago."""
        k = self.nshape
        return self.ring[(self.c[rows] - back) % self.H, k : k + self.ncoord, rows].T

    def periods(self, live: np.ndarray) -> np.ndarray:
        """Per row, the shortest period found (0: none): over the last ``seen`` periods the same shape at
        their boundaries, the same coordinate steps and (``seen`` >= 3) the same second differences."""
        n_rec = self.seen + 1
        rows = np.flatnonzero(live & (self.valid >= n_rec))
        best = np.zeros(self.n, dtype=np.int64)
        if not rows.size:
            return best
        P = min(self.longest, int(self.valid[rows].max() - 1) // self.seen)
        p = np.arange(1, P + 1)
        c = self.c[rows]
        v = [self.ring[(c[None] - j * p[:, None]) % self.H, :, rows[None]] for j in range(n_rec)]  # (P, rows, cols)
        k, m = self.nshape, self.nshape + self.ncoord
        same = self.valid[rows][None] >= self.seen * p[:, None] + 1
        for j in range(1, n_rec):
            same &= (v[j][..., :k] == v[0][..., :k]).all(-1)
        d = [v[j][..., k:] - v[j + 1][..., k:] for j in range(self.seen)]
        for j in range(1, self.seen):
            same &= (d[j][..., : m - k] == d[0][..., : m - k]).all(-1)
        same &= (d[0][..., : m - k] != 0).any(-1)  # the walk moves
        for j in range(1, self.seen - 1):
            same &= (d[j - 1][..., m - k :] - d[j][..., m - k :] == d[j][..., m - k :] - d[j + 1][..., m - k :]).all(-1)
        found = same.any(0)
        best[rows[found]] = p[same[:, found].argmax(0)]
        return best

    def step(self, rows: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The coordinates' step per period (ncoord, len(rows))."""
        return self.at(np.zeros_like(p), rows) - self.at(p, rows)

    def jump(self, rows: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``rows`` ``q`` periods of ``p`` records on; returns their coordinates and sums then
        ((ncoord, len(rows)), (sums, len(rows)))."""
        k, m = self.nshape, self.nshape + self.ncoord
        c = self.c[rows]
        v = [self.ring[(c - j * p) % self.H, :, rows].T for j in range(3)]  # (cols, rows)
        d1, d2 = v[0][k:] - v[1][k:], v[1][k:] - v[2][k:]
        new = v[0].copy()
        new[k:m] += q * d1[: m - k]
        new[m:] += q * d1[m - k :] + q * (q + 1) // 2 * (d1[m - k :] - d2[m - k :])
        self.ring[c, :, rows] = new.T
        self.valid[rows] = 1
        run, g = self.run, m + self.nsums
        base = new[g]
        run.x[:, rows] = np.concatenate([base[None], base + new[:k]])
        run.tiles[rows] = new[g + 1]
        run.work[:, rows] = new[g + 2 :]
        return new[k:m], new[m : m + self.nsums]
