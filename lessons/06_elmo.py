# %% [markdown]
# # Lesson 06: ELMo, word vectors from the whole sentence
#
# CBOW sees a fixed window and gives each word one vector. ELMo reads the whole sentence with
# LSTMs in both directions (a forward language model predicting each next word, a backward one
# predicting each previous word) and gives each word a vector that depends on its sentence:
# a learned weighted sum of the token embedding and the two LSTM layers.

# %%
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets import bundled, shared
from minitrans.datasets.streaming import pad_rows
from minitrans.experiments import lineage
from minitrans.models.cbow import CBOW
from minitrans.models.elmo import LSTMCell
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_curves, step, summary
from minitrans.tokenizers.words import WordVocabulary

args = lesson_args("Lesson 06: ELMo")
out = output_dir(args, "06_elmo")
corpus = shared("wikitext-2/wiki.valid.tokens.gz") or bundled("facts_corpus.txt")

# %% [markdown]
# ## Step 1: one LSTM step
# Four gates from the input and the previous state; the cell state c is the memory, h what
# the cell shows of it.

# %%
step("Step 1: one LSTM step")
cell = LSTMCell(3, 4, rngs=nnx.Rngs(0))
h, c = jnp.zeros((1, 4)), jnp.zeros((1, 4))
for t, x in enumerate(jnp.eye(3)):
    h, c = cell((h, c), x[None])
    print(f"t={t}  h={np.round(np.asarray(h[0]), 3)}")

# %% [markdown]
# ## Step 2: train the bidirectional language model

# %%
step("Step 2: train ELMo")
sentences = lineage.load_sentences(corpus, max_chars=200_000 if args.quick else 1_200_000)
train, held_out = lineage.split_held_out(sentences, seed=args.seed)
vocab = WordVocabulary.build(train, min_count=2, max_size=10_000)
length = 32
rows = pad_rows(lineage.encode(train, vocab, length), length)
rng = np.random.default_rng(args.seed)
steps = 30 if args.quick else 1500
# 128-dimensional LSTMs, batches of 32 sentences, Adam at 3e-3
elmo, losses = lineage.train_elmo(rows, len(vocab), steps, rng, seed=args.seed, log_every=max(1, steps // 5))
perplexity = lineage.elmo_perplexity(elmo, lineage.encode(held_out, vocab, length), length)
print(f"held-out forward-LM perplexity: {perplexity:.1f}")
save_curves({"ELMo (forward + backward) / 2": losses}, out / "elmo_loss.png", "ELMo training loss")

# %% [markdown]
# ## Step 3: "right" and "right"
# The same word in two sentences: ELMo's two vectors differ (cosine below 1); CBOW's are one
# row of a table (cosine exactly 1).

# %%
step("Step 3: contextual versus fixed vectors")
first = "they were on the right side of the street"
second = "they were on the right side of history"
ids = pad_rows(lineage.encode([first, second], vocab, length), length)
position = 1 + first.split().index("right")  # +1 for <s>
vectors = np.asarray(elmo.embed(jnp.asarray(ids)))[:, position]
cosine = float(vectors[0] @ vectors[1] / np.linalg.norm(vectors[0]) / np.linalg.norm(vectors[1]))
cbow = CBOW(len(vocab), 64, rngs=nnx.Rngs(0))
table = cbow.word_vectors()[ids[:, position]]
cbow_cosine = float(table[0] @ table[1] / np.linalg.norm(table[0]) / np.linalg.norm(table[1]))
print(f"'right' is word id {ids[0, position]} ({vocab.itos[ids[0, position]]}) in both sentences")
print(f"ELMo cosine similarity of the two 'right' vectors: {cosine:.3f}")
print(f"CBOW cosine similarity of the two 'right' vectors: {cbow_cosine:.3f}")
print("ELMo's layer weights softmax(s):", np.round(np.asarray(jax.nn.softmax(elmo.mix_weights[...])), 3),
      "gamma", round(float(elmo.gamma[...]), 3))

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
expect("held-out forward-LM perplexity", perplexity, full=Expect(133.9, at_most=170), quick=Expect(249.9, at_most=330))
expect("ELMo: cosine of the two 'right' vectors (below 1: they depend on the sentence)", cosine,
       full=Expect(0.9938, at_most=0.9995), quick=Expect(0.9975, at_most=0.9999))
expect("CBOW: cosine of the two 'right' vectors (one row of the table)", cbow_cosine,
       full=Expect(1.0, at_least=0.9999), quick=Expect(1.0, at_least=0.9999))
summary("ELMo reads the whole sentence with two LSTM language models, one each way, so the same word gets "
        "a different vector in a different sentence; CBOW's table cannot", ["LSTMCell"])
