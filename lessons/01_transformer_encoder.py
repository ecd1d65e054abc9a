# %% [markdown]
# # Lesson 01: the transformer encoder, block by block
#
# The course builds its question-answering encoder from three pieces, and so do we:
#
#     FeedForwardBlock = [LayerNorm, Dense(d_ff), activation, Dropout, Dense(d_model), Dropout]
#     EncoderBlock     = [Residual(LayerNorm, attention, Dropout), Residual(FeedForwardBlock)]
#     TransformerEncoder = embedding + positions + N encoder blocks + LayerNorm + output head
#
# This lesson builds each one from `minitrans`, prints it the way the course's slides do, looks
# at attention and at the three attention patterns of the T5 paper, and finally trains a small
# encoder on a task that needs both attention and positions.
#
# Run it as `python lessons/01_transformer_encoder.py [--quick]` or `minitrans lesson 01`,
# or cell by cell in Jupyter / VS Code. Figures go to outputs/01_transformer_encoder/.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from minitrans.masks import causal_mask, combine_masks, padding_mask, prefix_lm_mask, show_masks_side_by_side
from minitrans.models.encoder import EncoderBlock, FeedForwardBlock, TransformerEncoder
from minitrans.nn import MultiHeadAttention, scaled_dot_product_attention
from minitrans.summary import count_parameters
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, save_heatmap, step, summary

args = lesson_args("Lesson 01: the transformer encoder")
out = output_dir(args, "01_transformer_encoder")
rngs = nnx.Rngs(params=args.seed, dropout=args.seed + 1)

# %% [markdown]
# ## Step 1: the feed-forward block
# A position-wise network: each position's vector is widened to d_ff, passed through a ReLU and
# narrowed back to d_model. It never mixes positions; that is attention's job. The LayerNorm
# comes first (pre-LN), as in the course.

# %%
step("Step 1: the feed-forward block")
feed_forward = FeedForwardBlock(d_model=8, d_ff=32, dropout_rate=0.1, rngs=rngs)
print(feed_forward)
x = jax.random.normal(jax.random.key(0), (2, 4, 8))  # (batch, seq, d_model)
print("input", x.shape, "-> output", feed_forward(x).shape)
print("parameters:", count_parameters(feed_forward), "= LayerNorm 2*8 + Dense 8*32+32 + Dense 32*8+8")

# %% [markdown]
# ## Step 2: scaled dot-product attention
# Each query scores every key with a dot product, divided by sqrt(d_head) so the softmax does
# not saturate; the softmax of the scores weighs the values. Here three "words" whose query
# vectors point at different keys.

# %%
step("Step 2: scaled dot-product attention")
keys = jnp.eye(4)[None, None]  # (batch=1, heads=1, key=4, d=4): key i is the unit vector e_i
queries = 3.0 * jnp.array([[[[1, 0, 0, 0], [0, 0, 1, 0], [0.5, 0.5, 0, 0]]]])  # (1, 1, 3, 4)
values = jnp.arange(16.0).reshape(1, 1, 4, 4)
output, weights = scaled_dot_product_attention(queries, keys, values)
np.set_printoptions(precision=3, suppress=True)
print("weights (query x key):\n", np.asarray(weights[0, 0]))
print("each row sums to", np.asarray(weights[0, 0].sum(-1)))
print("query 0 mostly copies value 0:", np.asarray(output[0, 0, 0]), "vs", np.asarray(values[0, 0, 0]))
save_heatmap(weights[0, 0], out / "attention_weights.png", "scaled dot-product attention")

# %% [markdown]
# ## Step 3: the three attention patterns
# The T5 paper (figure 3) distinguishes three ways a position may look at the others. They are
# all masks: booleans, True = may attend, shape (batch, 1, query, key).
# - fully visible: an encoder (BERT, the T5 encoder);
# - causal: a language model (GPT), position i sees only positions <= i;
# - causal with prefix: a prefix LM, fully visible over the input, causal over the output.

# %%
step("Step 3: the three attention patterns")
length = 6
fully_visible = padding_mask(jnp.ones((1, length)))
print(show_masks_side_by_side({
    "fully visible": combine_masks(fully_visible, jnp.ones((1, 1, length, length), bool)),
    "causal": causal_mask(length),
    "causal with prefix 3": prefix_lm_mask(jnp.array([3]), length),
}))
print("\nPadding: a batch of two where the second example has 2 pad tokens at the end.")
pads = padding_mask(jnp.array([[1, 1, 1, 1], [1, 1, 0, 0]]))  # (2, 1, 1, 4): broadcasts over queries
print(show_masks_side_by_side({"example 0": pads[0] & jnp.ones((1, 4, 4), bool),
                               "example 1": pads[1] & jnp.ones((1, 4, 4), bool),
                               "ex. 1, causal + pad": combine_masks(pads, causal_mask(4))[1]}))
for name, mask in [("fully_visible", fully_visible & jnp.ones((1, 1, length, length), bool)),
                   ("causal", causal_mask(length)),
                   ("prefix_lm", prefix_lm_mask(jnp.array([3]), length))]:
    save_heatmap(mask[0, 0], out / f"mask_{name}.png", name.replace("_", " "))

# %% [markdown]
# Attention under a causal mask: the masked (future) positions get exactly zero weight.

# %%
attention = MultiHeadAttention(d_model=8, num_heads=2, rngs=rngs)
_, w = attention(jax.random.normal(jax.random.key(1), (1, 5, 8)), mask=causal_mask(5), return_weights=True)
print("head 0 weights under a causal mask:\n", np.asarray(w[0, 0]))

# %% [markdown]
# ## Step 4: the encoder block, pre-LN and post-LN
# The course's block puts the LayerNorm first inside each residual branch (pre-LN). The
# original transformer and BERT normalise after the addition (post-LN). Same code, one option.

# %%
step("Step 4: the encoder block")
print("pre-LN (the course):")
print(EncoderBlock(d_model=8, d_ff=32, num_heads=2, rngs=rngs))
print("post-LN (BERT):")
print(EncoderBlock(d_model=8, d_ff=32, num_heads=2, norm_position="post", activation="gelu", rngs=rngs))

# %% [markdown]
# ## Step 5: the whole encoder, trained
# A task that needs attention and positions: each sequence holds the two marker tokens A (id 1)
# and B (id 2) once, among random filler tokens; the label says whether A comes before B.
# Mean pooling alone cannot tell the order: the encoder has to.

# %%
step("Step 5: train a TransformerEncoder")
vocab, seq_len = 20, 8 if args.quick else 12
steps, batch = (60, 32) if args.quick else (400, 64)


def make_batch(key, size):
    """Random filler (ids 3..vocab-1), A=1 and B=2 at two random positions; label = A before B."""
    k1, k2 = jax.random.split(key)
    ids = jax.random.randint(k1, (size, seq_len), 3, vocab)
    positions = jax.vmap(lambda k: jax.random.permutation(k, seq_len)[:2])(jax.random.split(k2, size))
    rows = jnp.arange(size)
    ids = ids.at[rows, positions[:, 0]].set(1).at[rows, positions[:, 1]].set(2)
    return ids, (positions[:, 0] < positions[:, 1]).astype(jnp.int32)


model = TransformerEncoder(vocab, n_classes=2, d_model=32, d_ff=64, n_layers=2, n_heads=4,
                           dropout_rate=0.1, max_len=seq_len, rngs=rngs)
print(f"TransformerEncoder with {count_parameters(model):,} parameters")
model.train()
graphdef, params, rest = nnx.split(model, nnx.Param, ...)
optimizer = optax.adam(3e-3)
opt_state = optimizer.init(params)


@jax.jit
def train_step(params, rest, opt_state, ids, labels):
    """One pure, jitted step: forward, cross entropy on the log-probabilities, Adam update."""
    model = nnx.merge(graphdef, params, rest)

    def loss_fn(model):
        log_probs = model(ids)  # (batch, 2)
        return -jnp.take_along_axis(log_probs, labels[:, None], axis=1).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    _, params, rest = nnx.split(model, nnx.Param, ...)  # rest: dropout's advanced RNG counters
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), rest, opt_state, loss


losses = []
for i in range(steps):
    ids, labels = make_batch(jax.random.key(1000 + i), batch)
    params, rest, opt_state, loss = train_step(params, rest, opt_state, ids, labels)
    losses.append(float(loss))
    if i % max(1, steps // 5) == 0 or i == steps - 1:
        print(f"step {i:4d}  loss {losses[-1]:.3f}")

model = nnx.merge(graphdef, params, rest)
model.eval()
test_ids, test_labels = make_batch(jax.random.key(7), 512)
accuracy = float((model(test_ids).argmax(-1) == test_labels).mean())
print(f"held-out accuracy on 512 new sequences: {accuracy:.1%} (chance: 50%)")
save_curves({"training loss": losses}, out / "training_loss.png", "TransformerEncoder on 'A before B?'")
print(f"\nFigures written to {out}/")

# %% [markdown]
# ## What you should see
# The figures below were measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the
# lessons"); the ranges are what a correct implementation lands in.

# %%
expect(f"held-out accuracy after {steps} steps (chance 50%)", accuracy, fmt=percent,
       full=Expect(1.0, at_least=0.95), quick=Expect(0.938, at_least=0.75))
summary("attention mixes the tokens of a sequence, the masks decide which ones each token may read, and "
        "an encoder of feed-forward and attention blocks learns a task that needs the order of its tokens",
        ["scaled_dot_product_attention", "causal_mask", "prefix_lm_mask", "FeedForwardBlock", "EncoderBlock",
         "TransformerEncoder"])
