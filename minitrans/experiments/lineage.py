"""Training and measuring the road to BERT on one corpus and one word vocabulary:
CBOW (window -> centre word), ELMo (bidirectional LSTM LMs), GPT (causal transformer LM) and
BERT (masked LM), so that lesson 08 can put their numbers in one table.

Every model trains through the Trainer (`fit`); the held-out figure is computed on the same
held-out sentences for all of them.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets.corpus import read_corpus
from minitrans.datasets.masking import mask_tokens
from minitrans.datasets.span_corruption import random_spans_noise_mask, span_corrupt
from minitrans.datasets.streaming import pack, pad_rows
from minitrans.losses import IGNORE, accuracy, cross_entropy
from minitrans.models.cbow import CBOW, cbow_loss, context_windows
from minitrans.models.elmo import ELMo, elmo_loss
from minitrans.tokenizers.words import SPECIALS, WordVocabulary
from minitrans.training.pretraining import span_corruption_loss
from minitrans.training.trainer import Trainer, TrainingArguments


def load_sentences(corpus, max_chars: int | None = None, min_words: int = 4) -> list[str]:
    sentences = [s for doc in read_corpus(corpus, max_chars) for s in doc if len(s.split()) >= min_words]
    if len(sentences) < 10:
        raise ValueError(f"the corpus {corpus} gives {len(sentences)} sentences of {min_words}+ words; need at least 10")
    return sentences


def split_held_out(sentences: list[str], fraction: float = 0.05, seed: int = 0) -> tuple[list[str], list[str]]:
    order = np.random.default_rng(seed).permutation(len(sentences))
    n = max(5, int(len(sentences) * fraction))
    return [sentences[i] for i in order[n:]], [sentences[i] for i in order[:n]]


def encode(sentences: list[str], vocab: WordVocabulary, max_words: int) -> list[list[int]]:
    """<s> words </s>, at most max_words in all."""
    return [([vocab.bos_id] + vocab.encode(s) + [vocab.eos_id])[:max_words] for s in sentences]


# --------------------------------------------------------------------------- batches


def cbow_examples(encoded: list[list[int]], half_window: int) -> tuple[np.ndarray, np.ndarray]:
    contexts, centres = [], []
    for ids in encoded:
        if len(ids) >= 2 * half_window + 1:
            for context, centre in context_windows(ids, half_window):
                contexts.append(context)
                centres.append(centre)
    if not centres:
        raise ValueError(f"no sentence has the {2 * half_window + 1} words a window of +-{half_window} needs")
    return np.array(contexts, np.int32), np.array(centres, np.int32)


def lm_blocks(encoded: list[list[int]], block: int) -> np.ndarray:
    """Pack the sentences end to end and cut blocks of `block` tokens (language-model packing)."""
    blocks = list(pack(encoded, block))
    if not blocks:
        raise ValueError(f"the corpus has {sum(map(len, encoded))} tokens, fewer than one block of {block}")
    return np.stack(blocks)


def masked_batch(rows: np.ndarray, vocab: WordVocabulary, rng: np.random.Generator) -> dict:
    ids, labels = mask_tokens(rows, mask_token_id=vocab.mask_id, vocab_size=len(vocab),
                              special_ids=range(len(SPECIALS)), rng=rng)
    return {"input_ids": ids, "attention_mask": (rows != 0).astype(np.int32),
            "labels": np.where(labels == IGNORE, 0, labels), "weights": (labels != IGNORE).astype(np.float32)}


def bert_mlm_loss(model, batch: dict):
    logits = model(batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = cross_entropy(logits, batch["labels"], batch["weights"])
    return loss, {"loss": loss, "accuracy": accuracy(logits, batch["labels"], batch["weights"])}


SENTINELS = 20  # span-corruption sentinels appended after the word vocabulary, as T5's <extra_id_*>


def t5_batch(encoded: list[list[int]], vocab_size: int, rng: np.random.Generator, source_length: int,
             target_length: int) -> dict:
    """Span-corrupt each sentence (the paper's noise mask: 15% of the words, spans of mean 3);
    `vocab_size` counts the sentinels, which are its last ids."""
    inputs, targets = [], []
    for ids in encoded:
        source, target = span_corrupt(ids, random_spans_noise_mask(len(ids), rng=rng), vocab_size=vocab_size,
                                      eos_id=None)
        inputs.append(source[:source_length])
        targets.append(target[:target_length])
    labels = np.full((len(encoded), target_length), IGNORE, np.int32)
    for i, target in enumerate(targets):
        labels[i, :len(target)] = target
    return {"input_ids": pad_rows(inputs, source_length), "labels": labels}


t5_loss = span_corruption_loss  # cross entropy over the targets, accuracy over every target token


def t5_span_accuracy(model, encoded: list[list[int]], vocab_size: int, length: int, seed: int = 0) -> float:
    """Accuracy on the held-out span-corruption targets (teacher forcing, fixed seed)."""
    batch = t5_batch(encoded, vocab_size, np.random.default_rng(seed), length, length)
    return float(t5_loss(model, {k: jnp.asarray(v) for k, v in batch.items()})[1]["accuracy"])


# --------------------------------------------------------------------------- training


def fit(model: nnx.Module, loss_fn, sample_batch, steps: int, learning_rate: float = 3e-3,
        log_every: int = 0, log=print) -> tuple[nnx.Module, list[float]]:
    """Train `model` for `steps` steps of AdamW (warm-up over the first 5%, then linear decay,
    no weight decay) on batches from `sample_batch(step)`; returns the trained model (eval
    mode) and every step's training loss."""
    args = TrainingArguments(max_steps=steps, learning_rate=learning_rate, warmup_steps=max(1, steps // 20),
                             weight_decay=0.0, log_every=log_every or steps, progress_bar=False)
    result = Trainer(model, sample_batch, args=args, loss_fn=loss_fn, log=log if log_every else (lambda _: None)).train()
    return result["model"], result["losses"]


def train_cbow(contexts: np.ndarray, centres: np.ndarray, vocab_size: int, steps: int, rng: np.random.Generator, *,
               dim: int = 100, batch_size: int = 512, learning_rate: float = 5e-3, seed: int = 0, log_every: int = 0,
               log=print) -> tuple[nnx.Module, list[float]]:
    """CBOW (lesson 05) on batches of (context, centre) examples drawn at random with `rng`."""
    def batch(i):
        index = rng.integers(len(centres), size=batch_size)
        return {"context": contexts[index], "centre": centres[index]}

    return fit(CBOW(vocab_size, dim, rngs=nnx.Rngs(seed)), cbow_loss, batch, steps, learning_rate, log_every, log)


def train_elmo(rows: np.ndarray, vocab_size: int, steps: int, rng: np.random.Generator, *, dim: int = 128,
               batch_size: int = 32, learning_rate: float = 3e-3, seed: int = 0, log_every: int = 0,
               log=print) -> tuple[nnx.Module, list[float]]:
    """ELMo (lesson 06) on batches of padded sentences `rows` (n, length) drawn at random with `rng`."""
    return fit(ELMo(vocab_size, dim, rngs=nnx.Rngs(seed)), elmo_loss,
               lambda i: {"input_ids": rows[rng.integers(len(rows), size=batch_size)]}, steps, learning_rate,
               log_every, log)


# --------------------------------------------------------------------------- held-out figures


def mean_over_batches(fn, arrays: list[np.ndarray], batch_size: int = 64) -> float:
    """Weighted mean of fn(batch) -> (sum, count) over the held-out data."""
    total = count = 0.0
    for start in range(0, len(arrays[0]), batch_size):
        s, n = fn(*[jnp.asarray(a[start:start + batch_size]) for a in arrays])
        total, count = total + float(s), count + float(n)
    return total / max(count, 1.0)


def token_nll(logits, targets, weights):
    log_probs = jax.nn.log_softmax(logits, -1)
    nll = -jnp.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    return (nll * weights).sum(), weights.sum()


def cbow_perplexity(model, encoded: list[list[int]], half_window: int) -> float:
    """exp(mean cross entropy of the centre word given its +-C window)."""
    contexts, centres = cbow_examples(encoded, half_window)
    fn = jax.jit(lambda c, y: token_nll(model(c).logits, y, jnp.ones(y.shape)))
    return math.exp(mean_over_batches(fn, [contexts, centres]))


def elmo_perplexity(model, encoded: list[list[int]], length: int) -> float:
    """exp(mean cross entropy of the forward LM: each next word given the words before it)."""
    rows = pad_rows(encoded, length)
    fn = jax.jit(lambda ids: token_nll(model(ids).forward_logits[:, :-1], ids[:, 1:], (ids[:, 1:] != 0)))
    return math.exp(mean_over_batches(fn, [rows]))


def gpt_perplexity(model, encoded: list[list[int]], length: int) -> float:
    """exp(mean cross entropy of each next word given the words before it, one sentence a row)."""
    rows = pad_rows(encoded, length)
    fn = jax.jit(lambda ids: token_nll(model(ids).logits[:, :-1], ids[:, 1:], (ids[:, 1:] != 0)))
    return math.exp(mean_over_batches(fn, [rows]))


def generation_perplexity(model, encoded: list[list[int]], length: int) -> float:
    """Next-word perplexity as generation meets it: to score word t + 1 the model gets words
    0..t and padding after them, so no mask can let it see the answer. For a causal model this
    equals `gpt_perplexity`; a bidirectional one loses the word it learned to copy."""
    rows = pad_rows(encoded, length)

    def nll_at(ids, t):
        visible = jnp.where(jnp.arange(length)[None] <= t, ids, 0)  # (batch, length): the future hidden
        logits = model(visible).logits[:, t]  # (batch, vocab): scores for word t + 1
        return token_nll(logits, ids[:, t + 1], (ids[:, t + 1] != 0))

    def all_positions(ids):  # one compiled forward pass, run for t = 0 .. length - 2
        sums, counts = jax.lax.map(lambda t: nll_at(ids, t), jnp.arange(length - 1))
        return sums.sum(), counts.sum()

    return math.exp(mean_over_batches(jax.jit(all_positions), [rows]))


def bert_masked_accuracy(model, encoded: list[list[int]], vocab: WordVocabulary, length: int, seed: int = 0) -> float:
    """Accuracy at 15% masked words of the held-out sentences (fixed seed)."""
    batch = masked_batch(pad_rows(encoded, length), vocab, np.random.default_rng(seed))
    logits = model(jnp.asarray(batch["input_ids"]), attention_mask=jnp.asarray(batch["attention_mask"])).logits
    correct = (np.asarray(logits).argmax(-1) == batch["labels"]) * batch["weights"]
    return float(correct.sum() / batch["weights"].sum())


# --------------------------------------------------------------------------- why not bi-directional?


def peeking_experiment(corpus, *, quick: bool, seed: int = 0, steps: int | None = None, log=print) -> dict:
    """The experiment behind "why not bi-directional?" (lesson 07, `minitrans demo peek`): the
    same GPT trained twice on next-word prediction, under the causal mask and fully visible.
    Fully visible, each position sees the word it must predict, copies it, and its training
    loss falls near zero; scored as generation meets it (the words after hidden), it is lost.
    No dropout: dropping attention weights at random would hide the copying.

    Each trains `steps` steps (default 250 quick, 1000 full). Returns the vocabulary, the block
    length, and per model ("causal (GPT)", "bidirectional") the trained model, every step's loss
    and the held-out generation perplexity."""
    from minitrans.models.gpt import GPT, GPT2Config, lm_loss

    sentences = load_sentences(corpus, max_chars=200_000 if quick else 1_200_000)
    train, held_out = split_held_out(sentences, seed=seed)
    vocab = WordVocabulary.build(train, min_count=2, max_size=10_000)
    length = 16 if quick else 32
    blocks = lm_blocks(encode(train, vocab, 64), length)
    width, layers = (64, 1) if quick else (128, 2)
    config = GPT2Config(vocab_size=len(vocab), n_positions=length, n_embd=width, n_layer=layers, n_head=2,
                        resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    log(f"{len(blocks):,} blocks of {length} words; vocabulary {len(vocab):,}")
    steps = steps or (250 if quick else 1000)
    models, curves = {}, {}
    for name, causal in (("causal (GPT)", True), ("bidirectional", False)):
        rng = np.random.default_rng(seed)
        log(name)
        models[name], curves[name] = fit(
            GPT(config, causal=causal, rngs=nnx.Rngs(seed)), lm_loss,
            lambda i: {"input_ids": blocks[rng.integers(len(blocks), size=32)]}, steps,
            learning_rate=1e-2 if quick else 5e-3, log_every=max(1, steps // 4), log=log)
    held = encode(held_out, vocab, length)
    perplexities = {name: generation_perplexity(model, held, length) for name, model in models.items()}
    return {"vocab": vocab, "length": length, "models": models, "curves": curves, "perplexities": perplexities}
