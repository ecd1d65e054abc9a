# %% [markdown]
# # Lesson 09: T5, the architecture and its attention types
#
# T5 casts every task as text to text with one encoder-decoder. This lesson builds it from
# minitrans and looks at what is new: the three architectures of the T5 paper (chosen by the
# attention mask), relative position buckets instead of position embeddings, teacher forcing
# with `shift_right`, and span corruption on the real T5 vocabulary.

# %%
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets import shared
from minitrans.datasets.span_corruption import tokenize_and_mask
from minitrans.exercises.t5 import compiled
from minitrans.masks import causal_mask, padding_mask, prefix_lm_mask, show_masks_side_by_side
from minitrans.models.t5 import (
    T5Config,
    T5DecoderOnly,
    T5ForConditionalGeneration,
    greedy_generate,
    relative_position_bucket,
    shift_right,
)
from minitrans.summary import count_parameters
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_heatmap, step, summary

args = lesson_args("Lesson 09: T5")
out = output_dir(args, "09_t5_architecture")

# %% [markdown]
# ## Step 1: three architectures, three masks (T5 paper, figures 3 and 4)
# Encoder-decoder: the encoder's mask is fully visible, the decoder's causal. Language model:
# one causal stack. Prefix LM: one stack, fully visible over the input prefix, causal after.

# %%
step("Step 1: the attention patterns")
length = 7
print(show_masks_side_by_side({
    "fully visible (encoder)": padding_mask(jnp.ones((1, length))) & jnp.ones((1, 1, length, length), bool),
    "causal (decoder, LM)": causal_mask(length),
    "causal with prefix 4 (prefix LM)": prefix_lm_mask(jnp.array([4]), length),
}))
config = T5Config.tiny(vocab_size=100)
sizes = {}
for name, model in [("encoder-decoder", T5ForConditionalGeneration(config, rngs=nnx.Rngs(0))),
                    ("language model", T5DecoderOnly(config, rngs=nnx.Rngs(0))),
                    ("prefix LM", T5DecoderOnly(config, prefix_lm=True, rngs=nnx.Rngs(0)))]:
    sizes[name] = count_parameters(model)
    print(f"  {name:<16} {sizes[name]:>9,} parameters (the same blocks)")

# %% [markdown]
# ## Step 2: relative position buckets
# No position embeddings: each head learns one bias per bucket of key - query distance. Small
# distances get their own bucket, larger ones share log-spaced buckets; the encoder tells
# before from after, the decoder only looks back.

# %%
step("Step 2: buckets")
distances = jnp.array([-128, -64, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16, 64, 128])
print("key - query:       ", " ".join(f"{int(d):>4}" for d in distances))
print("encoder (both ways):", " ".join(f"{int(b):>4}" for b in relative_position_bucket(distances, True)))
print("decoder (backwards):", " ".join(f"{int(b):>4}" for b in relative_position_bucket(distances, False)))
grid = relative_position_bucket(jnp.arange(24)[None, :] - jnp.arange(24)[:, None], True, 32, 128)
save_heatmap(np.asarray(grid) / 31.0, out / "encoder_buckets.png", "encoder bucket of (query, key)")

# %% [markdown]
# ## Step 3: teacher forcing
# The decoder reads the target shifted right by one, so position i sees target words < i and
# is trained to produce word i, all positions at once.

# %%
step("Step 3: shift_right")
labels = jnp.array([[37, 53, 21, 1]])
print("labels        ", np.asarray(labels)[0].tolist())
print("decoder input ", np.asarray(shift_right(labels))[0].tolist(), "(0 = the start token)")
model = T5ForConditionalGeneration(config, rngs=nnx.Rngs(0))
logits = model(jnp.array([[5, 6, 7, 8, 1]]), labels=labels).logits
print("logits", logits.shape, "one row of scores per target position")
# compiled(model): the same weights with encode and decode compiled once, not run operation by
# operation at every new length (the exercise's checks run greedy_generate on it too)
print("greedy decoding of an untrained model:", greedy_generate(compiled(model), jnp.array([[5, 6, 7, 8, 1]]), 5)[0].tolist())

# %% [markdown]
# ## Step 4: span corruption on T5's own vocabulary
# The course's `tokenize_and_mask`: about 15% of the tokens masked, runs of masked tokens
# share one sentinel, sentinels counted down from the end of the vocabulary.

# %%
step("Step 4: span corruption")
spiece = shared("t5/spiece.model")
if spiece is None:
    print("(../shared/data/t5/spiece.model not found: skipping the real-vocabulary example)")
else:
    from minitrans.tokenizers.sentencepiece import T5Tokenizer

    tok = T5Tokenizer.from_file(spiece)
    ids = tok.encode("Thank you for inviting me to your party last week.", add_eos=False)
    print("pieces:", tok.tokenize("Thank you for inviting me to your party last week."))
    draws = iter([0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9])
    inputs, targets = tokenize_and_mask(ids, vocab_size=tok.vocab_size, eos_id=tok.eos_id, randomizer=lambda: next(draws))
    print("inputs: ", tok.decode(inputs))
    print("targets:", tok.decode(targets))

# %% [markdown]
# ## What you should see
# No training here: the same figures in the quick and the full run (seed 0).

# %%
for name, exact in [("encoder-decoder", Expect.exactly(171_264)), ("language model", Expect.exactly(72_384)),
                    ("prefix LM", Expect.exactly(72_384))]:
    expect(f"{name}: parameters of the tiny configuration", sizes[name], full=exact, quick=exact,
           fmt=lambda x: f"{x:,.0f}")
summary("T5 keeps the transformer's blocks and changes what surrounds them: relative position buckets "
        "instead of position embeddings, the three attention patterns, and one format for every task",
        ["relative_position_bucket", "shift_right", "greedy_generate", "decoder_only_mask", "tokenize_and_mask"])
