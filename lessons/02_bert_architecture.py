# %% [markdown]
# # Lesson 02: the BERT architecture, from real tensors
#
# BERT is the course's transformer encoder in its post-LN form, with three embeddings summed
# at the input. The slide:
#
#     Input      [CLS] my dog is cute [SEP] he likes play ##ing [SEP]
#     Token      E_[CLS] E_my E_dog ...
#     Segment    E_A E_A E_A E_A E_A E_A E_B E_B E_B E_B E_B
#     Position   E_0 E_1 E_2 ... E_10
#
# This lesson prints that table from a real pretrained BERT (all-MiniLM-L6-v2: 6 layers,
# hidden 384, uncased WordPiece vocabulary of 30,522), checks the embedding sum by hand, looks
# at an attention head, and uses the frozen encoder as a feature extractor for sentences.

# %%

import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.checkpoints import minilm_folder
from minitrans.embeddings import sentence_embeddings
from minitrans.masks import padding_mask
from minitrans.models.bert import BertConfig, BertModel
from minitrans.summary import parameter_count
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_heatmap, step, summary
from minitrans.tokenizers import WordPieceTokenizer

args = lesson_args("Lesson 02: the BERT architecture")
out = output_dir(args, "02_bert_architecture")
np.set_printoptions(precision=3, suppress=True)

folder = minilm_folder(required=True)

# %% [markdown]
# ## Step 1: the slide's input, tokenized
# WordPiece splits "playing" into "play" + "##ing" only if the vocabulary lacks "playing";
# this one has it, so we use "snowboarding" to see continuation pieces too.

# %%
step("Step 1: tokens, segments and positions")
tokenizer = WordPieceTokenizer.from_pretrained(folder)
model = BertModel.from_pretrained(folder)
encoding = tokenizer.encode("my dog is cute", "he likes snowboarding")
ids = jnp.asarray([encoding.ids])
segments = jnp.asarray([encoding.type_ids])
print(f"{'i':>2}  {'token':<12} {'id':>6}  segment  position")
for i, (token, token_id, segment) in enumerate(zip(encoding.tokens, encoding.ids, encoding.type_ids)):
    print(f"{i:>2}  {token:<12} {token_id:>6}  E_{'AB'[segment]}      E_{i}")

# %% [markdown]
# ## Step 2: the three embeddings, summed by hand
# Each row of the table is the sum of three learned vectors; BERT then applies LayerNorm.

# %%
step("Step 2: word + segment + position embeddings")
emb = model.embeddings
word = emb.word_embeddings(ids)[0]  # (seq, hidden)
segment = emb.token_type_embeddings(segments)[0]
position = emb.position_embeddings(jnp.arange(len(encoding.ids)))
print("first 4 dimensions of each part, for the token 'dog' (position 2, segment A):")
for name, table in (("E_dog", word), ("E_A", segment), ("E_2", position)):
    print(f"  {name:<6} {np.asarray(table[2, :4])}")
by_hand = emb.norm(word + segment + position)
difference = float(jnp.abs(by_hand - emb(ids, segments)[0]).max())
print(f"LayerNorm(E_token + E_segment + E_position) vs BertEmbeddings: max difference {difference:.1e}")
segment_table = emb.token_type_embeddings.embedding
print("E_A and E_B differ:", float(jnp.linalg.norm(segment_table[0] - segment_table[1])))

# %% [markdown]
# ## Step 3: the encoder: post-LN blocks, and the parameter count
# Each block is the course's EncoderBlock with the norm after the residual addition (BERT's
# choice) and GELU. BERT-base has 109,482,240 parameters; count ours.

# %%
step("Step 3: blocks and parameters")
print(model.encoder.layers[0])
print("\nall-MiniLM-L6-v2:")
parameter_count(model, depth=1)
if not args.quick:
    print("\nBERT-base (random weights, same shapes as bert-base-uncased):")
    parameter_count(BertModel(BertConfig.base(), rngs=nnx.Rngs(0)), depth=1)

# %% [markdown]
# ## Step 4: one attention head at work
# The first block's attention, head 0, on the sentence pair: each row is a query token and how
# much it looks at each key token.

# %%
step("Step 4: attention weights")
x = emb(ids, segments)
attention = model.encoder.layers[0].layers[0].body.layers[0]
_, weights = attention(x, mask=padding_mask(jnp.ones_like(ids)), return_weights=True)
for head in range(2):
    save_heatmap(weights[0, head], out / f"attention_layer0_head{head}.png", f"layer 0, head {head}",
                 xlabels=encoding.tokens, ylabels=encoding.tokens)
print("query '[SEP]' (position 5) attends most to:",
      encoding.tokens[int(weights[0, 0, 5].argmax())], "- weights saved as PNG")
outputs = model(ids, segments)
print("last_hidden_state", outputs.last_hidden_state.shape, " pooler_output", outputs.pooler_output.shape)

# %% [markdown]
# ## Step 5: feature-based transfer: the frozen encoder as a sentence encoder
# Mean-pool the token vectors of each sentence (real tokens only) and normalise: similar
# meanings land close together, with no training at all.

# %%
step("Step 5: sentence embeddings")
sentences = ["A man is playing a guitar.", "Someone plays an acoustic guitar.",
             "The stock market fell sharply today.", "Shares dropped steeply this morning.",
             "A chef is cooking pasta in the kitchen."]
vectors = sentence_embeddings(model, tokenizer, sentences)
similarity = vectors @ vectors.T
for i, sentence in enumerate(sentences):
    print(f"{sentence:<42}" + " ".join(f"{similarity[i, j]:5.2f}" for j in range(len(sentences))))
save_heatmap(np.clip(similarity, 0, 1), out / "sentence_similarity.png", "cosine similarity",
             xlabels=[s[:18] for s in sentences], ylabels=[s[:18] for s in sentences])
# the margin by which each paraphrase beats the best unrelated sentence of its row (> 0: it ranks first)
guitar_margin = similarity[0, 1] - max(similarity[0, j] for j in (2, 3, 4))
market_margin = similarity[2, 3] - max(similarity[2, j] for j in (0, 1, 4))

# %% [markdown]
# ## What you should see
# A real checkpoint and no randomness: the quick and full runs show the same figures (measured
# with seed 0, benchmarks/RESULTS.md "Expected figures of the lessons").

# %%
expect("LayerNorm(word + segment + position) against BertEmbeddings, max difference", difference,
       full=Expect(0.0, at_most=1e-5), quick=Expect(0.0, at_most=1e-5), fmt=lambda x: f"{x:.1e}")
expect("cosine similarity of the two guitar sentences", similarity[0, 1],
       full=Expect(0.802, at_least=0.79, at_most=0.81), quick=Expect(0.802, at_least=0.79, at_most=0.81))
expect("... minus their row's best unrelated sentence", guitar_margin,
       full=Expect(0.652, at_least=0.5), quick=Expect(0.652, at_least=0.5))
expect("cosine similarity of the two stock-market sentences", similarity[2, 3],
       full=Expect(0.621, at_least=0.61, at_most=0.63), quick=Expect(0.621, at_least=0.61, at_most=0.63))
expect("... minus their row's best unrelated sentence", market_margin,
       full=Expect(0.629, at_least=0.5), quick=Expect(0.629, at_least=0.5))
summary("BERT's input is the sum of word, segment and position embeddings; a stack of post-LN encoder blocks "
        "turns it into contextual vectors whose mean already places paraphrases together",
        ["BertEmbeddings", "tokenize_word"])
