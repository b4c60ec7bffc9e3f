"""The simulator's core: a pipeline of stages stepped tile by tile, event-driven or in closed form.

An engine describes its schedule as a :class:`Pipeline` (stages in order,
each bound to a resource such as ``"dram"``, ``"array_2d"``, ``"array_1d"``
or a buffer port) and a *tile program*: the per-stage durations, in cycles,
of every tile, written compactly with :class:`Repeat` so that a million
identical tiles cost one entry::

    from attnkit.sim.pipeline import Pipeline, Repeat, Stage, run

    pipe = Pipeline((Stage("load", "dram"), Stage("mac", "array_2d"), Stage("store", "dram_wr")), depth=2)
    program = [(40, 10, 0), Repeat(999_998, [(40, 50, 8)]), (0, 50, 8)]   # one tuple per tile
    t = run(pipe, program, mode="event")        # or mode="closed"
    t.cycles, t.busy["array_2d"], t.tiles

Semantics (both modes): stage ``s`` of tile ``i`` starts when stage ``s-1``
of tile ``i`` has finished, stage ``s`` of tile ``i-1`` has finished (each
stage handles tiles in order) and its resource is free; stage 0 of tile
``i`` also waits for the last stage of tile ``i - depth`` (``depth`` buffer
slots: 2 is double buffering, 0 is unbounded). ``cycles`` is when the last
stage of the last tile ends. A zero duration is allowed (the stage has
nothing to do for that tile).

``mode="event"`` is a discrete-event simulation: a heap of finish events,
one queue per resource (several stages may share one resource; a free
resource serves the waiting request of the oldest tile first). It expands
every tile, so it is for small problems and as the reference.

``mode="closed"`` evaluates the same schedule as the max-plus recurrence
``end[s][i] = max(end[s-1][i], end[s][i-1], [s=0] end[S-1][i-depth]) + d[s][i]``
and, inside every :class:`Repeat`, stops as soon as the state has become
periodic (the state after repetition ``k`` equals the state after ``k-p``
plus the same number of cycles in every component) and jumps over the
remaining repetitions. For identical tiles this is the classic
``prologue + iterations x II + epilogue`` (see :func:`uniform_cycles`),
found rather than assumed, so it is exact wherever the recurrence holds:
the closed form requires each resource to be used by a single stage, and
then agrees with the event-driven run cycle for cycle.

:mod:`attnkit.sim.batch.pipeline` is this closed form over many rows at
once (one schedule per design point, NumPy columns).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

Tile = tuple[int, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    resource: str


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Stage, ...]
    depth: int = 2  # buffer slots between the first and last stage (0: unbounded)

    def __post_init__(self):
        if not self.stages:
            raise ValueError("a pipeline needs at least one stage")
        if self.depth < 0:
            raise ValueError(f"depth {self.depth}: it must be 0 or more")

    @property
    def resources(self) -> list[str]:
        return list(dict.fromkeys(s.resource for s in self.stages))

    @property
    def dedicated(self) -> bool:
        return len(self.resources) == len(self.stages)


@dataclass(frozen=True)
class Repeat:
    """``count`` repetitions of ``body`` (tiles and nested Repeats), in order."""

    count: int
    body: tuple = ()

    def __init__(self, count: int, body: Iterable):
        object.__setattr__(self, "count", int(count))
        object.__setattr__(self, "body", tuple(body))


Program = Sequence[Tile | Repeat]


@dataclass
class Timing:
    cycles: int
    tiles: int
    busy: dict[str, int] = field(default_factory=dict)  # cycles each resource works

    def utilisation(self, resource: str) -> float:
        return self.busy.get(resource, 0) / self.cycles if self.cycles else 0.0


def run(pipe: Pipeline, program: Program, mode: str = "closed") -> Timing:
    if mode == "event":
        return run_event(pipe, program)
    if mode == "closed":
        return run_closed(pipe, program)
    raise ValueError(f"mode {mode!r}: expected 'closed' or 'event'")


def expand(program: Program) -> Iterator[Tile]:
    """Every tile of a program, in order."""
    for item in program:
        if isinstance(item, Repeat):
            for _ in range(item.count):
                yield from expand(item.body)
        else:
            yield item


def totals(pipe: Pipeline, program: Program) -> tuple[int, dict[str, int]]:
    """Number of tiles and busy cycles per resource, without stepping the schedule."""
    n, per_stage = column_sums(program, len(pipe.stages))
    busy = dict.fromkeys(pipe.resources, 0)
    for stage, d in zip(pipe.stages, per_stage):
        busy[stage.resource] += d
    return n, busy


def column_sums(program: Program, nstages: int) -> tuple[int, list[int]]:
    """Tile count and the sum of each column of a program of ``nstages``-tuples, Repeats expanded
    arithmetically (engines use it for their own per-tile records too)."""
    n, sums = _column_sums(program, nstages, {})
    return n, list(sums)


def _column_sums(program: Sequence, nstages: int, memo: dict) -> tuple[int, tuple]:
    """:func:`column_sums` with the sums of every Repeat's body remembered by its ``id`` (a body
    shared by several Repeats is summed once); each column is added in program order, as one
    addition per tile or per Repeat."""
    n, sums = 0, [0] * nstages
    tiles: list = []  # consecutive tiles, added column by column when a Repeat or the end comes
    for item in program:
        if isinstance(item, Repeat):
            if tiles:
                n += _add_tiles(sums, tiles, nstages)
                tiles = []
            got = memo.get(id(item.body))
            if got is None:
                got = memo[id(item.body)] = _column_sums(item.body, nstages, memo)
            k, s = got
            n += item.count * k
            sums = [a + item.count * b for a, b in zip(sums, s)]
        else:
            tiles.append(item)
    if tiles:
        n += _add_tiles(sums, tiles, nstages)
    return n, tuple(sums)


def _add_tiles(sums: list, tiles: list, nstages: int) -> int:
    for t in tiles:
        if len(t) != nstages:
            raise ValueError(f"tile {t} has {len(t)} durations for {nstages} stages")
    for i, column in enumerate(zip(*tiles)):
        acc = sums[i]
        for v in column:
            acc = acc + v
        sums[i] = acc
    return len(tiles)


def uniform_cycles(durations: Tile, n: int, depth: int = 2) -> int:
    """Cycles of ``n`` identical tiles: prologue + (n - 1) x II + epilogue.

    II is the slowest stage; prologue + epilogue is one tile's pass through
    every stage. Exact when the buffer loop is not the bottleneck
    (``depth == 0`` or ``max(d) * depth >= sum(d)``); otherwise use :func:`run`.
    """
    ii = max(durations)
    if depth and ii * depth < sum(durations):
        raise ValueError("the buffer loop is the bottleneck: use run()")
    return sum(durations) + (n - 1) * ii if n else 0


# ----------------------------------------------------------------------------- event-driven


def run_event(pipe: Pipeline, program: Program) -> Timing:
    tiles = list(expand(program))
    n, S, D = len(tiles), len(pipe.stages), pipe.depth
    for t in tiles:
        if len(t) != S:
            raise ValueError(f"tile {t} has {len(t)} durations for {S} stages")
    res_of = [s.resource for s in pipe.stages]
    done = [[False] * n for _ in range(S)]
    end_last = [0] * n
    queued = set()
    waiting: dict[str, list] = {r: [] for r in pipe.resources}  # heap of (tile, stage)
    free = dict.fromkeys(pipe.resources, True)
    events: list = []  # (time, tile, stage)
    busy = dict.fromkeys(pipe.resources, 0)
    now = 0

    def ready(s: int, i: int) -> bool:
        if i >= n or (s, i) in queued:
            return False
        if s > 0 and not done[s - 1][i]:
            return False
        if i > 0 and not done[s][i - 1]:
            return False
        if s == 0 and D and i >= D and not done[S - 1][i - D]:
            return False
        return True

    def offer(s: int, i: int) -> None:
        if ready(s, i):
            queued.add((s, i))
            heapq.heappush(waiting[res_of[s]], (i, s))

    def dispatch() -> None:
        for r, q in waiting.items():
            if free[r] and q:
                i, s = heapq.heappop(q)
                free[r] = False
                busy[r] += tiles[i][s]
                heapq.heappush(events, (now + tiles[i][s], i, s))

    if n:
        offer(0, 0)
        dispatch()
    while events:
        now = events[0][0]
        finished = []
        while events and events[0][0] == now:
            _, i, s = heapq.heappop(events)
            done[s][i] = True
            free[res_of[s]] = True
            if s == S - 1:
                end_last[i] = now
            finished.append((s, i))
        for s, i in finished:
            offer(s + 1, i) if s + 1 < S else None
            offer(s, i + 1)
            if s == S - 1 and D:
                offer(0, i + D)
        dispatch()
    return Timing(cycles=end_last[-1] if n else 0, tiles=n, busy=busy)


# ----------------------------------------------------------------------------- closed form

_SEEN = 64  # relative states kept while looking for a period (the walk goes on past them)


def run_closed(pipe: Pipeline, program: Program) -> Timing:
    if not pipe.dedicated:
        raise ValueError("the closed form needs one resource per stage; use mode='event' for shared resources")
    n, busy = totals(pipe, program)
    walk = _Closed(len(pipe.stages), pipe.depth)
    state = walk.seq(program, (0,) * (len(pipe.stages) + pipe.depth))
    return Timing(cycles=state[len(pipe.stages) - 1] if n else 0, tiles=n, busy=busy)


class _Closed:
    """One closed-form walk of a program.

    The state is a tuple: ``end[s]`` of the previous tile per stage, then the
    last ``depth`` ends of the last stage (oldest first). The recurrence
    commutes with a shift (adding ``c`` to every component of the state adds
    ``c`` to every component of the state after any tile), so what matters of
    a state is its shape, the state less its first component: a Repeat is
    periodic once its body leaves a shape it left before (repetition ``k``
    and ``k - p`` differ by the same number of cycles everywhere), and the
    rest of its repetitions are a jump; and a Repeat or a Repeat's body met
    again in a shape it was walked from (the next repetition of an enclosing
    Repeat, once periodic) is a lookup plus a shift, never walked again.
    Nodes are keyed by ``id`` for this walk only, while the program holds them.
    """

    __slots__ = ("S", "D", "memo", "plain")

    def __init__(self, nstages: int, depth: int):
        self.S, self.D = nstages, depth
        self.memo: dict = {}  # (id(node), shape before) -> (first component after - before, shape after)
        self.plain: dict = {}  # id(body) -> True when the body has no Repeat

    def step(self, state: tuple, d: Tile) -> tuple:
        S, D = self.S, self.D
        t = (max(state[0], state[S]) if D else state[0]) + d[0]  # waits for the buffer slot of tile i - depth
        out = [t]
        for s in range(1, S):
            t = max(t, state[s]) + d[s]
            out.append(t)
        if D:
            out += state[S + 1 :]
            out.append(t)
        return tuple(out)

    def seq(self, program: Sequence, state: tuple) -> tuple:
        step, repeat = self.step, self.repeat
        for item in program:
            state = repeat(item, state) if isinstance(item, Repeat) else step(state, item)
        return state

    def repeat(self, item: Repeat, state: tuple) -> tuple:
        if item.count <= 0:
            return state
        base = state[0]
        shape = tuple([x - base for x in state])
        key = (id(item), shape)
        got = self.memo.get(key)
        if got is not None:
            base += got[0]
            return tuple([x + base for x in got[1]])
        after, after_shape = self._repeat(item, state, shape)
        self.memo[key] = (after[0] - base, after_shape)
        return after

    def _repeat(self, item: Repeat, state: tuple, shape: tuple) -> tuple[tuple, tuple]:
        """The state after every repetition, and its shape: repetitions until the body leaves a shape it
        left before, then a jump over whole periods."""
        body, count = item.body, item.count
        plain = self.plain.get(id(body))
        if plain is None:
            plain = self.plain[id(body)] = not any(isinstance(x, Repeat) for x in body)
        memo, seq, step = self.memo, self.seq, self.step
        single = plain and len(body) == 1
        seen = {shape: (0, state[0])}
        k = 0
        while k < count:
            before = state[0]
            if plain:
                state = step(state, body[0]) if single else seq(body, state)
                base = state[0]
                shape = tuple([x - base for x in state])
            else:  # a body with Repeats: remembered by its shape
                key = (id(body), shape)
                got = memo.get(key)
                if got is None:
                    state = seq(body, state)
                    base = state[0]
                    shape = tuple([x - base for x in state])
                    memo[key] = (base - before, shape)
                else:
                    base = before + got[0]
                    shape = got[1]
                    state = tuple([x + base for x in shape])
            k += 1
            prev = seen.get(shape)
            if prev is not None:
                p, delta = k - prev[0], base - prev[1]
                q = (count - k) // p
                if q:
                    k += q * p
                    base += q * delta
                    state = tuple([x + base for x in shape])
                seen = {}
            elif len(seen) >= _SEEN:
                seen = {}
            seen[shape] = (k, base)
        return state, shape


def compress(program: Program) -> list:
    """The same tiles in the same order, with equal neighbours merged: ``t, t`` becomes
    ``Repeat(2, [t])``, ``Repeat(a, B), Repeat(b, B)`` becomes ``Repeat(a + b, B)``,
    ``Repeat(n, [Repeat(m, B)])`` becomes ``Repeat(n m, B)``; empty Repeats go. Both modes give the
    same timing for it (it expands to the same tiles); the closed form walks fewer nodes."""
    return _compress(program, {})


def _compress(program: Sequence, memo: dict) -> list:
    runs: list[list] = []  # [body, count, the item itself while it is alone]
    for item in program:
        if isinstance(item, Repeat):
            key = id(item)
            if key in memo:
                item = memo[key]
            else:
                item = memo[key] = _compress_repeat(item, memo)
            if item is None:
                continue
            body, count = (item.body, item.count) if isinstance(item, Repeat) else ((item,), 1)
        else:
            body, count = (item,), 1
        if runs and runs[-1][0] == body:
            runs[-1][1] += count
            runs[-1][2] = None
        else:
            runs.append([body, count, item])
    # an item left alone is kept (a Repeat met again elsewhere stays one object for the closed form's memo)
    return [item if item is not None else Repeat(count, body) for body, count, item in runs]


def _compress_repeat(item: Repeat, memo: dict):
    """A Repeat compressed (a single tile when it repeats one tile once; None when empty)."""
    if item.count <= 0:
        return None
    body = _compress(item.body, memo)
    count = item.count
    while len(body) == 1 and isinstance(body[0], Repeat):
        count *= body[0].count
        body = list(body[0].body)
    if not body:
        return None
    if len(body) == 1 and count == 1:
        return body[0]
    return Repeat(count, body)


def run_length(runs, expand=None) -> list:
    """A program from ``(item, count)`` runs: equal neighbours merged, a run of more than one a
    :class:`Repeat` (so the closed form sees the period). ``expand`` turns an item into its
    program (default: the item is one record)."""
    merged: list = []
    for item, n in runs:
        if n <= 0:
            continue
        if merged and merged[-1][0] == item:
            merged[-1][1] += n
        else:
            merged.append([item, n])
    out: list[Tile | Repeat] = []
    for item, n in merged:
        body = expand(item) if expand else [item]
        out += body if n == 1 else [Repeat(n, body)]
    return out
