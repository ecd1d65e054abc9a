"""GPT (Radford et al., 2018, 2019): a transformer decoder, trained to predict the next word.

A decoder-only model is the course's pre-LN `EncoderBlock` under a causal mask: position i
may attend only to positions <= i, so predicting word i+1 from position i never sees it.
GPT-2's layout: token + learned position embeddings, dropout, N pre-LN blocks (tanh-GELU),
a final LayerNorm, and the output layer tied to the token embeddings.

`causal=False` builds the same network with a fully visible mask: the "why not
bi-directional?" experiment of lesson 07 shows it learns to copy the word it can see.
`from_pretrained` reads Hugging Face GPT-2 checkpoints (safetensors).
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from minitrans.checkpoints import PretrainedModel, Tensor, norm_tensors
from minitrans.config import ConfigMixin
from minitrans.kernels import normal
from minitrans.losses import cross_entropy
from minitrans.masks import cached_causal_mask, causal_mask, combine_masks, padding_mask
from minitrans.models.encoder import EncoderBlock
from minitrans.models.outputs import CausalLMOutput
from minitrans.nn import Dropout, Embedding, LayerNorm, Serial, check_token_ids


@dataclasses.dataclass(frozen=True)
class GPT2Config(ConfigMixin):
    """GPT-2's hyper-parameters, named as in its config.json."""
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # feed-forward width; None means 4 * n_embd
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    model_type = "gpt2"
    architecture = "GPT2LMHeadModel"
    dropout_keys = ("resid_pdrop", "embd_pdrop", "attn_pdrop")

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if not self.scale_attn_weights or self.scale_attn_by_inverse_layer_idx:
            raise ValueError("minitrans implements GPT-2's attention scaling 1/sqrt(head_dim) only "
                             "(scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False)")

    @property
    def inner(self) -> int:
        return self.n_inner or 4 * self.n_embd

    @classmethod
    def small(cls, **kw):
        """GPT-2 small: 12 layers, 768 wide, 124M parameters."""
        return cls(**kw)

    @classmethod
    def mini(cls, **kw):
        """A lesson-sized GPT: 4 layers, 256 wide, 4 heads, 256 positions."""
        return cls(n_embd=256, n_layer=4, n_head=4, n_positions=256, **kw)


def decoder_mask(attention_mask: jax.Array | None, length: int, causal: bool = True) -> jax.Array | None:
    """GPT's attention mask, (batch or 1, 1, length, length): causal (position i sees j <= i)
    and, when an attention_mask (batch, length) is given, no padding keys. causal=False keeps
    only the padding part: every position sees every word, the next one included."""
    # BEGIN SOLUTION
    pads = padding_mask(attention_mask) if attention_mask is not None else None
    return combine_masks(causal_mask(length) if causal else None, pads)
    # END SOLUTION


class GPT(PretrainedModel):
    """GPT-2 with its language-model head (Hugging Face's GPT2LMHeadModel)."""

    config_class = GPT2Config
    task = "causal-lm"
    architectures = ("GPT2LMHeadModel", "GPT2Model")
    base_prefix = "transformer."  # GPT2Model's tensors, under this prefix in GPT2LMHeadModel's
    ignored = (".attn.bias", ".attn.masked_bias")  # the causal-mask buffers of older checkpoints
    tied = {"lm_head.weight": "transformer.wte.weight"}  # the output layer is the token embedding table

    def __init__(self, config: GPT2Config, *, causal: bool = True, rngs: nnx.Rngs):
        self.config, self.causal = config, causal
        init = normal(config.initializer_range)
        self.wte = Embedding(config.vocab_size, config.n_embd, embedding_init=init, rngs=rngs)
        self.wpe = Embedding(config.n_positions, config.n_embd, embedding_init=init, rngs=rngs)
        self.drop = Dropout(config.embd_pdrop, rngs=rngs)
        self.h = Serial(*[
            EncoderBlock(config.n_embd, config.inner, config.n_head, dropout_rate=config.resid_pdrop,
                         attention_dropout_rate=config.attn_pdrop, activation=config.activation_function,
                         norm_position="pre", layer_norm_eps=config.layer_norm_epsilon, kernel_init=init, rngs=rngs)
            for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.eval()

    def __call__(self, input_ids, attention_mask=None, position_ids=None) -> CausalLMOutput:
        """input_ids (batch, seq) -> next-token logits. attention_mask (batch, seq): 1 = real token;
        position_ids (batch, seq): each token's position (default 0, 1, ...; a left-padded prompt
        counts from its first real token). With a cache (`init_cache`), input_ids are the new
        positions and attention_mask (batch, cache length) marks the cache positions that hold real tokens."""
        limit = None if self.caching else (self.config.n_positions, "n_positions")
        input_ids = check_token_ids(input_ids, self.config.vocab_size, max_length=limit)
        length = input_ids.shape[1]
        if self.caching:
            offset, keys = self.offset, self.h.layers[0].attention.cache_length
            # a bidirectional model sees every token written so far; a causal one those before it
            pattern = cached_causal_mask(offset, length, keys) if self.causal else \
                cached_causal_mask(offset + length - 1, 1, keys)
            mask = combine_masks(pattern, padding_mask(attention_mask) if attention_mask is not None else None)
            positions = offset + jnp.arange(length)[None] if position_ids is None else position_ids
        else:
            mask = decoder_mask(attention_mask, length, self.causal)
            positions = jnp.arange(length)[None] if position_ids is None else position_ids
        x = self.drop(self.wte(input_ids) + self.wpe(positions))  # (batch, seq, n_embd)
        x = self.h(x, mask=mask)  # (batch, seq, n_embd)
        return CausalLMOutput(self.wte.attend(self.ln_f(x)))  # (batch, seq, vocab): tied output layer

    # Decoding with a key/value cache (minitrans.generation).

    def init_cache(self, batch: int, max_length: int, beams: int = 1) -> None:
        if max_length > self.config.n_positions:
            raise ValueError(f"a cache of {max_length} positions is longer than n_positions={self.config.n_positions}")
        for block in self.h.layers:
            block.attention.init_cache(batch, max_length, beams)

    def clear_cache(self) -> None:
        for block in self.h.layers:
            block.attention.clear_cache()

    @property
    def caching(self) -> bool:
        return self.h.layers[0].attention.cache_index is not None

    @property
    def offset(self):
        return self.h.layers[0].attention.cache_index[...]

    def hf_tensor_map(self) -> list[Tensor]:
        """Hugging Face's GPT2LMHeadModel tensor names. Its Conv1D layers store (in, out), as we
        do; c_attn holds query, key and value side by side."""
        out = [Tensor("transformer.wte.weight", ("wte", "embedding")),
               Tensor("transformer.wpe.weight", ("wpe", "embedding"))]
        for i in range(self.config.n_layer):
            name, block = f"transformer.h.{i}", ("h", "layers", i)
            out += norm_tensors(f"{name}.ln_1", block + ("attention_norm",))
            for part, projection in enumerate(("query", "key", "value")):
                out += [Tensor(f"{name}.attn.c_attn.weight", block + ("attention", projection, "kernel"), part=(part, 3)),
                        Tensor(f"{name}.attn.c_attn.bias", block + ("attention", projection, "bias"), part=(part, 3))]
            out += [Tensor(f"{name}.attn.c_proj.weight", block + ("attention", "output", "kernel")),
                    Tensor(f"{name}.attn.c_proj.bias", block + ("attention", "output", "bias"))]
            out += norm_tensors(f"{name}.ln_2", block + ("feed_forward_norm",))
            for hf, ours in (("c_fc", "widen"), ("c_proj", "narrow")):
                out += [Tensor(f"{name}.mlp.{hf}.weight", block + ("feed_forward", ours, "kernel")),
                        Tensor(f"{name}.mlp.{hf}.bias", block + ("feed_forward", ours, "bias"))]
        return out + norm_tensors("transformer.ln_f", ("ln_f",))


# --------------------------------------------------------------------------- generation


def sample_top_k(logits: jax.Array, key: jax.Array, top_k: int | None = None,
                 temperature: float = 1.0) -> jax.Array:
    """Draw one token per row from softmax(logits / temperature), keeping only the `top_k`
    highest-scoring tokens (the rest get probability 0). logits (batch, vocab) -> (batch,)."""
    # BEGIN SOLUTION
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; use top_k=1 for greedy decoding")
    logits = logits / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][..., -1:]  # (batch, 1)
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    return jax.random.categorical(key, logits, axis=-1)
    # END SOLUTION


def lm_loss(model: GPT, batch: dict):
    """Next-word cross entropy: the logits at position i score the token at i + 1."""
    ids = batch["input_ids"]
    logits = model(ids).logits[:, :-1]  # (batch, seq - 1, vocab)
    weights = batch.get("weights", jnp.ones(ids.shape))[:, 1:]
    loss = cross_entropy(logits, ids[:, 1:], weights)
    return loss, {"loss": loss}


ARCHITECTURES = (GPT,)
