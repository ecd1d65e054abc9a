"""BERT (Devlin et al., 2019): a post-LN transformer encoder pre-trained by masked language
modelling and next-sentence prediction.

    input   [CLS] my dog is cute [SEP] he likes play ##ing [SEP]
    tokens  E_[CLS] E_my E_dog ...                 (word embeddings)
    segment E_A     E_A  E_A ... E_B ...           (token type embeddings)
    position E_0    E_1  E_2 ... E_10              (learned position embeddings)

The sum goes through LayerNorm and dropout, then N post-LN `EncoderBlock`s from the course's
encoder (GELU, LayerNorm eps 1e-12). The pooler reads the [CLS] vector. Task heads:
`BertForPreTraining` (MLM + NSP), `BertForMaskedLM`, `BertForSequenceClassification`,
`BertForQuestionAnswering`. Checkpoints are Hugging Face's: `config.json` + `model.safetensors`
with the same tensor names, so real checkpoints load and ours load back into transformers.
"""

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.checkpoints import PretrainedModel, Tensor, dense_tensors, norm_tensors
from minitrans.config import ConfigMixin
from minitrans.kernels import normal
from minitrans.masks import padding_mask
from minitrans.models.encoder import EncoderBlock
from minitrans.models.outputs import MaskedLMOutput, QuestionAnsweringOutput, SequenceClassifierOutput
from minitrans.nn import Activation, Dense, Dropout, Embedding, LayerNorm, Serial, check_token_ids, is_concrete


@dataclasses.dataclass(frozen=True)
class BertConfig(ConfigMixin):
    """BERT's hyper-parameters, with the names of the paper's code and of `config.json`."""
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int = 0
    num_labels: int = 2
    position_embedding_type: str = "absolute"
    classifier_pooling: str = "cls"  # what a sequence classifier reads: "cls" (BERT's pooler) or "mean"
    model_type = "bert"
    architecture = "BertModel"
    dropout_keys = ("hidden_dropout_prob", "attention_probs_dropout_prob")

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size={self.hidden_size} is not divisible by "
                             f"num_attention_heads={self.num_attention_heads}")
        if self.position_embedding_type != "absolute":
            raise ValueError(f"position_embedding_type {self.position_embedding_type!r} is not "
                             "supported; minitrans implements BERT's 'absolute' positions")
        if self.classifier_pooling not in ("cls", "mean"):
            raise ValueError(f"classifier_pooling must be 'cls' or 'mean', got {self.classifier_pooling!r}")

    @classmethod
    def tiny(cls, **kw):
        """BERT-Tiny (Turc et al., 2019): 2 layers, hidden 128, 2 heads."""
        return cls(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512, **kw)

    @classmethod
    def mini(cls, **kw):
        """BERT-Mini (Turc et al., 2019): 4 layers, hidden 256, 4 heads."""
        return cls(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024, **kw)

    @classmethod
    def base(cls, **kw):
        """BERT-Base: 12 layers, hidden 768, 12 heads, 110M parameters."""
        return cls(**kw)


@flax.struct.dataclass
class BertOutput:
    last_hidden_state: jax.Array  # (batch, seq, hidden)
    pooler_output: jax.Array | None  # (batch, hidden)


class BertEmbeddings(nnx.Module):
    """word + segment (token type) + position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        init = normal(config.initializer_range)
        self.word_embeddings = Embedding(config.vocab_size, config.hidden_size, embedding_init=init, rngs=rngs)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.hidden_size,
                                             embedding_init=init, rngs=rngs)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.hidden_size,
                                               embedding_init=init, rngs=rngs)
        self.norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob, rngs=rngs)

    def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array | None = None) -> jax.Array:
        """input_ids, token_type_ids: (batch, seq) -> (batch, seq, hidden). Segment 0 by default."""
        # BEGIN SOLUTION
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        positions = jnp.arange(input_ids.shape[1])[None, :]  # (1, seq): E_0 ... E_{seq-1}
        x = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
             + self.position_embeddings(positions))  # (batch, seq, hidden)
        return self.dropout(self.norm(x))
        # END SOLUTION


def check_inputs(config: BertConfig, input_ids, token_type_ids, attention_mask):
    """Clear errors for inputs BERT cannot take, before any array reaches a layer."""
    input_ids = check_token_ids(input_ids, config.vocab_size,
                                max_length=(config.max_position_embeddings, "max_position_embeddings"))
    for name, other in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
        if other is not None and tuple(jnp.shape(other)) != tuple(input_ids.shape):
            raise ValueError(f"{name} has shape {tuple(jnp.shape(other))}, input_ids {tuple(input_ids.shape)}: "
                             "they must match")
    if token_type_ids is not None and is_concrete(token_type_ids):
        types = np.asarray(token_type_ids)
        if types.size and (types.min() < 0 or types.max() >= config.type_vocab_size):
            raise ValueError(f"token_type_ids must be in [0, {config.type_vocab_size - 1}], got {types.max()}")
    return input_ids


class BertPretrainedModel(PretrainedModel):
    """What every BERT class shares: the config, and checkpoints in Hugging Face's layout (task
    models keep BertModel under `self.bert`, whose tensors are named "bert.*", as there)."""

    config_class = BertConfig
    base_prefix = "bert."
    unused_prefixes = ("cls.", "classifier.", "qa_outputs.", "pooler.", "bert.pooler.")
    ignored = ("position_ids",)


def bert_tensor_map(config: BertConfig, prefix: str = "", path: tuple = (), pooler: bool = True) -> list[Tensor]:
    """Hugging Face's tensor names for BertModel, and where each lives in ours."""
    out = [Tensor(f"{prefix}embeddings.{name}.weight", path + ("embeddings", name, "embedding"))
           for name in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    out += norm_tensors(f"{prefix}embeddings.LayerNorm", path + ("embeddings", "norm"))
    for i in range(config.num_hidden_layers):
        name, block = f"{prefix}encoder.layer.{i}", path + ("encoder", "layers", i)
        for part in ("query", "key", "value"):
            out += dense_tensors(f"{name}.attention.self.{part}", block + ("attention", part))
        out += dense_tensors(f"{name}.attention.output.dense", block + ("attention", "output"))
        out += norm_tensors(f"{name}.attention.output.LayerNorm", block + ("attention_norm",))
        out += dense_tensors(f"{name}.intermediate.dense", block + ("feed_forward", "widen"))
        out += dense_tensors(f"{name}.output.dense", block + ("feed_forward", "narrow"))
        out += norm_tensors(f"{name}.output.LayerNorm", block + ("feed_forward_norm",))
    if pooler:
        out += dense_tensors(f"{prefix}pooler.dense", path + ("pooler",))
    return out


class BertModel(BertPretrainedModel):
    """Embeddings -> N post-LN encoder blocks -> (pooler: tanh(Dense(h_[CLS])))."""

    task = "base"
    head_prefixes = ("pooler.",)  # a task checkpoint (question answering, say) may have no pooler

    def __init__(self, config: BertConfig, *, add_pooling_layer: bool = True, rngs: nnx.Rngs):
        self.config = config
        init = normal(config.initializer_range)
        self.embeddings = BertEmbeddings(config, rngs=rngs)
        self.encoder = Serial(*[
            EncoderBlock(config.hidden_size, config.intermediate_size, config.num_attention_heads,
                         dropout_rate=config.hidden_dropout_prob,
                         attention_dropout_rate=config.attention_probs_dropout_prob,
                         activation=config.hidden_act, norm_position="post",
                         layer_norm_eps=config.layer_norm_eps, kernel_init=init, rngs=rngs)
            for _ in range(config.num_hidden_layers)])
        self.pooler = Dense(config.hidden_size, config.hidden_size, kernel_init=init, rngs=rngs) \
            if add_pooling_layer else None
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> BertOutput:
        """input_ids, token_type_ids, attention_mask (1 = real token, 0 = pad): (batch, seq)."""
        input_ids = check_inputs(self.config, input_ids, token_type_ids, attention_mask)
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)  # (batch, seq, hidden)
        x = self.encoder(x, mask=padding_mask(attention_mask))  # (batch, seq, hidden)
        pooled = jnp.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None  # (batch, hidden)
        return BertOutput(last_hidden_state=x, pooler_output=pooled)

    def hf_tensor_map(self) -> list[Tensor]:
        return bert_tensor_map(self.config, pooler=self.pooler is not None)


class BertPredictionHead(nnx.Module):
    """The masked-LM head: Dense + activation + LayerNorm, then scores against every word
    embedding (the output matrix is the input embedding matrix: weight tying) plus a bias."""

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        init = normal(config.initializer_range)
        self.dense = Dense(config.hidden_size, config.hidden_size, kernel_init=init, rngs=rngs)
        self.activation = Activation(config.hidden_act)
        self.norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nnx.Param(jnp.zeros((config.vocab_size,)))

    def __call__(self, hidden: jax.Array, word_embeddings: Embedding) -> jax.Array:
        h = self.norm(self.activation(self.dense(hidden)))  # (..., hidden)
        return word_embeddings.attend(h) + self.bias[...]  # (..., vocab)


def gather_positions(hidden: jax.Array, positions: jax.Array) -> jax.Array:
    """hidden (batch, seq, h), positions (batch, n) -> (batch, n, h): the original BERT scores the
    vocabulary only at the masked positions, not at all seq of them."""
    return jnp.take_along_axis(hidden, positions[..., None], axis=1)


@flax.struct.dataclass
class BertForPreTrainingOutput:
    prediction_logits: jax.Array  # (batch, seq or n_masked, vocab)
    seq_relationship_logits: jax.Array  # (batch, 2): 0 = B follows A, 1 = B is random


class BertForPreTraining(BertPretrainedModel):
    """BERT with both pre-training heads: masked LM and next-sentence prediction."""

    task = "pretraining"
    head_prefixes = ("cls.",)
    # the output layer is the word embedding table (tied); checkpoints may hold a copy of it
    tied = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias"}

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.bert = BertModel(config, rngs=rngs)
        self.predictions = BertPredictionHead(config, rngs=rngs)
        init = normal(config.initializer_range)
        self.seq_relationship = Dense(config.hidden_size, 2, kernel_init=init, rngs=rngs)
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None,
                 masked_positions=None) -> BertForPreTrainingOutput:
        """`masked_positions` (batch, n): score the vocabulary only there (much faster)."""
        out = self.bert(input_ids, token_type_ids, attention_mask)
        hidden = out.last_hidden_state
        if masked_positions is not None:
            hidden = gather_positions(hidden, jnp.asarray(masked_positions))
        logits = self.predictions(hidden, self.bert.embeddings.word_embeddings)
        return BertForPreTrainingOutput(logits, self.seq_relationship(out.pooler_output))

    def hf_tensor_map(self) -> list[Tensor]:
        return bert_tensor_map(self.config, "bert.", ("bert",)) + prediction_tensor_map() + \
            dense_tensors("cls.seq_relationship", ("seq_relationship",))


def prediction_tensor_map() -> list[Tensor]:
    return (dense_tensors("cls.predictions.transform.dense", ("predictions", "dense"))
            + norm_tensors("cls.predictions.transform.LayerNorm", ("predictions", "norm"))
            + [Tensor("cls.predictions.bias", ("predictions", "bias"))])


class BertForMaskedLM(BertPretrainedModel):
    """BERT with the masked-LM head only (no pooler, no NSP)."""

    task = "masked-lm"
    head_prefixes = ("cls.",)
    tied = BertForPreTraining.tied

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False, rngs=rngs)
        self.predictions = BertPredictionHead(config, rngs=rngs)
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, masked_positions=None):
        hidden = self.bert(input_ids, token_type_ids, attention_mask).last_hidden_state
        if masked_positions is not None:
            hidden = gather_positions(hidden, jnp.asarray(masked_positions))
        return MaskedLMOutput(self.predictions(hidden, self.bert.embeddings.word_embeddings))

    def hf_tensor_map(self) -> list[Tensor]:
        return bert_tensor_map(self.config, "bert.", ("bert",), pooler=False) + prediction_tensor_map()


class BertForSequenceClassification(BertPretrainedModel):
    """Fine-tuning for GLUE-style tasks: dropout + Dense on the pooled [CLS] vector, BERT's way.

    `classifier_pooling="mean"` reads the mean of the tokens' last hidden states instead (padding
    left out): the sentence vector a sentence-embedding checkpoint such as all-MiniLM-L6-v2 was
    trained to make, where the pooler on [CLS] was never trained. transformers' BERT has no such
    switch: a "mean" model it loads would classify from [CLS]."""

    task = "text-classification"
    head_prefixes = ("classifier.",)

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.bert = BertModel(config, rngs=rngs)
        self.dropout = Dropout(config.hidden_dropout_prob, rngs=rngs)
        self.classifier = Dense(config.hidden_size, config.num_labels,
                                kernel_init=normal(config.initializer_range), rngs=rngs)
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> SequenceClassifierOutput:
        out = self.bert(input_ids, token_type_ids, attention_mask)
        if self.config.classifier_pooling == "mean":
            keep = (jnp.ones(input_ids.shape) if attention_mask is None else attention_mask)[..., None]  # (batch, seq, 1)
            pooled = (out.last_hidden_state * keep).sum(1) / jnp.maximum(keep.sum(1), 1)  # (batch, hidden)
        else:
            pooled = out.pooler_output  # tanh(Dense(h_[CLS]))
        return SequenceClassifierOutput(self.classifier(self.dropout(pooled)))

    def hf_tensor_map(self) -> list[Tensor]:
        return bert_tensor_map(self.config, "bert.", ("bert",)) + dense_tensors("classifier", ("classifier",))


class BertForQuestionAnswering(BertPretrainedModel):
    """Extractive QA: two scores per token, for the answer's start and for its end."""

    task = "question-answering"
    head_prefixes = ("qa_outputs.",)

    def __init__(self, config: BertConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False, rngs=rngs)
        self.qa_outputs = Dense(config.hidden_size, 2,
                                kernel_init=normal(config.initializer_range), rngs=rngs)
        self.eval()

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None) -> QuestionAnsweringOutput:
        hidden = self.bert(input_ids, token_type_ids, attention_mask).last_hidden_state
        logits = self.qa_outputs(hidden)  # (batch, seq, 2)
        return QuestionAnsweringOutput(logits[..., 0], logits[..., 1])

    def hf_tensor_map(self) -> list[Tensor]:
        return bert_tensor_map(self.config, "bert.", ("bert",), pooler=False) + dense_tensors("qa_outputs", ("qa_outputs",))


ARCHITECTURES = (BertModel, BertForPreTraining, BertForMaskedLM, BertForSequenceClassification,
                 BertForQuestionAnswering)
