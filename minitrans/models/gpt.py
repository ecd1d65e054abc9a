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
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans import checkpoints
from minitrans.checkpoints import Tensor
from minitrans.config import ConfigMixin
from minitrans.losses import cross_entropy
from minitrans.masks import causal_mask, combine_masks, padding_mask
from minitrans.models.encoder import EncoderBlock
from minitrans.nn import Dropout, Embedding, LayerNorm, Serial, is_concrete


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


@flax.struct.dataclass
class CausalLMOutput:
    logits: jax.Array  # (batch, seq, vocab): scores for the word after each position


class GPT(nnx.Module):
    """GPT-2 with its language-model head (Hugging Face's GPT2LMHeadModel)."""

    def __init__(self, config: GPT2Config, *, causal: bool = True, rngs: nnx.Rngs):
        self.config, self.causal = config, causal
        init = nnx.initializers.normal(config.initializer_range)
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

    def __call__(self, input_ids, attention_mask=None) -> CausalLMOutput:
        input_ids = jnp.asarray(input_ids)
        if input_ids.ndim != 2 or not jnp.issubdtype(input_ids.dtype, jnp.integer):
            raise ValueError(f"input_ids must be integers of shape (batch, seq), got {input_ids.dtype} "
                             f"{tuple(input_ids.shape)}")
        length = input_ids.shape[1]
        if length > self.config.n_positions:
            raise ValueError(f"input_ids has {length} positions, n_positions is {self.config.n_positions}")
        if is_concrete(input_ids) and input_ids.size and int(np.asarray(input_ids).max()) >= self.config.vocab_size:
            raise ValueError(f"token id {int(np.asarray(input_ids).max())} is outside the vocabulary "
                             f"(vocab_size={self.config.vocab_size})")
        x = self.drop(self.wte(input_ids) + self.wpe(jnp.arange(length))[None])  # (batch, seq, n_embd)
        x = self.h(x, mask=decoder_mask(attention_mask, length, self.causal))  # (batch, seq, n_embd)
        return CausalLMOutput(self.wte.attend(self.ln_f(x)))  # (batch, seq, vocab): tied output layer

    def layout(self) -> list[Tensor]:
        """Hugging Face's GPT-2 tensor names. Its Conv1D layers store (in, out), as we do."""
        out = [Tensor("wte.weight", ("wte", "embedding")), Tensor("wpe.weight", ("wpe", "embedding"))]
        for i in range(self.config.n_layer):
            attention_res, ff_res = ("h", "layers", i, "layers", 0, "body", "layers"), ("h", "layers", i, "layers", 1)
            ffb = ff_res + ("body", "layers", 0, "layers")  # [LayerNorm, Dense, act, Dropout, Dense, Dropout]
            name = f"h.{i}"
            out += [Tensor(f"{name}.ln_1.weight", attention_res + (0, "scale")),
                    Tensor(f"{name}.ln_1.bias", attention_res + (0, "bias"))]
            for part, projection in enumerate(("query", "key", "value")):
                out += [Tensor(f"{name}.attn.c_attn.weight", attention_res + (1, projection, "kernel"), part=(part, 3)),
                        Tensor(f"{name}.attn.c_attn.bias", attention_res + (1, projection, "bias"), part=(part, 3))]
            out += [Tensor(f"{name}.attn.c_proj.weight", attention_res + (1, "output", "kernel")),
                    Tensor(f"{name}.attn.c_proj.bias", attention_res + (1, "output", "bias")),
                    Tensor(f"{name}.ln_2.weight", ffb + (0, "scale")), Tensor(f"{name}.ln_2.bias", ffb + (0, "bias")),
                    Tensor(f"{name}.mlp.c_fc.weight", ffb + (1, "kernel")), Tensor(f"{name}.mlp.c_fc.bias", ffb + (1, "bias")),
                    Tensor(f"{name}.mlp.c_proj.weight", ffb + (4, "kernel")),
                    Tensor(f"{name}.mlp.c_proj.bias", ffb + (4, "bias"))]
        return out + [Tensor("ln_f.weight", ("ln_f", "scale")), Tensor("ln_f.bias", ("ln_f", "bias"))]

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "GPT":
        """Load a GPT-2 folder (config.json + model.safetensors; GPT2Model or GPT2LMHeadModel)."""
        config = GPT2Config.from_dict(checkpoints.read_config(folder))
        model = cls(config, rngs=nnx.Rngs(0))
        tensors = checkpoints.add_or_strip_prefix(checkpoints.read_tensors(folder), "transformer.", wanted=False)
        checkpoints.load_tensors(model, tensors, model.layout(), ignore=(".attn.bias", ".attn.masked_bias", "lm_head.weight"),
                                 where=f"checkpoint {folder}")
        return model

    def save_pretrained(self, folder: str | Path) -> Path:
        tensors = {"transformer." + k: v for k, v in checkpoints.collect_tensors(self, self.layout()).items()}
        return checkpoints.write_checkpoint(folder, self.config.to_dict(), tensors)


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


def generate(model: GPT, prompt_ids: list[int], max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0) -> list[int]:
    """Sample a continuation, one token at a time (a Python loop around a jitted forward pass
    over a fixed-size buffer, so it compiles once)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; use top_k=1 for greedy decoding")
    if not prompt_ids:
        raise ValueError("generate needs a prompt of at least one token")
    total = len(prompt_ids) + max_new_tokens
    if total > model.config.n_positions:
        raise ValueError(f"prompt ({len(prompt_ids)}) + max_new_tokens ({max_new_tokens}) = {total} exceeds "
                         f"n_positions={model.config.n_positions}")
    graphdef, state = nnx.split(model)

    @jax.jit
    def next_token(state, buffer, position, key):
        logits = nnx.merge(graphdef, state)(buffer[None]).logits[0, position - 1]  # (vocab,)
        return sample_top_k(logits[None], key, top_k, temperature)[0]

    buffer = jnp.zeros(total, jnp.int32).at[:len(prompt_ids)].set(jnp.asarray(prompt_ids))
    key = jax.random.key(seed)
    for position in range(len(prompt_ids), total):
        key, sub = jax.random.split(key)
        buffer = buffer.at[position].set(next_token(state, buffer, position, sub))
    return [int(t) for t in buffer]


def lm_loss(model: GPT, batch: dict):
    """Next-word cross entropy: the logits at position i score the token at i + 1."""
    ids = batch["input_ids"]
    logits = model(ids).logits[:, :-1]  # (batch, seq - 1, vocab)
    weights = batch.get("weights", jnp.ones(ids.shape))[:, 1:]
    loss = cross_entropy(logits, ids[:, 1:], weights)
    return loss, {"loss": loss}
