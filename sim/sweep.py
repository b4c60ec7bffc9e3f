"""Sweep specs (configs/sweeps/*.yaml): parse, validate and expand into design points.

A spec names a base architecture and workloads and the parameters to vary::

    name: fusemax-arrays
    arch: fusemax                    # a name in configs/arch/ or a path (or a list of them)
    workloads: [bert, trxl, t5, xlm] # names in configs/workloads/ or paths
    engine: fusemax                  # optional: default each arch's own ``engine``
    evaluator: simulate              # optional: what runs a point, by name (see below)
    mode: closed                     # closed | event
    parameters:                      # grid axes: their cartesian product
      array_2d.rows: [64, 128, 256]                    # a list
      global_buffer.bytes: {start: 1048576, stop: 33554432, factor: 2}   # geometric range
      clock_hz: {start: 5.0e+8, stop: 1.0e+9, num: 6}  # linear range, num values
      array_1d.pes: {start: 64, stop: 256, step: 64}   # arithmetic range (stop included)
      workload.seq_len: [1024, 4096]                   # "workload." keys edit the workload
      word_bits: {uniform: [8, 16]}  # random: uniform, loguniform, randint, choice
    samples: 100                     # random draws, crossed with the grid (needs the random axes)
    seed: 7
    zip:                             # lists that vary together (one axis)
      array_2d.rows: [64, 128]
      array_2d.cols: [64, 128]
    let:                             # named helper values (CSV columns, usable below)
      pes: array_2d.rows * array_2d.cols
    derived:                         # config keys computed from the others
      array_1d.pes: array_2d.cols
    constraints:                     # points where any is false are left out...
      - pes <= 65536
      - area_mm2 <= 400              # ...or, when it names a metric, marked infeasible after simulation
    output: parquet                  # optional: csv | parquet (default: csv up to 100,000 points)

``evaluator`` names a function over a design point (:class:`Evaluate`), found
in the ``evaluators`` mapping the caller gives :func:`load_spec`
(:data:`attnkit.evaluators.EVALUATORS`: evaluators may run what the simulator
must not import, such as synthesis); without one a point runs the engine
(:func:`attnkit.sim.sweep_run.simulate`).

Parameter names are the ``--set`` keys of :func:`attnkit.sim.engines.simulate`
(arch keys plain, workload keys prefixed ``workload.``); each is checked
against the loaded base objects, and each value converted to the field's
type, before any point runs. Expressions are parsed with :mod:`ast` and
only arithmetic, comparisons, boolean operators, names, numbers, strings and
the functions in :data:`FUNCTIONS` are accepted; the checked tree is then
compiled (no name lookup reaches Python's builtins).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from attnkit.errors import ConfigError
from attnkit.params import config, kinds
from attnkit.params.config import field_type, get_path
from attnkit.params.kinds import split_key
from attnkit.sim.result import Result

SPEC_KEYS = (
    "name",
    "description",
    "arch",
    "workloads",
    "engine",
    "evaluator",
    "mode",
    "parameters",
    "samples",
    "seed",
    "zip",
    "let",
    "derived",
    "constraints",
    "output",
)
MAX_EXPONENT = 1024  # |b| in a ** b or pow(a, b): more is no design parameter, and can take hours
MAX_INT_BITS = 4096  # an integer result wider than this is refused before it is computed


class _Unbounded(ValueError):
    """An expression's arithmetic beyond the bounds above (reported naming the expression)."""


def _pow(a, b, mod=None):
    """``a ** b`` (and ``pow``) within the bounds: a huge exponent or result is an error, not a hang."""
    if mod is not None:
        return pow(a, b, mod)  # modular: stays small
    if isinstance(b, (int, float)) and abs(b) > MAX_EXPONENT and not (isinstance(a, (int, float)) and abs(a) <= 1):
        raise _Unbounded(f"exponent {b:g} is beyond {MAX_EXPONENT}")
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a).bit_length() * b > MAX_INT_BITS:
        raise _Unbounded(f"the power has about {abs(a).bit_length() * b} bits, more than {MAX_INT_BITS}")
    try:
        return a**b
    except OverflowError:
        raise _Unbounded(f"{a:g} ** {b:g} overflows a float") from None


def _mul(a, b):
    """``a * b``: numbers only (repeating text could fill the memory)."""
    if isinstance(a, str) or isinstance(b, str):
        raise _Unbounded("text cannot be multiplied")
    if isinstance(a, int) and isinstance(b, int) and abs(a).bit_length() + abs(b).bit_length() > MAX_INT_BITS:
        raise _Unbounded(f"a product of more than {MAX_INT_BITS} bits")
    return a * b


FUNCTIONS = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "log2": math.log2,
    "log10": math.log10,
    "log": math.log,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "ceil": math.ceil,
    "floor": math.floor,
    "pow": _pow,
}
_HIDDEN = {"_pow": _pow, "_mul": _mul}  # what ** and * become in a compiled expression
RANDOM_FORMS = ("uniform", "loguniform", "randint", "choice")
# The metrics a constraint may name; such a constraint is checked after simulation.
METRICS = tuple(f.name for f in dataclasses.fields(Result) if f.type in ("int", "float")) + ("latency_s",)
AXES = ("arch", "workload")  # the two built-in axes: which base arch and workload config

_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
)


class Expr:
    """A checked expression over dotted names (``array_2d.rows * 2 <= workload.seq_len``)."""

    def __init__(self, text: str, where: str):
        if not isinstance(text, (str, int, float)) or isinstance(text, bool):
            raise ConfigError(f"{where}: expected an expression, got {text!r}")
        self.text, self.where = str(text), where
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as e:
            raise ConfigError(f"{where}: {self.text!r}: syntax error: {e.msg}") from None
        self.names: dict[str, str] = {}  # dotted name -> identifier in the compiled code
        tree = _Rewrite(self, where).visit(tree)
        ast.fix_missing_locations(tree)
        self.tree = tree

    @property
    def code(self):
        code = getattr(self, "_code", None)
        if code is None:  # compiled lazily: code objects do not pickle, the tree does
            code = self._code = compile(self.tree, "<sweep>", "eval")
        return code

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_code"}

    def __call__(self, env: dict[str, Any]) -> Any:
        local = {ident: env[name] for name, ident in self.names.items()}
        try:
            return eval(self.code, {"__builtins__": {}, **FUNCTIONS, **_HIDDEN}, local)  # the tree is whitelisted
        except (_Unbounded, OverflowError) as e:
            raise ConfigError(f"{self.where}: {self.text!r}: {e}") from None


class _Rewrite(ast.NodeTransformer):
    """Refuse every node but the whitelisted ones; turn dotted names into plain identifiers."""

    def __init__(self, expr: Expr, where: str):
        self.expr, self.where = expr, where

    def generic_visit(self, node):
        if not isinstance(node, _ALLOWED_NODES):
            raise ConfigError(
                f"{self.where}: {self.expr.text!r}: {type(node).__name__} is not allowed "
                f"(only arithmetic, comparisons, and/or/not, names and {', '.join(FUNCTIONS)})"
            )
        return super().generic_visit(node)

    def _name(self, dotted: str, node) -> ast.Name:
        if "__" in dotted:
            raise ConfigError(f"{self.where}: {self.expr.text!r}: name {dotted!r} is not allowed")
        ident = self.expr.names.setdefault(dotted, f"_v{len(self.expr.names)}")
        return ast.copy_location(ast.Name(id=ident, ctx=ast.Load()), node)

    def visit_Name(self, node):
        if node.id in FUNCTIONS:
            raise ConfigError(f"{self.where}: {self.expr.text!r}: {node.id} is a function; call it")
        return self._name(node.id, node)

    def visit_Attribute(self, node):
        parts, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if not isinstance(inner, ast.Name):
            raise ConfigError(f"{self.where}: {self.expr.text!r}: only dotted names are allowed")
        return self._name(".".join([inner.id, *reversed(parts)]), node)

    def visit_BinOp(self, node):
        """``a ** b`` and ``a * b`` go through the bounded ``_pow`` and ``_mul``."""
        node = self.generic_visit(node)
        if isinstance(node.op, (ast.Pow, ast.Mult)):
            fn = "_pow" if isinstance(node.op, ast.Pow) else "_mul"
            call = ast.Call(func=ast.Name(id=fn, ctx=ast.Load()), args=[node.left, node.right], keywords=[])
            return ast.copy_location(call, node)
        return node

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise ConfigError(f"{self.where}: {self.expr.text!r}: only calls of {', '.join(FUNCTIONS)} are allowed")
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Constant(self, node):
        if not isinstance(node.value, (int, float, str, bool)):
            raise ConfigError(f"{self.where}: {self.expr.text!r}: constant {node.value!r} is not allowed")
        return node


class Evaluate(Protocol):
    """What a sweep runs on one design point: the point's arch and workload (already edited), the spec's
    ``engine`` (None: the arch's own) and ``mode``; a Result, or a flat dict of metrics."""

    def __call__(self, arch: Any, workload: Any, engine: str | None, mode: str, /) -> Result | Mapping[str, Any]: ...


@dataclass
class Plan:
    """A validated spec: base objects loaded once, the columns of every point, the points themselves."""

    spec_path: str
    name: str
    engine: str | None
    mode: str
    archs: dict[str, Any]  # axis value -> loaded base arch
    workloads: dict[str, Any]  # axis value -> loaded base workload
    params: list[str]  # swept keys, in column order (grid, zip, random)
    lets: dict[str, Expr]
    derived: dict[str, Expr]
    pre: list[Expr]  # constraints over parameters: filter points
    post: list[Expr]  # constraints naming metrics: checked after simulation
    base_refs: list[str]  # config keys read by expressions but not swept
    table: dict[str, np.ndarray] = field(default_factory=dict)  # `columns` -> one value per point
    rejected: int = 0  # points left out by constraints over parameters
    order: list = field(default_factory=list)  # (name, is_derived, Expr): lets and derived keys, dependencies first
    evaluate: Evaluate | None = None  # None: the engine (sweep_run.simulate)
    output: str | None = None  # csv | parquet (None: by the number of points)

    @property
    def columns(self) -> list[str]:
        """The parameter columns of a row (after ``point_id``)."""
        return [*AXES, *self.params, *self.lets, *[d for d in self.derived if d not in self.params]]

    @property
    def edit_keys(self) -> list[str]:
        """Config keys a point sets (swept then derived), in the order they are applied."""
        return [*self.params, *[d for d in self.derived if d not in self.params]]

    def __len__(self) -> int:
        return len(next(iter(self.table.values()))) if self.table else 0

    def rows(self, start: int = 0, stop: int | None = None) -> list[tuple]:
        """The points ``start:stop`` as tuples of values for :attr:`columns` (Python numbers and text)."""
        return list(zip(*(self.table[c][start:stop].tolist() for c in self.columns)))

    def point_ids(self, start: int = 0, stop: int | None = None, rows: list[tuple] | None = None) -> list[str]:
        """The :func:`point_id` of the points ``start:stop`` (or of ``rows``, as :meth:`rows` gives them)."""
        keys = [*AXES, *self.params]
        return [point_id(keys, r[: len(keys)]) for r in (self.rows(start, stop) if rows is None else rows)]

    def take(self, indices: Sequence[int]) -> Plan:
        """The same plan over the points at ``indices`` only (in that order): a sample to run."""
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"plan {self.name}: point indices outside 0..{len(self) - 1}")
        return dataclasses.replace(self, table={k: v[idx] for k, v in self.table.items()})

    @functools.cached_property
    def points(self) -> list[tuple]:
        """Every point as a tuple (all at once: a large sweep reads :meth:`rows` by chunks)."""
        return self.rows()

    @functools.cached_property
    def ids(self) -> list[str]:
        """Every point's id, in point order."""
        return self.point_ids(rows=self.points)


def point_id(keys, values) -> str:
    """A stable id from a point's swept keys and values (same point, same id, whatever the key order)."""
    text = "\x1f".join(f"{k}={v!r}" for k, v in sorted(zip(keys, values)))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def load_spec(
    path: str | Path, evaluate: Evaluate | None = None, evaluators: Mapping[str, Evaluate] | None = None
) -> Plan:
    """Read, validate and expand a sweep spec; every mistake is a one-line ConfigError naming file and key.

    The spec's ``evaluator`` is looked up in ``evaluators``; an ``evaluate`` given here takes its place."""
    path = Path(kinds.resolve(path, "sweeps"))
    data = config.load_yaml(path)
    src = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: expected a mapping at the top level")
    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise ConfigError(f"{src}: unknown key {unknown[0]!r} (expected one of: {', '.join(SPEC_KEYS)})")
    for key in ("arch", "workloads"):
        if key not in data:
            raise ConfigError(f"{src}: {key}: missing")

    def names(key):
        v = data[key]
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{src}: {key}: expected a config name or a non-empty list of them, got {data[key]!r}")
        return v

    archs = {a: _load(kinds.load_arch, a, path, "arch") for a in names("arch")}
    workloads = {w: _load(kinds.load_workload, w, path, "workloads") for w in names("workloads")}
    engine = data.get("engine")
    if engine is not None and not isinstance(engine, str):
        raise ConfigError(f"{src}: engine: expected an engine name, got {engine!r}")
    if engine is not None:
        from attnkit.sim import engines

        try:
            engines.get(engine)
        except Exception as err:
            raise ConfigError(f"{src}: engine: {err}") from None
    name = data.get("evaluator")
    if name is not None and evaluate is None:
        if not isinstance(name, str) or name not in (evaluators or {}):
            listed = ", ".join(sorted(evaluators)) if evaluators else "none here: run the spec with attnkit sweep"
            raise ConfigError(f"{src}: evaluator: unknown evaluator {name!r} (known: {listed})")
        assert evaluators is not None  # name is in it (checked above)
        evaluate = evaluators[name]
    mode = data.get("mode", "closed")
    if mode not in ("closed", "event"):
        raise ConfigError(f"{src}: mode: expected closed or event, got {mode!r}")
    output = data.get("output")
    if output not in (None, "csv", "parquet"):
        raise ConfigError(f"{src}: output: expected csv or parquet, got {output!r}")

    def check_key(key: str, where: str):
        axis, sub = split_key(key)
        bases = archs if axis == "arch" else workloads
        for name, obj in bases.items():
            tp = field_type(obj, sub)
            if tp is None:
                raise ConfigError(f"{src}: {where}: unknown parameter {key!r} ({axis} {name!r} has no field {sub!r})")
        return tp

    def convert(key: str, value, where: str):
        return convert_value(archs, workloads, key, value, src, where)

    # Grid axes, random axes, zipped axes.
    grid: dict[str, list] = {}
    rand: dict[str, tuple[str, list]] = {}
    params = _mapping(data, "parameters", src)
    for key, spec in params.items():
        where = f"parameters.{key}"
        check_key(key, where)
        if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in RANDOM_FORMS:
            form, args = next(iter(spec.items()))
            rand[key] = (form, _random_args(form, args, src, where))
            continue
        values = _values(spec, src, where)
        grid[key] = [convert(key, v, f"{where}[{i}]") for i, v in enumerate(values)]
    zipped = _mapping(data, "zip", src)
    lengths = set()
    for key, spec in zipped.items():
        where = f"zip.{key}"
        check_key(key, where)
        if key in params:
            raise ConfigError(f"{src}: {where}: {key!r} is also under parameters")
        values = _values(spec, src, where)
        lengths.add(len(values))
        zipped[key] = [convert(key, v, f"{where}[{i}]") for i, v in enumerate(values)]
    if len(lengths) > 1:
        raise ConfigError(f"{src}: zip: the lists differ in length ({', '.join(map(str, sorted(lengths)))})")

    samples = data.get("samples")
    if rand and samples is None:
        raise ConfigError(f"{src}: samples: missing (parameters {', '.join(rand)} are random)")
    if samples is not None:
        if not rand:
            raise ConfigError(f"{src}: samples: given but no parameter is random ({', '.join(RANDOM_FORMS)})")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigError(f"{src}: samples: expected a positive integer, got {samples!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{src}: seed: expected an integer, got {seed!r}")
    draws: list[tuple] = [()]
    if rand:
        rng = random.Random(seed)
        draws = []
        assert samples is not None  # checked above: random parameters need samples
        for i in range(samples):
            draws.append(tuple(convert(k, _draw(rng, *rand[k]), f"parameters.{k} (sample {i})") for k in rand))

    swept = [*grid, *zipped, *rand]
    # Expressions: let (helpers), derived (config keys), constraints.
    known = set(swept) | {*AXES}
    lets: dict[str, Expr] = {}
    for name, text in _mapping(data, "let", src).items():
        where = f"let.{name}"
        if not name.isidentifier():
            raise ConfigError(f"{src}: {where}: a let name must be a plain identifier")
        if name in known or name in METRICS or _is_config_key(name, archs, workloads):
            raise ConfigError(f"{src}: {where}: {name!r} is already a parameter, metric or config key")
        lets[name] = Expr(text, f"{src}: {where}")
        known.add(name)
    derived: dict[str, Expr] = {}
    for key, text in _mapping(data, "derived", src).items():
        where = f"derived.{key}"
        check_key(key, where)
        if key in swept:
            raise ConfigError(f"{src}: {where}: {key!r} is also swept")
        derived[key] = Expr(text, f"{src}: {where}")
    constraints = data.get("constraints", [])
    if not isinstance(constraints, list):
        raise ConfigError(f"{src}: constraints: expected a list of expressions")
    cons = [Expr(c, f"{src}: constraints[{i}]") for i, c in enumerate(constraints)]

    # Every name an expression reads must exist; config keys not swept read the base value.
    # Lets and derived keys are evaluated in dependency order (a let may read a derived key and back).
    base_refs: list[str] = []
    defined = {**{n: ("let", e) for n, e in lets.items()}, **{k: ("derived", e) for k, e in derived.items()}}

    def is_metric(n: str) -> bool:
        return n in METRICS and n not in known and n not in derived and not _is_config_key(n, archs, workloads)

    def check_names(e: Expr, where: str, allow_metrics: bool):
        for n in e.names:
            if n in known or n in derived or (allow_metrics and is_metric(n)):
                continue
            if _is_config_key(n, archs, workloads):
                if n not in base_refs:
                    base_refs.append(n)
                continue
            raise ConfigError(
                f"{src}: {where}: {e.text!r} names {n!r}, which is no parameter, let, derived key, "
                f"config key{' or metric (' + ', '.join(METRICS) + ')' if allow_metrics else ''}"
            )

    for name, (kind, e) in defined.items():
        check_names(e, f"{kind}.{name}", False)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, stack: tuple):
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise ConfigError(f"{src}: {defined[n][0]}.{n}: depends on itself ({' -> '.join((*stack, n))})")
        state[n] = 1
        for dep in defined[n][1].names:
            if dep in defined:
                visit(dep, (*stack, n))
        state[n] = 2
        order.append(n)

    for n in defined:
        visit(n, ())
    for i, e in enumerate(cons):
        check_names(e, f"constraints[{i}]", True)
    pre = [e for e in cons if not any(is_metric(n) for n in e.names)]
    post = [e for e in cons if any(is_metric(n) for n in e.names)]

    plan = Plan(
        str(path),
        str(data.get("name", path.stem)),
        engine,
        mode,
        archs,
        workloads,
        swept,
        lets,
        derived,
        pre,
        post,
        base_refs,
        evaluate=evaluate,
        output=output,
    )
    plan.order = [(n, defined[n][0] == "derived", defined[n][1]) for n in order]
    _expand(plan, grid, zipped, draws, src)
    return plan


def convert_value(archs, workloads, key: str, value, src: str, where: str):
    """``value`` checked and converted to the type of config field ``key`` (as a YAML file or --set would be)."""
    axis, sub = split_key(key)
    for obj in (archs if axis == "arch" else workloads).values():
        tp = field_type(obj, sub)
        if tp is int and isinstance(value, float) and value.is_integer():
            value = int(value)  # an expression such as 2 ** 7 or 256 / 2 that lands on an integer
        value = config.convert(tp, value, src, where)
    return value


def _is_config_key(name: str, archs, workloads) -> bool:
    axis, sub = split_key(name)
    bases = archs if axis == "arch" else workloads
    return all(field_type(o, sub) is not None for o in bases.values())


def _load(loader, name: str, spec: Path, key: str):
    """A base config by name (configs/...), by path, or by a path relative to the spec's folder."""
    near = spec.parent / name
    try:
        return loader(near if near.is_file() else name)
    except ConfigError as e:
        raise ConfigError(f"{spec}: {key}: {name!r}: {e}") from None


def _mapping(data: dict, key: str, src: str) -> dict:
    v = data.get(key) or {}
    if not isinstance(v, dict):
        raise ConfigError(f"{src}: {key}: expected a mapping, got {v!r}")
    return dict(v)


def _values(spec, src: str, where: str) -> list:
    """The values of one grid axis: a list, a scalar, {values: [...]} or a range."""
    if isinstance(spec, dict):
        if set(spec) == {"values"}:
            spec = spec["values"]
        else:
            return _range(spec, src, where)
    if not isinstance(spec, list):
        spec = [spec]
    if not spec:
        raise ConfigError(f"{src}: {where}: empty grid (no values)")
    return spec


def _range(spec: dict, src: str, where: str) -> list:
    kinds = [k for k in ("step", "factor", "num") if k in spec]
    extra = set(spec) - {"start", "stop", "step", "factor", "num"}
    if extra or len(kinds) != 1 or not {"start", "stop"} <= set(spec):
        raise ConfigError(
            f"{src}: {where}: expected a list, {{values: [...]}}, {{start, stop, step|factor|num}} "
            f"or one of {{{': [...]}, {'.join(RANDOM_FORMS)}: [...]}}, got {spec!r}"
        )
    start, stop, how = spec["start"], spec["stop"], kinds[0]
    by = spec[how]
    for k, v in (("start", start), ("stop", stop), (how, by)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{src}: {where}.{k}: expected a number, got {v!r}")
    out: list = []
    if how == "num":
        if not isinstance(by, int) or by < 1:
            raise ConfigError(f"{src}: {where}.num: expected a positive integer, got {by!r}")
        out = [start] if by == 1 else [start + (stop - start) * i / (by - 1) for i in range(by)]
        if all(isinstance(v, int) for v in (start, stop)) and all(float(v).is_integer() for v in out):
            out = [int(v) for v in out]
    elif how == "step":
        if by <= 0:
            raise ConfigError(f"{src}: {where}.step: expected a positive number, got {by!r}")
        i = 0
        while start + i * by <= stop * (1 + 1e-12) and i <= 1_000_000:
            out.append(start + i * by)
            i += 1
    else:
        if by <= 1 or start <= 0:
            raise ConfigError(f"{src}: {where}: a geometric range needs start > 0 and factor > 1")
        v = start
        while v <= stop * (1 + 1e-12) and len(out) <= 1_000_000:
            out.append(v)
            v = v * by
    if not out:
        raise ConfigError(f"{src}: {where}: empty grid (start {start} is past stop {stop})")
    return out


def _random_args(form: str, args, src: str, where: str) -> list:
    if form == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{src}: {where}.choice: expected a non-empty list, got {args!r}")
        return args
    if (
        not isinstance(args, list)
        or len(args) != 2
        or any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in args)
    ):
        raise ConfigError(f"{src}: {where}.{form}: expected [low, high], got {args!r}")
    lo, hi = args
    if (
        hi < lo
        or (form == "loguniform" and lo <= 0)
        or (form == "randint" and not all(isinstance(a, int) for a in args))
    ):
        raise ConfigError(f"{src}: {where}.{form}: {args!r} is not a valid range")
    return args


def _draw(rng: random.Random, form: str, args: list):
    if form == "choice":
        return args[rng.randrange(len(args))]
    lo, hi = args
    if form == "randint":
        return rng.randint(lo, hi)
    if form == "uniform":
        return rng.uniform(lo, hi)
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def base_env(plan: Plan, arch_name: str, workload_name: str) -> dict[str, Any]:
    """Values of config keys that expressions read but no point sets (from the base objects)."""
    env = {}
    for key in plan.base_refs:
        axis, sub = split_key(key)
        env[key] = get_path(plan.archs[arch_name] if axis == "arch" else plan.workloads[workload_name], sub)
    return env


MAX_POINTS = 50_000_000  # a grid larger than this is refused before it is expanded (its columns alone fill GBs)


def _expand(plan: Plan, grid: dict, zipped: dict, draws: list[tuple], src: str) -> None:
    """Fill ``plan.table``: arch x arch axes x workload x workload axes x zip rows x draws, the last varying
    fastest; a value repeated in an axis counts once.

    Columns are held as (distinct values, a code per point). Lets, derived keys and constraints are
    evaluated once per distinct combination of the values they read, as Python expressions (so exactly
    as for one point), and spread to the points by code: a grid of a million points costs NumPy
    indexing plus one evaluation per distinct combination.
    """
    keys = list(grid)
    arch_keys = [k for k in keys if split_key(k)[0] == "arch"]
    wl_keys = [k for k in keys if split_key(k)[0] == "workload"]
    zip_rows = _distinct(list(zip(*zipped.values())) or [()])
    draws = _distinct(draws)
    axes = [
        list(plan.archs),
        *[_distinct(grid[k]) for k in arch_keys],
        list(plan.workloads),
        *[_distinct(grid[k]) for k in wl_keys],
        zip_rows,
        draws,
    ]
    sizes = [len(a) for a in axes]
    n = math.prod(sizes)
    if n > MAX_POINTS:
        raise ConfigError(f"{src}: {n:,} design points: more than {MAX_POINTS:,}; split the sweep")
    index = np.unravel_index(np.arange(n, dtype=np.int64), sizes)
    cols: dict[str, tuple[list, np.ndarray]] = {"arch": (axes[0], index[0])}
    for j, k in enumerate(arch_keys, 1):
        cols[k] = (axes[j], index[j])
    w = 1 + len(arch_keys)
    cols["workload"] = (axes[w], index[w])
    for j, k in enumerate(wl_keys, w + 1):
        cols[k] = (axes[j], index[j])
    for j, k in enumerate(zipped):
        cols[k] = ([z[j] for z in zip_rows], index[-2])
    random_keys = plan.params[len(keys) + len(zipped) :]
    for j, k in enumerate(random_keys):
        cols[k] = ([d[j] for d in draws], index[-1])
    if plan.base_refs:
        pairs = [(a, wl) for a in plan.archs for wl in plan.workloads]
        pair_code = index[0] * len(plan.workloads) + index[w]
        for key in plan.base_refs:
            cols[key] = ([base_env(plan, a, wl)[key] for a, wl in pairs], pair_code)

    keep = np.ones(n, dtype=bool)
    for name, is_derived, e in plan.order:
        cols[name] = _evaluate(plan, e, cols, keep, src, f"derived.{name}" if is_derived else None)
    for e in plan.pre:
        values, codes = _evaluate(plan, e, cols, keep, src, None)
        truth = np.array([bool(v) for v in values], dtype=bool)
        keep[keep] = truth[codes[keep]]
    plan.rejected = int(n - keep.sum())
    if not keep.any():
        raise ConfigError(f"{src}: constraints: no design point satisfies them ({plan.rejected} rejected)")
    plan.table = {c: _as_array(cols[c][0])[cols[c][1][keep]] for c in plan.columns}


def _distinct(values: list) -> list:
    """``values`` without repeats (by repr: 1 and 1.0 differ, as in a point's id), first occurrences kept."""
    seen: dict[str, Any] = {}
    for v in values:
        seen.setdefault(repr(v), v)
    return list(seen.values())


def _evaluate(plan: Plan, e: Expr, cols: dict, rows: np.ndarray, src: str, derived: str | None):
    """``e`` over the points in ``rows`` (a mask), once per distinct combination of the values it reads:
    (its distinct results, a code per point). A derived key's results are converted to its field's type."""
    names = list(e.names)
    codes = [cols[nm][1] for nm in names]
    if codes:
        dims = [max(1, len(cols[nm][0])) for nm in names]
        key = np.ravel_multi_index(codes, dims) if math.prod(dims) < 2**62 else None
        if key is not None:
            uniq, inverse = np.unique(key[rows], return_inverse=True)
            combos = np.array(np.unravel_index(uniq, dims)).T
        else:
            combos, inverse = np.unique(np.stack(codes)[:, rows], axis=1, return_inverse=True)
            combos = combos.T
    else:
        combos, inverse = np.zeros((1, 0), dtype=np.int64), np.zeros(int(rows.sum()), dtype=np.int64)
    results = []
    for u, combo in enumerate(combos):
        env = {nm: cols[nm][0][c] for nm, c in zip(names, combo)}
        try:
            v = e(env)
            if derived is not None:
                v = convert_value(plan.archs, plan.workloads, derived.removeprefix("derived."), v, src, derived)
        except ConfigError:
            raise
        except Exception as err:
            first = np.flatnonzero(rows)[int(np.flatnonzero(inverse == u)[0])]
            point = {c: cols[c][0][cols[c][1][first]] for c in plan.columns if c in cols}
            raise ConfigError(
                f"{src}: evaluating the expressions at point {point}: {type(err).__name__}: {err}"
            ) from None
        results.append(v)
    out = np.zeros(len(rows), dtype=np.int64)
    out[rows] = inverse.reshape(-1)
    return results, out


def _as_array(values: list) -> np.ndarray:
    """A column's values as a NumPy array that gives them back as they are (``tolist``): bool, int64 or
    float64 where every value is one, else objects."""
    kinds = set(map(type, values))
    if kinds == {bool}:
        return np.array(values, dtype=bool)
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in values):
        return np.array(values, dtype=np.int64)
    if kinds == {float}:
        return np.array(values, dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
