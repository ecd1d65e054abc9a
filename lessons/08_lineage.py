# %% [markdown]
# # Lesson 08: the road to BERT and T5, with numbers
#
# The course's summary slide, measured: CBOW (window, FFNN), ELMo (full sentence, RNN,
# bidirectional LMs), GPT (decoder, left to right), BERT (encoder, masked LM). All four are
# trained here on the same corpus, the same word vocabulary and the same budget of steps, and
# measured on the same held-out sentences. Each gets the figure that fits its task:
# perplexity for the models that predict a word from its context, masked-word accuracy for
# BERT and span-corruption accuracy for T5 (encoder-decoder).

# %%
import numpy as np
from flax import nnx

from minitrans.datasets import bundled, shared
from minitrans.datasets.streaming import pad_rows
from minitrans.experiments import lineage
from minitrans.models.bert import BertConfig, BertForMaskedLM
from minitrans.models.gpt import GPT, GPT2Config, lm_loss
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
from minitrans.summary import count_parameters
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers.words import WordVocabulary

args = lesson_args("Lesson 08: the lineage, measured")
out = output_dir(args, "08_lineage")
corpus = shared("wikitext-2/wiki.valid.tokens.gz") or bundled("facts_corpus.txt")

# %%
step("Step 1: one corpus, one vocabulary, one held-out set")
sentences = lineage.load_sentences(corpus, max_chars=80_000 if args.quick else 1_200_000)
train, held_out = lineage.split_held_out(sentences, seed=args.seed)
vocab = WordVocabulary.build(train, min_count=2, max_size=10_000)
length = 32
encoded, held = lineage.encode(train, vocab, length), lineage.encode(held_out, vocab, length)
rows, blocks = pad_rows(encoded, length), lineage.lm_blocks(encoded, length)
contexts, centres = lineage.cbow_examples(encoded, 2)
steps = 15 if args.quick else 1500
layers = 1 if args.quick else 2  # GPT's and BERT's; T5 has one encoder and one decoder layer
print(f"{corpus.name}: {len(train):,} training / {len(held_out):,} held-out sentences, "
      f"vocabulary {len(vocab):,}, {steps} steps each")

# %%
step("Step 2: train the five models")
rng = np.random.default_rng(args.seed)
dim = 128
results, figures = [], {}  # figures: each model's held-out figure, as a number

print("CBOW")
cbow, _ = lineage.train_cbow(contexts, centres, len(vocab), steps, rng, dim=dim, batch_size=256)
figures["CBOW"] = lineage.cbow_perplexity(cbow, held, 2)
results.append(("CBOW", "window +-2", "FFNN", "-", "centre word from window", count_parameters(cbow),
                f"perplexity {figures['CBOW']:,.1f} (centre | window)"))
print("ELMo")
elmo, _ = lineage.train_elmo(rows, len(vocab), steps, rng, dim=dim)
figures["ELMo"] = lineage.elmo_perplexity(elmo, held, length)
results.append(("ELMo", "full sentence", "RNN (LSTM)", "bi (two LMs)", "next / previous word", count_parameters(elmo),
                f"perplexity {figures['ELMo']:,.1f} (next | left)"))
print("GPT")
gpt, _ = lineage.fit(GPT(GPT2Config(vocab_size=len(vocab), n_positions=length, n_embd=dim, n_layer=layers, n_head=4),
                         rngs=nnx.Rngs(0)), lm_loss,
                     lambda i: {"input_ids": blocks[rng.integers(len(blocks), size=32)]}, steps, 3e-3)
figures["GPT"] = lineage.gpt_perplexity(gpt, held, length)
results.append(("GPT", "full sentence", "decoder", "uni (left)", "next word", count_parameters(gpt),
                 f"perplexity {figures['GPT']:,.1f} (next | left)"))
print("BERT")
bert, _ = lineage.fit(BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=dim, num_hidden_layers=layers,
                                                 num_attention_heads=4, intermediate_size=4 * dim,
                                                 max_position_embeddings=length), rngs=nnx.Rngs(0)),
                      lineage.bert_mlm_loss, lambda i: lineage.masked_batch(rows[rng.integers(len(rows), size=32)], vocab, rng),
                      steps, 3e-3)
figures["BERT"] = lineage.bert_masked_accuracy(bert, held, vocab, length)
results.append(("BERT", "full sentence", "encoder", "bi", "masked words", count_parameters(bert),
                f"masked-word accuracy {figures['BERT']:.1%}"))
print("T5")
t5_vocab = len(vocab) + lineage.SENTINELS  # sentinels take the last ids
t5, _ = lineage.fit(T5ForConditionalGeneration(T5Config(vocab_size=t5_vocab, d_model=dim, d_kv=dim // 4, d_ff=4 * dim,
                                                        num_layers=1, num_heads=4), rngs=nnx.Rngs(0)),
                    lineage.t5_loss,
                    lambda i: lineage.t5_batch([encoded[j] for j in rng.integers(len(encoded), size=32)], t5_vocab, rng,
                                               length, length), steps, 3e-3)
figures["T5"] = lineage.t5_span_accuracy(t5, held, t5_vocab, length)
results.append(("T5", "full sentence", "encoder-decoder", "bi + uni", "span corruption", count_parameters(t5),
                f"span-target accuracy {figures['T5']:.1%} (sentinels too)"))

# %%
step("Step 3: the table")
header = ("model", "context", "architecture", "direction", "pre-training task", "parameters", "held-out figure")
table = [header] + [tuple(f"{v:,}" if isinstance(v, int) else v for v in row) for row in results]
widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in table]
lines.insert(1, "  ".join("-" * w for w in widths))
print("\n".join(lines))
(out / "lineage_table.md").write_text("\n".join(lines) + "\n")
save = out / "lineage_parameters.png"

save_curves({"parameters (millions)": [r[5] / 1e6 for r in results]}, save, "model sizes", xlabel="CBOW, ELMo, GPT, BERT, T5",
            ylabel="millions")

# %% [markdown]
# ## What you should see
# The full run's figures are the table in benchmarks/RESULTS.md ("The lineage, measured"),
# seed 0; the quick run's are from a few steps on a small slice ("Expected figures of the
# lessons").

# %%
expect("CBOW: held-out perplexity (centre | window)", figures["CBOW"],
       full=Expect(211.4, at_most=260), quick=Expect(985.7, at_most=1300))
expect("ELMo: held-out perplexity (next | left)", figures["ELMo"],
       full=Expect(132.7, at_most=160), quick=Expect(287.8, at_most=380))
expect("GPT: held-out perplexity (next | left)", figures["GPT"],
       full=Expect(148.3, at_most=180), quick=Expect(148.2, at_most=200))
expect("BERT: held-out masked-word accuracy", figures["BERT"], fmt=percent,
       full=Expect(0.098, at_least=0.07), quick=Expect(0.133, at_least=0.08))
expect("T5: held-out span-target accuracy (sentinels too)", figures["T5"], fmt=percent,
       full=Expect(0.587, at_least=0.5), quick=Expect(0.536, at_least=0.4))
summary("the five models differ in what they read (a window, the left context, everything) and what they "
        "predict; measured on one corpus with one vocabulary, each figure answers its own question",
        ["context_windows", "LSTMCell", "decoder_mask", "mask_tokens", "tokenize_and_mask"])
