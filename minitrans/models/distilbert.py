"""DistilBERT (Sanh et al., 2019): BERT with half the layers, trained to imitate BERT (knowledge
distillation); the course's pipeline lecture answers questions with one
(distilbert-base-cased-distilled-squad).

What differs from BERT (minitrans.models.bert): no segment (token type) embeddings, no pooler,
no next-sentence head; 6 layers by default. The blocks are BERT's post-LN encoder blocks, so
this file only names things: `DistilBertConfig` with Hugging Face's keys, the embeddings, the
heads, and the checkpoint layout.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from minitrans.checkpoints import PretrainedModel, Tensor, dense_tensors, norm_tensors
from minitrans.config import ConfigMixin
from minitrans.kernels import normal
from minitrans.masks import padding_mask
from minitrans.models.encoder import EncoderBlock
from minitrans.models.outputs import BaseModelOutput, MaskedLMOutput, QuestionAnsweringOutput
from minitrans.nn import Activation, Dense, Dropout, Embedding, LayerNorm, Serial, check_token_ids, sinusoidal_table


@dataclasses.dataclass(frozen=True)
class DistilBertConfig(ConfigMixin):
    """DistilBERT's hyper-parameters, named as in its config.json (distilbert-base-uncased)."""
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    sinusoidal_pos_embds: bool = False
    n_layers: int = 6
    n_heads: int = 12
    dim: int = 768
    hidden_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation: str = "gelu"
    initializer_range: float = 0.02
    qa_dropout: float = 0.1
    seq_classif_dropout: float = 0.2
    pad_token_id: int = 0
    tie_weights_: bool = True
    model_type = "distilbert"
    architecture = "DistilBertModel"
    dropout_keys = ("dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout")

    def __post_init__(self):
        if self.dim % self.n_heads:
            raise ValueError(f"dim={self.dim} is not divisible by n_heads={self.n_heads}")

    @classmethod
    def base(cls, **kw):
        """distilbert-base: 6 layers, 768 wide, 12 heads, 66,362,880 parameters (DistilBertModel)."""
        return cls(**kw)


class DistilBertEmbeddings(nnx.Module):
    """word + position embeddings (no segments), then LayerNorm and dropout."""

    def __init__(self, config: DistilBertConfig, *, rngs: nnx.Rngs):
        init = normal(config.initializer_range)
        self.word_embeddings = Embedding(config.vocab_size, config.dim, embedding_init=init, rngs=rngs)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.dim, embedding_init=init, rngs=rngs)
        if config.sinusoidal_pos_embds:  # the original transformer's fixed table as the starting point
            self.position_embeddings.embedding[...] = jnp.asarray(
                sinusoidal_table(config.max_position_embeddings, config.dim))
        self.norm = LayerNorm(config.dim, eps=1e-12)
        self.dropout = Dropout(config.dropout, rngs=rngs)

    def __call__(self, input_ids: jax.Array) -> jax.Array:
        positions = jnp.arange(input_ids.shape[1])[None, :]  # (1, seq)
        return self.dropout(self.norm(self.word_embeddings(input_ids) + self.position_embeddings(positions)))


class DistilBertPretrainedModel(PretrainedModel):
    config_class = DistilBertConfig
    base_prefix = "distilbert."  # task models keep DistilBertModel under `self.distilbert`
    unused_prefixes = ("vocab_", "qa_outputs.", "pre_classifier.", "classifier.")


class DistilBertModel(DistilBertPretrainedModel):
    """Embeddings -> N post-LN encoder blocks (BERT's, GELU, LayerNorm eps 1e-12)."""

    task = "base"

    def __init__(self, config: DistilBertConfig, *, rngs: nnx.Rngs):
        self.config = config
        init = normal(config.initializer_range)
        self.embeddings = DistilBertEmbeddings(config, rngs=rngs)
        self.transformer = Serial(*[
            EncoderBlock(config.dim, config.hidden_dim, config.n_heads, dropout_rate=config.dropout,
                         attention_dropout_rate=config.attention_dropout, activation=config.activation,
                         norm_position="post", layer_norm_eps=1e-12, kernel_init=init, rngs=rngs)
            for _ in range(config.n_layers)])
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> BaseModelOutput:
        """input_ids, attention_mask (1 = real token, 0 = pad): (batch, seq). `token_type_ids` is
        accepted and ignored (DistilBERT has no segments), so BERT's pipelines call it as they call BERT."""
        input_ids = check_token_ids(input_ids, self.config.vocab_size,
                                    max_length=(self.config.max_position_embeddings, "max_position_embeddings"))
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        x = self.embeddings(input_ids)  # (batch, seq, dim)
        return BaseModelOutput(self.transformer(x, mask=padding_mask(attention_mask)))

    def hf_tensor_map(self, prefix: str = "", path: tuple = ()) -> list[Tensor]:
        """Hugging Face's DistilBertModel tensor names, and where each lives in ours."""
        out = [Tensor(f"{prefix}embeddings.{name}.weight", path + ("embeddings", name, "embedding"))
               for name in ("word_embeddings", "position_embeddings")]
        out += norm_tensors(f"{prefix}embeddings.LayerNorm", path + ("embeddings", "norm"))
        for i in range(self.config.n_layers):
            name, block = f"{prefix}transformer.layer.{i}", path + ("transformer", "layers", i)
            for hf, ours in (("q_lin", "query"), ("k_lin", "key"), ("v_lin", "value"), ("out_lin", "output")):
                out += dense_tensors(f"{name}.attention.{hf}", block + ("attention", ours))
            out += norm_tensors(f"{name}.sa_layer_norm", block + ("attention_norm",))
            out += dense_tensors(f"{name}.ffn.lin1", block + ("feed_forward", "widen"))
            out += dense_tensors(f"{name}.ffn.lin2", block + ("feed_forward", "narrow"))
            out += norm_tensors(f"{name}.output_layer_norm", block + ("feed_forward_norm",))
        return out


class DistilBertForMaskedLM(DistilBertPretrainedModel):
    """The masked-LM head: Dense + activation + LayerNorm, then scores against every word
    embedding (the output layer is the input embedding table, tied) plus a bias."""

    task = "masked-lm"
    head_prefixes = ("vocab_",)
    tied = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DistilBertConfig, *, rngs: nnx.Rngs):
        self.config = config
        init = normal(config.initializer_range)
        self.distilbert = DistilBertModel(config, rngs=rngs)
        self.vocab_transform = Dense(config.dim, config.dim, kernel_init=init, rngs=rngs)
        self.activation = Activation(config.activation)
        self.vocab_layer_norm = LayerNorm(config.dim, eps=1e-12)
        self.vocab_bias = nnx.Param(jnp.zeros((config.vocab_size,)))
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> MaskedLMOutput:
        hidden = self.distilbert(input_ids, attention_mask=attention_mask).last_hidden_state
        h = self.vocab_layer_norm(self.activation(self.vocab_transform(hidden)))  # (batch, seq, dim)
        return MaskedLMOutput(self.distilbert.embeddings.word_embeddings.attend(h) + self.vocab_bias[...])

    def hf_tensor_map(self) -> list[Tensor]:
        return (self.distilbert.hf_tensor_map("distilbert.", ("distilbert",))
                + dense_tensors("vocab_transform", ("vocab_transform",))
                + norm_tensors("vocab_layer_norm", ("vocab_layer_norm",))
                + [Tensor("vocab_projector.bias", ("vocab_bias",))])


class DistilBertForQuestionAnswering(DistilBertPretrainedModel):
    """Extractive QA: dropout, then two scores per token (answer start, answer end)."""

    task = "question-answering"
    head_prefixes = ("qa_outputs.",)

    def __init__(self, config: DistilBertConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.distilbert = DistilBertModel(config, rngs=rngs)
        self.dropout = Dropout(config.qa_dropout, rngs=rngs)
        self.qa_outputs = Dense(config.dim, 2, kernel_init=normal(config.initializer_range), rngs=rngs)
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> QuestionAnsweringOutput:
        hidden = self.distilbert(input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.qa_outputs(self.dropout(hidden))  # (batch, seq, 2)
        return QuestionAnsweringOutput(logits[..., 0], logits[..., 1])

    def hf_tensor_map(self) -> list[Tensor]:
        return self.distilbert.hf_tensor_map("distilbert.", ("distilbert",)) + dense_tensors("qa_outputs", ("qa_outputs",))


ARCHITECTURES = (DistilBertModel, DistilBertForMaskedLM, DistilBertForQuestionAnswering)
