# %% [markdown]
# # Lesson 05: CBOW, word vectors from a fixed window
#
# The first step on the road to BERT. The continuous bag of words model predicts a word from
# the C words on each side of it:
#
#     "i am happy because i am learning"   C = 2   context [i, am, because, i] -> centre "happy"
#
# Average the context words' embeddings, ReLU, Dense to vocabulary scores, cross entropy.
# The embeddings it learns put words used alike close together. Its limits set up the rest
# of the course: the window is fixed, and each word gets one vector in every sentence.

# %%
import numpy as np

from minitrans.datasets import bundled, shared
from minitrans.experiments import lineage
from minitrans.models.cbow import analogy, context_windows, nearest
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_curves, step, summary
from minitrans.tokenizers.words import WordVocabulary, split_words

args = lesson_args("Lesson 05: CBOW")
out = output_dir(args, "05_cbow")
corpus = shared("wikitext-2/wiki.valid.tokens.gz") or bundled("facts_corpus.txt")

# %% [markdown]
# ## Step 1: context windows

# %%
step("Step 1: context windows")
for context, centre in context_windows(split_words("I am happy because I am learning."), 2):
    print(f"  {' '.join(context):<28} -> {centre}")

# %% [markdown]
# ## Step 2: a corpus and its vocabulary

# %%
step("Step 2: corpus")
sentences = lineage.load_sentences(corpus, max_chars=300_000 if args.quick else None)
train, held_out = lineage.split_held_out(sentences, seed=args.seed)
vocab = WordVocabulary.build(train, min_count=2, max_size=10_000)
encoded = lineage.encode(train, vocab, 64)
contexts, centres = lineage.cbow_examples(encoded, 2)
print(f"{corpus.name}: {len(sentences):,} sentences, vocabulary {len(vocab):,} words, "
      f"{len(centres):,} (context, centre) examples")

# %% [markdown]
# ## Step 3: train

# %%
step("Step 3: train CBOW")
rng = np.random.default_rng(args.seed)
steps = 200 if args.quick else 3000
# 100-dimensional vectors, batches of 512 (context, centre) examples, Adam at 5e-3
model, losses = lineage.train_cbow(contexts, centres, len(vocab), steps, rng, seed=args.seed,
                                   log_every=max(1, steps // 5))
held = lineage.encode(held_out, vocab, 64)
perplexity = lineage.cbow_perplexity(model, held, 2)
print(f"held-out centre-word perplexity: {perplexity:.1f} "
      f"(a uniform guess: {len(vocab):,})")
save_curves({"CBOW training loss": losses}, out / "cbow_loss.png", "CBOW")

# %% [markdown]
# ## Step 4: what the vectors learned
# Nearest neighbours by cosine similarity, and analogies b - a + c.

# %%
step("Step 4: neighbours and analogies")
vectors = model.word_vectors()
for word in ["king", "city", "he", "january", "war", "the"]:
    if word in vocab.stoi:
        print(f"  {word:<10} -> {', '.join(nearest(vectors, vocab, word))}")
for a, b, c in [("he", "his", "she"), ("france", "french", "germany"), ("one", "two", "three")]:
    if all(w in vocab.stoi for w in (a, b, c)):
        print(f"  {a} : {b} :: {c} : {', '.join(analogy(vectors, vocab, a, b, c, k=3))}")

# %% [markdown]
# ## Step 5: one vector per word
# "right" gets the same vector in "the right side of the street" and "the right side of
# history": CBOW has no way to tell the two apart. ELMo (lesson 06) does.

# %%
step("Step 5: the same vector in every sentence")
i = vocab.stoi.get("right", vocab.unk_id)
print(f"'right' (id {i}) in both sentences: the same row of the table, cosine similarity 1.0")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
expect("held-out centre-word perplexity", perplexity, full=Expect(152.3, at_most=190), quick=Expect(191.6, at_most=300))
expect("training loss, first step minus last", losses[0] - losses[-1], full=Expect(5.184, at_least=4.0),
       quick=Expect(2.629, at_least=1.5))
summary("CBOW predicts a word from the words around it; its embedding table is the product: words used "
        "alike get similar vectors, but a word has one vector whatever its sentence", ["context_windows"])
