"""A whole LLM request on a system: prefill and decode through every layer, the KV cache in memory, several chips.

:func:`run` costs a :class:`~attnkit.params.system.RequestWorkload` (a model,
``batch`` prompts of ``prompt`` tokens, ``generate`` tokens out) on a
:class:`~attnkit.params.system.SystemArch` and returns a :class:`Request`.

Phases. Prefill runs the whole prompt (``batch x prompt`` rows) through
every layer and yields the first token: its time is the TTFT. Then
``generate - 1`` decode steps each run ``batch`` rows, step ``i`` attending
to ``prompt + i`` cached keys; each step's time is one TPOT.

What one layer costs, on one chip of a tensor-parallel group of ``t``:

- **GEMMs** (weights ``word_bits`` wide): Q, K, V, O, and the gated MLP's
  gate, up and down, or for a mixture the router, the active experts and a
  shared expert. Tensor parallelism splits heads and MLP columns (Q, K, V,
  gate and up by output columns, O and down by input rows); K/V heads are
  replicated when ``t`` exceeds them. A mixture reads the experts the rows
  route to: ``E (1 - (1 - k/E)^rows)`` of them in expectation, each with its
  share of the rows. The LM head (``vocab / t`` columns) runs on each
  sequence's last token. On a spatial arch the GEMMs run on the stage's
  ``gemm_engine`` (the prefill arrays serve a decode stage that has none);
  on a GPU they are a roofline: the longer of FLOPs at the data sheet's
  tensor rate and bytes at the calibrated achievable HBM.
- **Attention** (causal, grouped-query) on the stage's engine, its arch's
  words ``kv_bits`` wide (the GEMMs' ``word_bits``). Prefill on a
  GPU is a roofline of the same kind (stage engine ``roofline``: FLOPs of the
  causal triangle, its exps at the SFU rate, Q/K/V/O bytes); decode on a GPU
  runs the calibrated decode kernels (``flashdecoding``...).
- **Other**: two RMSNorms and two residual adds per layer, the MLP's
  activation and product, the embedding gather and the final norm, each
  streaming its activations through memory (read and write) and its
  element operations on the vector unit (the 1D array; on a GPU the FP32
  units).
- **Communication**: with ``t > 1``, two all-reduces per layer of the rows'
  activations on a ring, ``2 (t-1)/t x bytes / link bandwidth + 2 (t-1) x
  latency``, and an all-gather of the logits; with pipeline stages, one
  activation transfer per stage boundary. Stages run one after another (no
  micro-batching), so pipeline parallelism splits memory, not latency.

Memory, per chip: the weights over ``t x pipeline_parallel`` chips (norms
replicated) and the KV cache of ``batch x (prompt + generate)`` tokens,
``2 x layers x kv_heads x head_dim x kv_bytes`` per token, its layers over
the pipeline and its K/V heads over ``t`` (``ceil(kv_heads / t)`` each). A
batch that does not fit is refused in one line naming the largest that does.

Energy is each engine's (its arch's energy table) summed over chips; links
are not priced. Area is the chip's (the prefill arch, plus the decode arch
when it is another) times chips; a GPU's is its die.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from attnkit.errors import AttnkitError
from attnkit.params import config
from attnkit.params.arch import GpuArch, MulticoreArch, SpatialArch
from attnkit.params.model import LlmModel
from attnkit.params.system import RequestWorkload, Stage, SystemArch
from attnkit.params.workload import AttentionWorkload, DecodeWorkload, GemmWorkload
from attnkit.sim import engines
from attnkit.sim.energy import EnergyTable, load_table
from attnkit.sim.result import Result

if TYPE_CHECKING:
    import numpy as np

KINDS = ("attention", "gemm", "communication", "other")
# the figures a person reads first, in this order (the CLI's table, the reproduction's columns)
HEADLINE = ("ttft_s", "tpot_s", "latency_s", "tokens_per_s", "tokens_per_s_per_mm2", "energy_per_token_j", "area_mm2")
ROOFLINE = "roofline"  # a stage engine: attention as a roofline of FLOPs, exps and bytes (no engine runs it)
PHASES = ("prefill", "decode")


@dataclass
class Cost:
    """Seconds and picojoules of one piece of work on one chip, and the bytes it moves through memory."""

    seconds: float = 0.0
    energy_pj: float = 0.0
    dram_bytes: float = 0.0

    def __add__(self, o: Cost) -> Cost:
        return Cost(self.seconds + o.seconds, self.energy_pj + o.energy_pj, self.dram_bytes + o.dram_bytes)

    def __mul__(self, n: float) -> Cost:
        return Cost(self.seconds * n, self.energy_pj * n, self.dram_bytes * n)


@dataclass
class Request:
    """What :func:`run` answers; :meth:`to_dict` is ``attnkit request --json``."""

    system: str
    model: str
    prompt: int
    generate: int
    batch: int
    chips: int
    ttft_s: float
    tpot_steps_s: list[float]
    weights_bytes: float  # per chip
    kv_cache_bytes: float  # per chip, at the last token
    capacity_bytes: float
    max_batch: int
    energy_pj: float  # all chips
    dram_bytes: float  # all chips
    area_mm2: float
    breakdown: dict[str, dict[str, float]]  # phase -> kind -> seconds
    gemm_model: dict[str, str]  # phase -> "engine NAME on ARCH" or "roofline on ARCH"
    decode_simulated_steps: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tpot_s(self) -> float:
        import numpy as np

        return float(np.mean(self.tpot_steps_s)) if self.tpot_steps_s else 0.0

    @property
    def latency_s(self) -> float:
        import numpy as np

        return self.ttft_s + float(np.sum(self.tpot_steps_s))

    @property
    def tokens_per_s(self) -> float:
        return self.batch * self.generate / self.latency_s

    def to_dict(self) -> dict[str, Any]:
        tokens = self.batch * self.generate
        return {
            "system": self.system,
            "model": self.model,
            "prompt": self.prompt,
            "generate": self.generate,
            "batch": self.batch,
            "chips": self.chips,
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "latency_s": self.latency_s,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_mm2": self.tokens_per_s / self.area_mm2 if self.area_mm2 else None,
            "energy_per_token_j": self.energy_pj * 1e-12 / tokens,
            "area_mm2": self.area_mm2,
            "dram_bytes": self.dram_bytes,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "capacity_bytes": self.capacity_bytes,
            "fits": True,
            "max_batch": self.max_batch,
            "breakdown": self.breakdown,
            "gemm_model": self.gemm_model,
            "decode_simulated_steps": self.decode_simulated_steps,
            "tpot_steps_s": self.tpot_steps_s,
            **self.extra,
        }


# --- memory ---------------------------------------------------------------------------------------


def kv_heads_per_chip(model: LlmModel, tp: int) -> int:
    """K/V heads one chip holds: split over the tensor-parallel group, replicated once it outnumbers them."""
    return math.ceil(model.kv_heads / tp)


def weights_per_chip(system: SystemArch, model: LlmModel) -> float:
    """Weight bytes on one chip: everything but the norms split over every chip, the norms on each."""
    parts = model.parameters()
    split = sum(v for k, v in parts.items() if k != "norms") / system.chips
    return (split + parts["norms"]) * system.word_bits / 8


def kv_per_sequence(system: SystemArch, model: LlmModel, tokens: int) -> float:
    """KV-cache bytes of one sequence of ``tokens`` tokens on one chip."""
    layers = math.ceil(model.layers / system.pipeline_parallel)
    return 2 * layers * kv_heads_per_chip(model, system.tp) * model.head_dim * system.kv_bits / 8 * tokens


def max_batch(system: SystemArch, model: LlmModel, tokens: int) -> int:
    """The most sequences of ``tokens`` tokens whose KV cache fits beside the weights on every chip."""
    free = system.memory.capacity_bytes - weights_per_chip(system, model)
    return max(0, int(free // kv_per_sequence(system, model, tokens)))


def check_fits(system: SystemArch, w: RequestWorkload) -> int:
    """The largest batch that fits; refuses ``w.batch`` beyond it in one line."""
    model, tokens = w.model, w.prompt + w.generate
    most = max_batch(system, model, tokens)
    if w.batch <= most:
        return most
    gb = 1e-9
    weights, cap = weights_per_chip(system, model), system.memory.capacity_bytes
    if most == 0 and weights > cap:
        raise AttnkitError(
            f"{model.name} on {system.name}: the weights alone need {weights * gb:.1f} GB per chip, more than "
            f"its {cap * gb:.1f} GB, so no batch fits; {_more_chips(system, w)}"
        )
    per_seq = kv_per_sequence(system, model, tokens)
    raise AttnkitError(
        f"{model.name} on {system.name}: batch {w.batch} of {tokens} tokens does not fit: "
        f"{weights * gb:.1f} GB of weights + {w.batch} x {per_seq * gb:.2f} GB of KV cache per chip > "
        f"{cap * gb:.1f} GB; the largest batch that fits is {most}"
    )


def _more_chips(system: SystemArch, w: RequestWorkload) -> str:
    """Where the request would fit: the fewest tensor-parallel chips (a divisor of the heads) and its batch."""
    for chips in range(system.chips + 1, 4 * system.chips * system.pipeline_parallel + 65):
        tp = chips // system.pipeline_parallel
        if chips % system.pipeline_parallel or w.model.heads % tp:
            continue
        bigger = dataclasses.replace(system, chips=chips, tensor_parallel=tp)
        most = max_batch(bigger, w.model, w.prompt + w.generate)
        if most >= 1:
            return f"on {chips} chips (tensor_parallel={tp}) the largest batch that fits is {most}"
    return "more chips are needed"


# --- one stage's machine ----------------------------------------------------------------------------


def _on_chip(arch: Any, system: SystemArch, word_bits: int) -> Any:
    """``arch`` with the system's memory bandwidth (when it gives one) and ``word_bits``-bit words."""
    bw = system.memory.bandwidth_bytes_per_s
    edits = [f"dram.bandwidth_bytes_per_s={bw!r}"] if bw and bw != arch.dram.bandwidth_bytes_per_s else []
    edits += [f"word_bits={word_bits}"] if word_bits != arch.word_bits else []
    return config.edit(arch, edits)


class Machine:
    """One chip's arch for one phase: its engines, its peak rates and its memory bandwidth.

    ``gemm_arch`` is the spatial arch the weight GEMMs run on (None: a roofline on ``arch``).
    """

    def __init__(self, system: SystemArch, stage: Stage, gemm_arch: SpatialArch | None):
        self.stage = stage
        self.arch = _on_chip(stage.arch, system, system.kv_bits)  # attention reads the KV cache's words
        self.gemm_arch = _on_chip(gemm_arch, system, system.word_bits) if gemm_arch is not None else None
        self.table: EnergyTable = load_table(self.arch.energy)
        self.gemm_table = load_table(self.gemm_arch.energy) if self.gemm_arch is not None else self.table
        self.word_bytes = system.word_bits / 8
        self.kv_bytes = system.kv_bits / 8
        self.attention = None if stage.engine == ROOFLINE else engines.get(stage.engine)
        self._gemms: dict[tuple[int, int, int], Cost] = {}

    @property
    def memory_bandwidth(self) -> float:
        a = self.arch
        return a.hbm_bytes_per_s if isinstance(a, GpuArch) else a.dram.bandwidth_bytes_per_s

    def peak_flops(self) -> float:
        """Multiply-add FLOP/s of every MAC unit (spatial: 2D and 1D arrays; GPU: tensor cores)."""
        a = self.arch
        if isinstance(a, GpuArch):
            return a.units * a.unit.tensor_flops_per_cycle * a.clock_hz
        units = a.units if isinstance(a, MulticoreArch) else 1
        peak = 2 * units * (a.array_2d.pes + a.array_1d.pes) * a.clock_hz
        if self.gemm_arch is not None and self.gemm_arch.name != a.name:
            g = self.gemm_arch
            peak += 2 * (g.array_2d.pes + g.array_1d.pes) * g.clock_hz
        return float(peak)

    def _vector_rate(self) -> float:
        """Element operations per second of the vector unit (1D array; a GPU's FP32 units)."""
        a = self.arch
        if isinstance(a, GpuArch):
            return a.units * a.unit.fp32_per_cycle * a.clock_hz
        units = a.units if isinstance(a, MulticoreArch) else 1
        return units * max(a.array_1d.pes, 1) * a.clock_hz

    def _roofline(self, flops: float, nbytes: float, exps: float = 0.0) -> Cost:
        a = self.arch
        t = max(flops / self.peak_flops(), nbytes / self.memory_bandwidth)
        if exps and isinstance(a, GpuArch):
            t = max(t, exps / (a.units * a.unit.exp_per_cycle * a.clock_hz))
        bits = 8 * nbytes
        pj, _ = self.table.energy({"mac.mac": flops / 2, "dram.read": bits / self._access_bits()})
        return Cost(t, pj, nbytes)

    def _access_bits(self) -> int:
        return self.arch.dram.access_bits

    def gemm(self, m: int, n: int, k: int) -> Cost:
        """C[m x n] = A[m x k] B[k x n], B the weights (cached by shape)."""
        key = (m, n, k)
        if key not in self._gemms:
            if self.gemm_arch is None:
                nbytes = (m * k + k * n + m * n) * self.word_bytes
                self._gemms[key] = self._roofline(2.0 * m * n * k, nbytes)
            else:
                r = engines.get(self.stage.gemm_engine)(
                    self.gemm_arch, GemmWorkload(name="gemm", m=m, n=n, k=k), self.gemm_table
                )
                self._gemms[key] = Cost(r.latency_s, r.energy_pj, r.dram_bytes)
        return self._gemms[key]

    def elementwise(self, elements: float, ops_per_element: float, passes: float) -> Cost:
        """``elements`` activations streamed through memory ``passes`` times (read + write), each with
        ``ops_per_element`` vector operations."""
        nbytes = 2 * passes * elements * self.word_bytes
        t = max(elements * ops_per_element / self._vector_rate(), nbytes / self.memory_bandwidth)
        bits = 8 * nbytes
        pj, _ = self.table.energy({"adder.add": elements * ops_per_element, "dram.read": bits / self._access_bits()})
        return Cost(t, pj, nbytes)

    def _engine_result(self, workload: Any) -> Cost:
        assert self.attention is not None  # callers take the roofline when there is no engine
        r: Result = self.attention(self.arch, workload, self.table)
        return Cost(r.latency_s, r.energy_pj, r.dram_bytes)

    def prefill_attention(self, model: LlmModel, batch: int, prompt: int, heads: int, kv: int) -> Cost:
        """Causal attention of ``batch`` prompts over this chip's ``heads`` query and ``kv`` K/V heads."""
        if self.attention is None:
            pairs = batch * heads * prompt * (prompt + 1) / 2  # (query, key) pairs under the mask
            nbytes = batch * prompt * model.head_dim * (2 * heads + 2 * kv) * self.kv_bytes
            return self._roofline(4 * pairs * model.head_dim, nbytes, exps=pairs)
        return self._engine_result(_attention(model, batch, heads, kv, seq_len=prompt, causal=True))

    def decode_attention(self, model: LlmModel, batch: int, context: int, heads: int, kv: int) -> Cost:
        """One new query per sequence and head against ``context`` cached keys."""
        if self.attention is None:
            pairs = batch * heads * context
            nbytes = batch * model.head_dim * (2 * heads + 2 * kv * context) * self.kv_bytes
            return self._roofline(4 * pairs * model.head_dim, nbytes, exps=pairs)
        takes = self.attention.workload or ()
        w: Any
        if "decode" in takes:
            w = DecodeWorkload(
                name=model.name, batch=batch, heads=heads, kv_heads=kv, head_dim=model.head_dim, context=context
            )
        else:
            w = _attention(model, batch, heads, kv, seq_len=1, context=context)
        return self._engine_result(w)

    def area_mm2(self) -> float:
        """This phase's arch area: a GPU's die, else the engine's area model (static: one small run gives it)."""
        a = self.arch
        if isinstance(a, GpuArch):
            return a.die_mm2
        if self.attention is None:
            return 0.0
        w: Any
        if "decode" in (self.attention.workload or ()):
            w = DecodeWorkload(name="area", batch=1, heads=1, kv_heads=1, head_dim=64, context=128)
        else:
            w = AttentionWorkload(name="area", batch=1, heads=1, head_dim=64, seq_len=128)
        return float(self.attention(a, w, self.table).area_mm2)


def _attention(model: LlmModel, batch: int, heads: int, kv: int, seq_len: int, **more: Any) -> AttentionWorkload:
    """The attention workload of ``batch`` sequences on one chip's ``heads`` query and ``kv`` K/V heads."""
    return AttentionWorkload(
        name=model.name,
        batch=batch,
        heads=heads,
        kv_heads=kv,
        head_dim=model.head_dim,
        seq_len=seq_len,
        d_model=model.d_model,
        ffn=max(model.active_mlp_ffn(), 1),
        **more,
    )


# --- one layer, one pass --------------------------------------------------------------------------


def layer_gemms(model: LlmModel, rows: int, tp: int) -> list[tuple[str, int, int, int, float]]:
    """One layer's weight GEMMs on one chip of ``tp``: (name, m, n, k, how many), for ``rows`` token rows."""
    d, kv = model.d_model, kv_heads_per_chip(model, tp) * model.head_dim
    q = model.q_dim // tp
    out: list[tuple[str, int, int, int, float]] = [
        ("Q", rows, q, d, 1),
        ("K", rows, kv, d, 1),
        ("V", rows, kv, d, 1),
        ("O", rows, d, q, 1),
    ]

    def mlp(name: str, m: int, hidden: int, count: float) -> None:
        h = max(hidden // tp, 1)
        out.extend([(f"{name}.gate", m, h, d, count), (f"{name}.up", m, h, d, count), (f"{name}.down", m, d, h, count)])

    if model.experts:
        active = model.expected_experts(rows)
        out.append(("router", rows, model.experts, d, 1))
        mlp("experts", math.ceil(rows * model.experts_per_token / active), model.expert_ffn, active)
        if model.shared_expert_ffn:
            mlp("shared", rows, model.shared_expert_ffn, 1)
    else:
        mlp("mlp", rows, model.ffn, 1)
    return out


def _ring(nbytes: float, n: int, system: SystemArch, all_reduce: bool) -> Cost:
    """A ring all-reduce (or all-gather) of ``nbytes`` over ``n`` chips."""
    if n <= 1:
        return Cost()
    link = system.interconnect
    steps = (2 if all_reduce else 1) * (n - 1)
    return Cost(steps / n * nbytes / link.link_bandwidth_bytes_per_s + steps * link.link_latency_s)


@dataclass
class _Pass:
    """One forward pass of ``rows`` rows through the whole model, on one chip, by kind (attention apart)."""

    per_layer: dict[str, Cost]
    once: dict[str, Cost]

    def seconds(self, layers: int, attention: Cost) -> dict[str, float]:
        out = {k: layers * c.seconds + self.once.get(k, Cost()).seconds for k, c in self.per_layer.items()}
        out["attention"] = layers * attention.seconds
        return out

    def total(self, layers: int, attention: Cost) -> Cost:
        """The whole pass on one chip: ``layers`` layers with ``attention`` each, and the parts run once."""
        every = [c * layers for c in self.per_layer.values()] + list(self.once.values())
        return sum(every, attention * layers)


def _pass(m: Machine, system: SystemArch, model: LlmModel, rows: int, seqs: int) -> _Pass:
    """The GEMMs, element-wise work and communication of one pass (``seqs`` sequences' last rows get logits)."""
    tp, wb, d = system.tp, m.word_bytes, model.d_model
    gemm = Cost()
    for _, mm, n, k, count in layer_gemms(model, rows, tp):
        gemm = gemm + m.gemm(mm, n, k) * count
    hidden = max(model.active_mlp_ffn() // tp, 1)
    # two RMSNorms (square, sum, scale, weight) and two residual adds per layer; the gated activation
    other = m.elementwise(rows * d, 2 * 4 + 2 * 1, 4) + m.elementwise(rows * hidden, 5, 1)
    comm = _ring(rows * d * wb, tp, system, all_reduce=True) * 2
    head = m.gemm(seqs, max(model.vocab // tp, 1), d)
    once_other = m.elementwise(rows * d, 0, 0.5) + m.elementwise(seqs * d, 4, 1)  # embedding gather, final norm
    once_comm = _ring(seqs * model.vocab * wb, tp, system, all_reduce=False)
    hop = Cost(rows * d * wb / system.interconnect.link_bandwidth_bytes_per_s + system.interconnect.link_latency_s)
    once_comm = once_comm + hop * (system.pipeline_parallel - 1)
    return _Pass(
        per_layer={"gemm": gemm, "other": other, "communication": comm},
        once={"gemm": head, "other": once_other, "communication": once_comm},
    )


# --- the request ----------------------------------------------------------------------------------


def _gemm_arch(first: Stage, second: Stage) -> SpatialArch | None:
    for s in (first, second):
        if isinstance(s.arch, SpatialArch):
            return s.arch
    return None


def _decode_contexts(w: RequestWorkload) -> tuple[np.ndarray, np.ndarray]:
    """Every decode step's context and the steps simulated (all, or ``decode_samples`` spread evenly)."""
    import numpy as np

    contexts = w.prompt + np.arange(1, w.generate)
    if not w.decode_samples or w.decode_samples >= len(contexts):
        return contexts, contexts
    picks = np.unique(np.linspace(0, len(contexts) - 1, w.decode_samples).round().astype(int))
    return contexts, contexts[picks]


def run(system: SystemArch, w: RequestWorkload, progress=None) -> Request:
    """Cost request ``w`` on ``system`` (refused in one line when it does not fit or split)."""
    import numpy as np

    model, tp = w.model, system.tp
    if model.heads % tp:
        raise AttnkitError(
            f"{system.name}: tensor_parallel {tp} does not divide {model.name}'s {model.heads} query heads"
        )
    heads, kv = model.heads // tp, kv_heads_per_chip(model, tp)
    most = check_fits(system, w)
    L = model.layers
    pre = Machine(system, system.prefill, _gemm_arch(system.prefill, system.decode))
    dec = Machine(system, system.decode, _gemm_arch(system.decode, system.prefill))

    # prefill: the whole prompt, one pass, yields the first token
    p_pass = _pass(pre, system, model, w.batch * w.prompt, w.batch)
    p_attn = pre.prefill_attention(model, w.batch, w.prompt, heads, kv)
    prefill = p_pass.seconds(L, p_attn)
    spent = p_pass.total(L, p_attn)

    # decode: generate - 1 steps of one row per sequence, attention at a growing context
    d_pass = _pass(dec, system, model, w.batch, w.batch)
    contexts, simulated = _decode_contexts(w)
    attn = {}
    for i, c in enumerate(simulated):
        attn[int(c)] = dec.decode_attention(model, w.batch, int(c), heads, kv)
        if progress:
            progress(i + 1, len(simulated))
    xs = np.array(sorted(attn))

    def at(field_: str) -> np.ndarray:
        ys = np.array([getattr(attn[int(x)], field_) for x in xs])
        return np.interp(contexts, xs, ys) if len(xs) else np.zeros(0)

    attn_s = at("seconds")
    fixed = d_pass.seconds(L, Cost())
    step_fixed = sum(v for k, v in fixed.items() if k != "attention")
    steps = (step_fixed + L * attn_s).tolist()
    decode = {k: v * len(contexts) for k, v in fixed.items()}
    decode["attention"] = float(L * attn_s.sum())
    spent = (
        spent
        + d_pass.total(L, Cost()) * len(contexts)
        + Cost(0.0, L * at("energy_pj").sum(), L * at("dram_bytes").sum())
    )

    chip = pre.area_mm2()
    if dec.arch.name != pre.arch.name:
        chip += dec.area_mm2()
    order = {k: i for i, k in enumerate(KINDS)}
    return Request(
        system=system.name,
        model=model.name,
        prompt=w.prompt,
        generate=w.generate,
        batch=w.batch,
        chips=system.chips,
        ttft_s=sum(prefill.values()),
        tpot_steps_s=steps,
        weights_bytes=weights_per_chip(system, model),
        kv_cache_bytes=w.batch * kv_per_sequence(system, model, w.prompt + w.generate),
        capacity_bytes=system.memory.capacity_bytes,
        max_batch=most,
        energy_pj=spent.energy_pj * tp,
        dram_bytes=spent.dram_bytes * tp,
        area_mm2=chip * system.chips,
        breakdown={
            ph: dict(sorted(b.items(), key=lambda kv_: order[kv_[0]]))
            for ph, b in (("prefill", prefill), ("decode", decode))
        },
        gemm_model={ph: _gemm_label(m) for ph, m in (("prefill", pre), ("decode", dec))},
        decode_simulated_steps=len(xs),
    )


def _gemm_label(m: Machine) -> str:
    if m.gemm_arch is None:
        return f"roofline on {m.arch.name}"
    return f"engine {m.stage.gemm_engine} on {m.gemm_arch.name}"


# what Result holds itself, the config a sweep point already names, and what is not one number
_NOT_METRICS = {"area_mm2", "dram_bytes", "system", "model", "prompt", "generate", "batch", "chips"}
_NOT_METRICS |= {"tpot_steps_s", "breakdown", "gemm_model"}


def simulate(system: SystemArch, w: RequestWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    """A whole LLM request (prefill, then decode) on a system: TTFT, TPOT, tokens/s, energy per token."""
    r = run(system, w)
    d = r.to_dict()
    return Result(
        engine="request",
        cycles=round(r.latency_s * 1e12),
        clock_hz=1e12,  # picosecond ticks: the latency keeps 12 digits
        energy_pj=r.energy_pj,
        area_mm2=r.area_mm2,
        util_2d=0.0,
        util_1d=0.0,
        dram_bytes=r.dram_bytes,
        extra={k: v for k, v in d.items() if k not in _NOT_METRICS}
        | {f"{ph}_{k}_s": v for ph, b in r.breakdown.items() for k, v in b.items()},
    )
