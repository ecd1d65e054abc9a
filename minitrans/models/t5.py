"""T5 (Raffel et al., 2020): the text-to-text transformer, an encoder-decoder.

What sets it apart from the course's encoder and from BERT:
- RMS layer norm (no mean, no bias), before each sub-layer (pre-LN);
- no biases in any dense layer, and unscaled attention (the 1/sqrt(d) is folded into the
  initialisation);
- no position embeddings: a learned bias per (head, bucket of relative distance) is added to
  the attention scores; bidirectional buckets in the encoder, one-directional in the decoder;
  computed once per stack and shared by all its layers;
- the decoder reads the encoder through cross-attention and learns by teacher forcing: its
  input is the target shifted right by one (`shift_right`);
- v1.0: ReLU feed-forward and the output layer tied to the embeddings (with the d_model**-0.5
  rescale); v1.1: gated-GELU feed-forward and a separate output layer.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans import kernels
from minitrans.checkpoints import PretrainedModel, Tensor
from minitrans.config import ConfigMixin
from minitrans.kernels import normal
from minitrans.losses import IGNORE
from minitrans.masks import cached_causal_mask, causal_mask, combine_masks, padding_mask, prefix_lm_mask
from minitrans.models.outputs import CausalLMOutput, Seq2SeqLMOutput
from minitrans.nn import (
    ACTIVATIONS,
    Dense,
    Dropout,
    Embedding,
    MultiHeadAttention,
    RMSNorm,
    check_token_ids,
    parse_activation,
)


@dataclasses.dataclass(frozen=True)
class T5Config(ConfigMixin):
    """T5's hyper-parameters, named as in its config.json."""
    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"
    tie_word_embeddings: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0
    scale_decoder_outputs: bool | None = None  # multiply by d_model**-0.5 before the output layer
    dense_act_fn: str | None = None  # written by transformers, derived from feed_forward_proj
    is_gated_act: bool | None = None
    model_type = "t5"
    architecture = "T5ForConditionalGeneration"
    dropout_keys = ("dropout_rate",)

    def __post_init__(self):
        try:
            parse_activation(self.feed_forward_proj)
        except ValueError:
            raise ValueError(f"feed_forward_proj {self.feed_forward_proj!r}: expected 'relu', 'gelu', "
                             "'gated-gelu' or 'gated-<activation>'") from None

    @property
    def gated(self) -> bool:
        return parse_activation(self.feed_forward_proj)[1]

    @property
    def activation(self) -> str:
        """The activation's name; "gated-gelu" is the tanh GELU (minitrans.nn.parse_activation)."""
        return parse_activation(self.feed_forward_proj)[0]

    @property
    def rescale_output(self) -> bool:
        """v1.0 rescales the decoder output by d_model**-0.5 before the tied output layer; v1.1
        does not. Older configs say it through tie_word_embeddings, newer ones explicitly."""
        return self.tie_word_embeddings if self.scale_decoder_outputs is None else self.scale_decoder_outputs

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers or self.num_layers

    def to_dict(self, architecture: str | None = None) -> dict:
        """config.json as transformers reads it: the activation keys it derives from
        feed_forward_proj are written out (transformers stops on a null there)."""
        out = super().to_dict(architecture)
        out["dense_act_fn"], out["is_gated_act"] = self.activation, self.gated
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def small(cls, **kw):
        """t5-small: 6 + 6 layers, d_model 512, 8 heads, 60,506,624 parameters."""
        return cls(**kw)

    @classmethod
    def base(cls, **kw):
        """t5-base: 12 + 12 layers, d_model 768, 12 heads, 222,903,552 parameters."""
        return cls(d_model=768, d_ff=3072, num_layers=12, num_heads=12, **kw)

    @classmethod
    def mini(cls, **kw):
        """A lesson-sized T5: 4 + 4 layers, d_model 256, 4 heads of 64, d_ff 1024."""
        return cls(d_model=256, d_ff=1024, num_layers=4, num_heads=4, **kw)

    @classmethod
    def tiny(cls, **kw):
        return cls(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4, **kw)

    @classmethod
    def v1_1(cls, **kw):
        """T5 v1.1 (small): gated-GELU feed-forward, untied output layer, no dropout in pre-training."""
        return cls(d_model=512, d_ff=1024, num_layers=8, num_heads=6, feed_forward_proj="gated-gelu",
                   tie_word_embeddings=False, **kw)


def relative_position_bucket(relative_position: jax.Array, bidirectional: bool, num_buckets: int = 32,
                             max_distance: int = 128) -> jax.Array:
    """Map key_position - query_position to one of `num_buckets` buckets (T5 paper, 2.1).

    Half the buckets count exact small distances; the rest cover larger distances on a log
    scale up to `max_distance` (farther ones share the last bucket). Bidirectional (encoder):
    half the buckets for keys after the query, half for keys before. Not bidirectional
    (decoder): only keys at or before the query are distinguished.
    """
    # BEGIN SOLUTION
    if bidirectional:
        num_buckets //= 2  # the first half for keys at or before the query, the second for keys after it
        side = jnp.where(relative_position > 0, num_buckets, 0)
        distance = jnp.abs(relative_position)
    else:
        side = jnp.zeros_like(relative_position)
        distance = jnp.maximum(-relative_position, 0)  # a key after the query counts as distance 0
    exact = num_buckets // 2  # each distance below this has a bucket of its own
    # farther: log(distance / exact) scaled so that max_distance lands on the last bucket
    far = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / exact) / math.log(max_distance / exact)
    far = jnp.minimum(exact + (far * (num_buckets - exact)).astype(distance.dtype), num_buckets - 1)
    return side + jnp.where(distance < exact, distance, far)
    # END SOLUTION


class RelativePositionBias(nnx.Module):
    """A learned scalar per (bucket, head), added to the attention scores."""

    def __init__(self, config: T5Config, bidirectional: bool, *, rngs: nnx.Rngs):
        self.bidirectional = bidirectional
        self.num_buckets, self.max_distance = config.relative_attention_num_buckets, config.relative_attention_max_distance
        std = config.initializer_factor * config.d_model ** -0.5
        self.embedding = Embedding(self.num_buckets, config.num_heads, embedding_init=normal(std), rngs=rngs)

    def __call__(self, query_length: int, key_length: int, offset: int = 0) -> jax.Array:
        """(1, heads, query, key); queries sit at positions offset .. offset + query_length - 1."""
        query = jnp.arange(query_length)[:, None] + offset  # (query, 1)
        key = jnp.arange(key_length)[None, :]  # (1, key)
        buckets = relative_position_bucket(key - query, self.bidirectional, self.num_buckets, self.max_distance)
        return self.embedding(buckets).transpose(2, 0, 1)[None]  # (1, heads, query, key)


class T5FeedForward(nnx.Module):
    """wo(dropout(act(wi x))), or gated: wo(dropout(act(wi_0 x) * wi_1 x)). No biases."""

    def __init__(self, config: T5Config, *, rngs: nnx.Rngs):
        d, ff, f = config.d_model, config.d_ff, config.initializer_factor
        self.activation = ACTIVATIONS[config.activation]
        self.wi = Dense(d, ff, use_bias=False, kernel_init=normal(f * d ** -0.5), rngs=rngs)
        self.wi_gate = Dense(d, ff, use_bias=False, kernel_init=normal(f * d ** -0.5),
                             rngs=rngs) if config.gated else None
        self.dropout = Dropout(config.dropout_rate, rngs=rngs)
        self.wo = Dense(ff, d, use_bias=False, kernel_init=normal(f * ff ** -0.5), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.activation(self.wi(x))  # (batch, seq, d_ff)
        if self.wi_gate is not None:
            h = h * self.wi_gate(x)
        return self.wo(self.dropout(h))


def t5_attention(config: T5Config, rngs: nnx.Rngs) -> MultiHeadAttention:
    f, d, inner = config.initializer_factor, config.d_model, config.num_heads * config.d_kv
    # T5's initialisation: queries get an extra 1/sqrt(d_kv), standing in for the unscaled scores
    attention = MultiHeadAttention(d, config.num_heads, head_dim=config.d_kv, use_bias=False, scaled=False,
                                   dropout_rate=config.dropout_rate, rngs=rngs,
                                   kernel_init=normal(f * d ** -0.5))
    attention.query.kernel[...] = attention.query.kernel[...] * config.d_kv ** -0.5
    attention.output.kernel[...] = attention.output.kernel[...] * (d ** 0.5) * inner ** -0.5
    return attention


class T5Block(nnx.Module):
    """x + self-attention(norm(x)); [x + cross-attention(norm(x), encoder)]; x + FF(norm(x))."""

    def __init__(self, config: T5Config, cross_attention: bool, *, rngs: nnx.Rngs):
        eps = config.layer_norm_epsilon
        self.self_attention_norm = RMSNorm(config.d_model, eps=eps)
        self.self_attention = t5_attention(config, rngs)
        self.cross_attention_norm = RMSNorm(config.d_model, eps=eps) if cross_attention else None
        self.cross_attention = t5_attention(config, rngs) if cross_attention else None
        self.feed_forward_norm = RMSNorm(config.d_model, eps=eps)
        self.feed_forward = T5FeedForward(config, rngs=rngs)
        self.dropout = Dropout(config.dropout_rate, rngs=rngs)

    def __call__(self, x, mask, position_bias, encoder_output=None, cross_mask=None):
        x = x + self.dropout(self.self_attention(self.self_attention_norm(x), mask=mask, position_bias=position_bias))
        if self.cross_attention is not None:
            x = x + self.dropout(self.cross_attention(self.cross_attention_norm(x), encoder_output, mask=cross_mask))
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))


class T5Stack(nnx.Module):
    """A stack of T5 blocks: the encoder (bidirectional buckets, no cross-attention), the
    decoder (one-directional buckets, cross-attention), or a decoder-only stack."""

    def __init__(self, config: T5Config, decoder: bool, *, cross_attention: bool | None = None,
                 bidirectional: bool | None = None, rngs: nnx.Rngs):
        cross_attention = decoder if cross_attention is None else cross_attention
        bidirectional = (not decoder) if bidirectional is None else bidirectional
        layers = config.decoder_layers if decoder else config.num_layers
        self.relative_position_bias = RelativePositionBias(config, bidirectional=bidirectional, rngs=rngs)
        self.blocks = nnx.List([T5Block(config, cross_attention=cross_attention, rngs=rngs) for _ in range(layers)])
        self.final_norm = RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = Dropout(config.dropout_rate, rngs=rngs)

    def __call__(self, x, mask, encoder_output=None, cross_mask=None):
        """x: embedded tokens (batch, seq, d_model); mask: (batch, 1, seq, seq), or (batch, 1,
        seq, cache length) when decoding with a cache (`init_cache`)."""
        if self.caching:  # the new positions start at `offset`; keys are every cache position
            position_bias = self.relative_position_bias(x.shape[1], self.cache_length, offset=self.offset)
        else:
            position_bias = self.relative_position_bias(x.shape[1], x.shape[1])  # once, for every layer
        position_bias = kernels.batch_broadcast(position_bias, x.shape[0])  # (batch, heads, query, key)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, mask, position_bias, encoder_output, cross_mask)
        return self.dropout(self.final_norm(x))

    # Decoding with a key/value cache (minitrans.generation).

    def init_cache(self, batch: int, max_length: int, encoder_output=None, beams: int = 1) -> None:
        """Self-attention caches of max_length positions in every block; the cross-attention's
        keys and values of `encoder_output`, computed once. With `beams` > 1 (beam search), the
        inputs have batch x beams rows, each example's beams together (MultiHeadAttention)."""
        for block in self.blocks:
            block.self_attention.init_cache(batch, max_length, beams)
            if block.cross_attention is not None:
                block.cross_attention.init_static_cache(encoder_output, beams)

    def clear_cache(self) -> None:
        for block in self.blocks:
            block.self_attention.clear_cache()
            if block.cross_attention is not None:
                block.cross_attention.clear_cache()

    @property
    def caching(self) -> bool:
        return self.blocks[0].self_attention.cache_index is not None

    @property
    def cache_length(self) -> int:
        return self.blocks[0].self_attention.cache_length

    @property
    def offset(self):
        """The position the next tokens take: how many the cache holds."""
        return self.blocks[0].self_attention.cache_index[...]


def shift_right(labels: jax.Array, decoder_start_token_id: int = 0, pad_token_id: int = 0) -> jax.Array:
    """Teacher forcing: the decoder's input is the target moved one step right, starting with
    the start token, so position i sees target tokens < i and predicts token i. Labels of
    IGNORE (-100, positions not scored) become padding. (batch, seq) -> (batch, seq)."""
    # BEGIN SOLUTION
    labels = jnp.asarray(labels)
    shifted = jnp.concatenate([jnp.full_like(labels[:, :1], decoder_start_token_id), labels[:, :-1]], axis=1)
    return jnp.where(shifted == IGNORE, pad_token_id, shifted)
    # END SOLUTION


class T5ForConditionalGeneration(PretrainedModel):
    """The encoder-decoder with its language-model head."""

    config_class = T5Config
    task = "text2text-generation"

    def __init__(self, config: T5Config, *, rngs: nnx.Rngs):
        self.config = config
        self.shared = Embedding(config.vocab_size, config.d_model,
                                embedding_init=normal(config.initializer_factor), rngs=rngs)
        self.encoder = T5Stack(config, decoder=False, rngs=rngs)
        self.decoder = T5Stack(config, decoder=True, rngs=rngs)
        self.lm_head = None if config.tie_word_embeddings else Dense(
            config.d_model, config.vocab_size, use_bias=False,
            kernel_init=normal(config.initializer_factor), rngs=rngs)
        self.eval()

    def check_ids(self, name: str, ids) -> jax.Array:
        return check_token_ids(ids, self.config.vocab_size, name)

    def encode(self, input_ids, attention_mask=None) -> jax.Array:
        input_ids = self.check_ids("input_ids", input_ids)
        attention_mask = (input_ids != self.config.pad_token_id) if attention_mask is None else attention_mask
        return self.encoder(self.shared(input_ids), padding_mask(attention_mask))  # (batch, source, d_model)

    def decode(self, decoder_input_ids, encoder_output, attention_mask, decoder_attention_mask=None) -> jax.Array:
        """Next-token logits (batch, target, vocab) for the decoder inputs, reading the encoder's
        output. With a cache (`init_cache`), decoder_input_ids are the new positions only."""
        decoder_input_ids = self.check_ids("decoder_input_ids", decoder_input_ids)
        length = decoder_input_ids.shape[1]
        pattern = cached_causal_mask(self.decoder.offset, length, self.decoder.cache_length) if self.decoder.caching \
            else causal_mask(length)
        self_mask = combine_masks(pattern,
                                  padding_mask(decoder_attention_mask) if decoder_attention_mask is not None else None)
        x = self.decoder(self.shared(decoder_input_ids), self_mask, encoder_output, padding_mask(attention_mask))
        if self.config.rescale_output:
            x = x * self.config.d_model ** -0.5
        return self.lm_head(x) if self.lm_head is not None else self.shared.attend(x)  # (batch, target, vocab)

    def init_cache(self, batch: int, max_length: int, encoder_output: jax.Array, beams: int = 1) -> None:
        """Decode with a key/value cache of max_length positions from now on (minitrans.generation);
        `encoder_output` has one row per example, the decoder's inputs batch x beams."""
        self.decoder.init_cache(batch, max_length, encoder_output, beams)

    def clear_cache(self) -> None:
        self.decoder.clear_cache()

    def __call__(self, input_ids, attention_mask=None, decoder_input_ids=None, labels=None,
                 decoder_attention_mask=None) -> Seq2SeqLMOutput:
        """Give decoder_input_ids, or labels (then the decoder input is shift_right(labels))."""
        input_ids = self.check_ids("input_ids", input_ids)
        attention_mask = (input_ids != self.config.pad_token_id) if attention_mask is None else jnp.asarray(attention_mask)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("give decoder_input_ids or labels (the decoder needs an input)")
            decoder_input_ids = shift_right(labels, self.config.decoder_start_token_id, self.config.pad_token_id)
        encoder_output = self.encode(input_ids, attention_mask)
        logits = self.decode(decoder_input_ids, encoder_output, attention_mask, decoder_attention_mask)
        return Seq2SeqLMOutput(logits, encoder_output)

    # ------------------------------------------------------------------ checkpoints

    @property
    def tied(self) -> dict[str, str]:
        """Copies of the embedding table a checkpoint may hold: each stack's input embeddings,
        and (v1.0) the output layer."""
        copies = {"encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}
        return {**copies, "lm_head.weight": "shared.weight"} if self.config.tie_word_embeddings else copies

    def hf_tensor_map(self) -> list[Tensor]:
        out = [Tensor("shared.weight", ("shared", "embedding"))]
        out += t5_stack_tensor_map(self.config, "encoder", ("encoder",), self.config.num_layers, cross_attention=False)
        out += t5_stack_tensor_map(self.config, "decoder", ("decoder",), self.config.decoder_layers, cross_attention=True)
        if self.lm_head is not None:
            out.append(Tensor("lm_head.weight", ("lm_head", "kernel"), transpose=True))
        return out


def t5_stack_tensor_map(config: T5Config, name: str, path: tuple, layers: int, cross_attention: bool) -> list[Tensor]:
    """Hugging Face's tensor names for one T5 stack: block i holds layer.0 (self-attention),
    [layer.1 (cross-attention)] and the feed-forward layer, each with its RMS norm."""
    out = [Tensor(f"{name}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                  path + ("relative_position_bias", "embedding", "embedding"))]
    for i in range(layers):
        block, prefix = path + ("blocks", i), f"{name}.block.{i}.layer"
        sub = [("SelfAttention", "self_attention", "self_attention_norm")]
        if cross_attention:
            sub.append(("EncDecAttention", "cross_attention", "cross_attention_norm"))
        for j, (hf, ours, norm) in enumerate(sub):
            for a, b in (("q", "query"), ("k", "key"), ("v", "value"), ("o", "output")):
                out.append(Tensor(f"{prefix}.{j}.{hf}.{a}.weight", block + (ours, b, "kernel"), transpose=True))
            out.append(Tensor(f"{prefix}.{j}.layer_norm.weight", block + (norm, "scale")))
        j = len(sub)
        wi = [("wi_0", "wi"), ("wi_1", "wi_gate")] if config.gated else [("wi", "wi")]
        for hf, ours in wi + [("wo", "wo")]:
            out.append(Tensor(f"{prefix}.{j}.DenseReluDense.{hf}.weight", block + ("feed_forward", ours, "kernel"),
                              transpose=True))
        out.append(Tensor(f"{prefix}.{j}.layer_norm.weight", block + ("feed_forward_norm", "scale")))
    out.append(Tensor(f"{name}.final_layer_norm.weight", path + ("final_norm", "scale")))
    return out


def greedy_generate(model: T5ForConditionalGeneration, input_ids, max_new_tokens: int = 20,
                    attention_mask=None) -> np.ndarray:
    """Greedy decoding without a cache: encode once; then, starting from the decoder start
    token, run the decoder on everything generated so far and append the most likely next
    token; a row that has produced EOS continues with padding; stop when every row is done or
    after max_new_tokens. Returns (batch, 1 + generated) ids, the start token first."""
    # BEGIN SOLUTION
    input_ids = jnp.asarray(input_ids)
    attention_mask = (input_ids != model.config.pad_token_id) if attention_mask is None else jnp.asarray(attention_mask)
    encoder_output = model.encode(input_ids, attention_mask)
    out = jnp.full((input_ids.shape[0], 1), model.config.decoder_start_token_id, jnp.int32)
    done = jnp.zeros(input_ids.shape[0], bool)
    for _ in range(max_new_tokens):
        logits = model.decode(out, encoder_output, attention_mask)[:, -1]  # (batch, vocab)
        token = jnp.where(done, model.config.pad_token_id, logits.argmax(-1))
        out = jnp.concatenate([out, token[:, None].astype(jnp.int32)], axis=1)
        done = done | (token == model.config.eos_token_id)
        if bool(done.all()):
            break
    return np.asarray(out)
    # END SOLUTION


# --------------------------------------------------------------------------- decoder-only T5


def decoder_only_mask(attention_mask: jax.Array, prefix_lengths: jax.Array | None = None) -> jax.Array:
    """The mask of a decoder-only T5 (T5 paper, figure 4): causal (a language model) or, given
    per-example prefix lengths, causal with a fully visible prefix (a prefix LM); padding keys
    hidden in both. attention_mask (batch, seq) -> (batch, 1, seq, seq)."""
    # BEGIN SOLUTION
    length = attention_mask.shape[1]
    pattern = causal_mask(length) if prefix_lengths is None else prefix_lm_mask(prefix_lengths, length)
    return combine_masks(pattern, padding_mask(attention_mask))
    # END SOLUTION


class T5DecoderOnly(PretrainedModel):
    """The T5 paper's other two architectures, from the same blocks: one stack, no encoder,
    no cross-attention. `prefix_lm=False`: a language model (causal mask). `prefix_lm=True`:
    a prefix LM, fully visible over the input prefix and causal after it (bidirectional
    position buckets, since prefix positions see later ones). Saved with T5's tensor names
    for a decoder without cross-attention ("decoder.block.i.layer.0.SelfAttention...")."""

    config_class = T5Config
    task = "decoder-only-lm"

    def __init__(self, config: T5Config, *, prefix_lm: bool = False, rngs: nnx.Rngs):
        self.config, self.prefix_lm = config, prefix_lm
        self.shared = Embedding(config.vocab_size, config.d_model,
                                embedding_init=normal(config.initializer_factor), rngs=rngs)
        self.stack = T5Stack(config, decoder=True, cross_attention=False, bidirectional=prefix_lm, rngs=rngs)
        self.eval()

    def __call__(self, input_ids, prefix_lengths=None, attention_mask=None) -> CausalLMOutput:
        """input_ids (batch, seq) -> next-token logits (batch, seq, vocab). With a cache
        (`init_cache`), input_ids are the new positions and attention_mask (batch, cache length)
        marks which cache positions hold real tokens."""
        input_ids = check_token_ids(input_ids, self.config.vocab_size)
        if self.prefix_lm and prefix_lengths is None:
            raise ValueError("a prefix LM needs prefix_lengths (batch,): how many tokens are input")
        prefix = prefix_lengths if self.prefix_lm else None
        if self.stack.caching:
            length = self.stack.cache_length
            keys = jnp.ones((input_ids.shape[0], length), bool) if attention_mask is None else attention_mask
            mask = combine_masks(cached_causal_mask(self.stack.offset, input_ids.shape[1], length, prefix),
                                 padding_mask(keys))
        else:
            attention_mask = (input_ids != self.config.pad_token_id) if attention_mask is None else attention_mask
            mask = decoder_only_mask(attention_mask, prefix)
        x = self.stack(self.shared(input_ids), mask)
        return CausalLMOutput(self.shared.attend(x * self.config.d_model ** -0.5))  # (batch, seq, vocab)

    def init_cache(self, batch: int, max_length: int, beams: int = 1) -> None:
        self.stack.init_cache(batch, max_length, beams=beams)

    def clear_cache(self) -> None:
        self.stack.clear_cache()

    @classmethod
    def build(cls, raw: dict, **overrides) -> "T5DecoderOnly":
        raw = dict(raw)
        prefix_lm = bool(raw.pop("prefix_lm", False))
        return cls(T5Config.from_dict(raw, **overrides), prefix_lm=prefix_lm, rngs=nnx.Rngs(0))

    def config_dict(self) -> dict:
        return {**self.config.to_dict(architecture="T5DecoderOnly"), "prefix_lm": self.prefix_lm}

    def hf_tensor_map(self) -> list[Tensor]:
        return [Tensor("shared.weight", ("shared", "embedding"))] + t5_stack_tensor_map(
            self.config, "decoder", ("stack",), self.config.decoder_layers, cross_attention=False)


ARCHITECTURES = (T5ForConditionalGeneration, T5DecoderOnly)
