"""A language model's shapes, read from its Hugging Face ``config.json`` (``configs/models/<name>.json``).

:class:`LlmModel` is the one description of a decoder-only model that the
workloads (``model: llama3-8b`` in a workload file), the request model
(:mod:`attnkit.sim.request`) and the parameter count read. It is built by
:meth:`LlmModel.from_config` from the standard keys of a model card's
``config.json``, so a file copied from a model card runs unchanged:

- ``hidden_size``, ``num_attention_heads``, ``num_key_value_heads``,
  ``head_dim`` (default ``hidden_size / num_attention_heads``),
  ``intermediate_size``, ``num_hidden_layers``, ``vocab_size``,
  ``hidden_act``, ``tie_word_embeddings``;
- mixture of experts: ``num_local_experts`` / ``num_experts``,
  ``num_experts_per_tok``, ``moe_intermediate_size``,
  ``shared_expert_intermediate_size``.

``architectures`` decides how a layer is built (:data:`FAMILIES`): every
family here has a gated MLP (gate, up and down projections), grouped-query
attention and RMSNorm; Qwen2 adds biases to the Q, K and V projections;
Gemma ties the embeddings. What the kit cannot model is refused in one line
naming the key: multi-head latent attention (``kv_lora_rank``), a sliding
window that applies (``sliding_window`` set and not switched off by
``use_sliding_window: false``), an encoder-decoder (``is_encoder_decoder``)
and any other ``architectures``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from attnkit.errors import ConfigError
from attnkit.params import config
from attnkit.params.config import FieldError, at_least, positive

# architectures entry -> (family, Q/K/V projections have a bias)
FAMILIES: dict[str, tuple[str, bool]] = {
    "LlamaForCausalLM": ("llama", False),
    "MistralForCausalLM": ("mistral", False),
    "Qwen2ForCausalLM": ("qwen2", True),
    "Qwen2MoeForCausalLM": ("qwen2_moe", True),
    "MixtralForCausalLM": ("mixtral", False),
    "GemmaForCausalLM": ("gemma", False),
}
Family = Literal["llama", "mistral", "qwen2", "qwen2_moe", "mixtral", "gemma"]


@dataclass(frozen=True)
class LlmModel:
    """A decoder-only transformer: ``layers`` blocks of attention and a gated MLP (or experts) on ``d_model``.

    ``heads`` query heads and ``kv_heads`` K/V heads of ``head_dim``; ``ffn``
    the dense MLP's hidden size. With ``experts`` > 0 every layer's MLP is
    that many experts of hidden ``expert_ffn``, ``experts_per_token`` of them
    active per token, beside a shared expert of ``shared_expert_ffn`` (0:
    none). ``tied``: the LM head is the embedding matrix.
    """

    CONFIG_FOLDER: ClassVar[str] = "models"  # a config may name one of these: models/<name>.json
    name: str
    family: Family
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    act: str = "silu"
    tied: bool = False
    qkv_bias: bool = False
    experts: int = 0
    experts_per_token: int = 0
    expert_ffn: int = 0
    shared_expert_ffn: int = 0

    def __post_init__(self) -> None:
        positive(self, "layers", "d_model", "heads", "kv_heads", "head_dim", "vocab")
        at_least(self, 0, "ffn", "experts", "experts_per_token", "expert_ffn", "shared_expert_ffn")
        if self.heads % self.kv_heads:
            raise FieldError("kv_heads", f"{self.kv_heads} does not divide heads = {self.heads}")
        if self.experts and not (1 <= self.experts_per_token <= self.experts and self.expert_ffn):
            raise FieldError(
                "experts_per_token",
                f"{self.experts_per_token} of {self.experts} experts of hidden size {self.expert_ffn}",
            )
        if not self.experts and not self.ffn:
            raise FieldError("ffn", "0; a dense model needs intermediate_size")

    # --- reading a config.json ---------------------------------------------------------------

    @classmethod
    def from_config(cls, data: Any, source: str) -> LlmModel:
        """The model a Hugging Face ``config.json`` describes (``source`` names the file in errors)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a config.json mapping, got {type(data).__name__}")
        archs = data.get("architectures") or []
        known = [a for a in archs if a in FAMILIES]
        if not known:
            raise ConfigError(f"{source}: architectures: {archs or 'missing'}; the kit models {', '.join(FAMILIES)}")
        family, qkv_bias = FAMILIES[known[0]]
        for key, why in (
            ("kv_lora_rank", "multi-head latent attention is not modelled"),
            ("q_lora_rank", "multi-head latent attention is not modelled"),
        ):
            if data.get(key) is not None:
                raise ConfigError(f"{source}: {key}: {why}")
        if data.get("is_encoder_decoder"):
            raise ConfigError(f"{source}: is_encoder_decoder: an encoder-decoder model is not modelled")
        if data.get("sliding_window") is not None and data.get("use_sliding_window", True):
            raise ConfigError(
                f"{source}: sliding_window: {data['sliding_window']}; a sliding-window attention is not modelled "
                "(only full attention: sliding_window null, or use_sliding_window false)"
            )

        def get(key: str, default: Any = None) -> Any:
            value = data.get(key)
            value = default if value is None else value
            if value is None:
                raise ConfigError(f"{source}: {key}: missing")
            if isinstance(default, bool) or key in ("tie_word_embeddings",):
                if not isinstance(value, bool):
                    raise ConfigError(f"{source}: {key}: expected true or false, got {value!r}")
            elif isinstance(default, str):
                if not isinstance(value, str):
                    raise ConfigError(f"{source}: {key}: expected a string, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{source}: {key}: expected an integer, got {value!r}")
            return value

        d, heads = get("hidden_size"), get("num_attention_heads")
        experts = data.get("num_local_experts", data.get("num_experts")) or 0
        expert_ffn = 0
        if experts:
            experts = get("num_local_experts" if "num_local_experts" in data else "num_experts")
            # Mixtral's experts are intermediate_size wide; Qwen2-MoE names theirs moe_intermediate_size
            expert_ffn = get("moe_intermediate_size", data.get("intermediate_size"))
        name = str(data.get("_name_or_path") or source.rsplit("/", 1)[-1].removesuffix(".json"))
        try:
            return cls(
                name=name.rsplit("/", 1)[-1],
                family=family,  # type: ignore[arg-type]  # FAMILIES holds Family values
                layers=get("num_hidden_layers"),
                d_model=d,
                heads=heads,
                kv_heads=get("num_key_value_heads", heads),
                head_dim=get("head_dim", d // heads if heads else 0),
                ffn=0 if experts and family == "qwen2_moe" else get("intermediate_size"),
                vocab=get("vocab_size"),
                act=get("hidden_act", data.get("hidden_activation") or "silu"),
                tied=get("tie_word_embeddings", family == "gemma"),
                qkv_bias=qkv_bias,
                experts=experts,
                experts_per_token=get("num_experts_per_tok") if experts else 0,
                expert_ffn=expert_ffn,
                shared_expert_ffn=get("shared_expert_intermediate_size", 0) if experts else 0,
            )
        except FieldError as e:
            raise ConfigError(f"{source}: {e}") from None

    # --- shapes ---------------------------------------------------------------------------------

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def kv_bytes_per_token(self, word_bytes: float) -> float:
        """K and V of one token in every layer: ``2 x layers x kv_heads x head_dim x word_bytes``."""
        return 2 * self.layers * self.kv_dim * word_bytes

    def parameters(self) -> dict[str, int]:
        """Parameter count by part: embeddings, attention, MLP (or experts and router), norms, LM head."""
        d, L = self.d_model, self.layers
        attn = d * self.q_dim + 2 * d * self.kv_dim + self.q_dim * d
        if self.qkv_bias:
            attn += self.q_dim + 2 * self.kv_dim
        if self.experts:
            mlp = self.experts * 3 * d * self.expert_ffn + d * self.experts  # experts + router
            if self.shared_expert_ffn:
                mlp += 3 * d * self.shared_expert_ffn + d  # the shared expert and its gate
        else:
            mlp = 3 * d * self.ffn
        return {
            "embeddings": self.vocab * d,
            "attention": L * attn,
            "mlp": L * mlp,
            "norms": (2 * L + 1) * d,  # two per layer and the final one
            "lm_head": 0 if self.tied else self.vocab * d,
        }

    def parameter_count(self) -> int:
        return sum(self.parameters().values())

    def active_mlp_ffn(self) -> int:
        """Hidden width of the MLP one token runs through (its active experts' summed, for a mixture)."""
        if not self.experts:
            return self.ffn
        return self.experts_per_token * self.expert_ffn + self.shared_expert_ffn

    def workload_fields(self) -> dict[str, int]:
        """The keys an attention or decode workload takes from this model (``model: NAME`` in its file)."""
        return {
            "heads": self.heads,
            "kv_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "d_model": self.d_model,
            "ffn": self.active_mlp_ffn(),
        }

    def expected_experts(self, tokens: int) -> float:
        """Distinct experts a layer reads for ``tokens`` tokens, each routed to ``experts_per_token`` of
        ``experts`` uniformly: ``E (1 - (1 - k/E)^tokens)`` (all E once tokens are many)."""
        if not self.experts:
            return 0.0
        E, k = self.experts, self.experts_per_token
        return E * (1 - math.pow(1 - k / E, tokens))


def load_model(model: str | Path | LlmModel, where: str = "--model") -> LlmModel:
    """A model by name (``configs/models/NAME.json`` on the search path), by path to a ``config.json``, or
    as it is; ``where`` prefixes a name that is not found."""
    if isinstance(model, LlmModel):
        return model
    path = config.referenced(LlmModel, str(model), where)
    return config.from_file(LlmModel, config.load_yaml(path), str(path))
