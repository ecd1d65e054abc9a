"""What the models return: named fields, as Hugging Face's outputs name them, so
`model(...).logits` reads the same for every model (and a student's code transfers)."""

import flax.struct
import jax


@flax.struct.dataclass
class BaseModelOutput:
    last_hidden_state: jax.Array  # (batch, seq, hidden)


@flax.struct.dataclass
class MaskedLMOutput:
    logits: jax.Array  # (batch, seq or n_masked, vocab)


@flax.struct.dataclass
class SequenceClassifierOutput:
    logits: jax.Array  # (batch, num_labels)


@flax.struct.dataclass
class QuestionAnsweringOutput:
    start_logits: jax.Array  # (batch, seq)
    end_logits: jax.Array  # (batch, seq)


@flax.struct.dataclass
class CausalLMOutput:
    logits: jax.Array  # (batch, seq, vocab): scores for the token after each position


@flax.struct.dataclass
class Seq2SeqLMOutput:
    logits: jax.Array  # (batch, target, vocab)
    encoder_last_hidden_state: jax.Array  # (batch, source, d_model)
