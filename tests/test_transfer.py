"""Transfer-learning strategies: frozen parameters do not move; adapters start as the identity."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import rows_for_16_kb
from flax import nnx

from minitrans.models.bert import BertConfig, BertForQuestionAnswering
from minitrans.training.step import TrainState
from minitrans.training.transfer import (
    add_adapters,
    count_trainable,
    describe_trainable,
    freeze,
    gradual_unfreezing_mask,
    strategy_mask,
    trainable_mask,
    unfrozen_blocks,
)

CONFIG = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=16)
IDS = jnp.asarray(rows_for_16_kb([[2, 7, 9, 3, 11, 12, 3, 0], [2, 5, 3, 8, 9, 10, 3, 0]], 16))  # 32 rows


def qa_loss(model, batch):
    out = model(batch["ids"])
    loss = -(jax.nn.log_softmax(out.start_logits)[:, 1].mean() + jax.nn.log_softmax(out.end_logits)[:, 2].mean())
    return loss, {"loss": loss}


def train_a_few_steps(model, mask, steps=3):
    optimizer = freeze(optax.adam(1e-2), mask)
    model.train()
    state = TrainState.create(model, optimizer, qa_loss)
    before = jax.tree.map(np.asarray, state.params)
    for _ in range(steps):
        state.train_step({"ids": IDS})
    return before, jax.tree.map(np.asarray, state.params)


@pytest.mark.parametrize("strategy", ["all", "feature_based", "adapters"])
@pytest.mark.slow
def test_frozen_parameters_do_not_move_and_trained_ones_do(strategy):
    model = BertForQuestionAnswering(CONFIG, rngs=nnx.Rngs(0))
    if strategy == "adapters":
        assert add_adapters(model.bert.encoder, 16, 4, rngs=nnx.Rngs(1)) == 3
    mask = strategy_mask(model, strategy)
    before, after = train_a_few_steps(model, mask)
    moved = jax.tree.map(lambda a, b: bool(np.abs(a - b).max() > 0), before, after)
    assert jax.tree.leaves(moved) and jax.tree.leaves(mask)
    for trainable, changed in zip(jax.tree.leaves(mask), jax.tree.leaves(moved)):
        if not trainable:
            assert not changed  # exactly where it was
    assert any(c for t, c in zip(jax.tree.leaves(mask), jax.tree.leaves(moved)) if t)
    trainable, total = count_trainable(nnx.state(model, nnx.Param), mask)
    if strategy == "feature_based":
        assert trainable == 16 * 2 + 2  # qa_outputs only
    print(describe_trainable(nnx.state(model, nnx.Param), mask, strategy))


@pytest.mark.slow
def test_a_new_adapter_leaves_the_output_unchanged():
    model = BertForQuestionAnswering(CONFIG, rngs=nnx.Rngs(0))
    before = model(IDS).start_logits
    add_adapters(model.bert.encoder, 16, 8, rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(model(IDS).start_logits, before)
    assert "Adapter_8" in str(model.bert.encoder.layers[0])


def test_gradual_unfreezing_counts_blocks_from_the_top():
    assert [unfrozen_blocks(s, 100, 3) for s in (0, 99, 100, 250, 1000)] == [0, 0, 1, 2, 3]
    model = BertForQuestionAnswering(CONFIG, rngs=nnx.Rngs(0))
    params = nnx.state(model, nnx.Param)
    mask = gradual_unfreezing_mask(params, "bert/encoder/layers", 3, 1, ["*qa_outputs*"])
    flat = {"/".join(map(str, p)): bool(v[...]) for p, v in nnx.to_flat_state(mask)}
    assert all(v for k, v in flat.items() if k.startswith("bert/encoder/layers/2/") or "qa_outputs" in k)
    assert not any(v for k, v in flat.items() if k.startswith(("bert/encoder/layers/0/", "bert/embeddings")))


def test_trainable_mask_matches_paths_and_errors():
    params = nnx.state(BertForQuestionAnswering(CONFIG, rngs=nnx.Rngs(0)), nnx.Param)
    mask = trainable_mask(params, ["*norm*"])
    flat = {"/".join(map(str, p)): bool(v[...]) for p, v in nnx.to_flat_state(mask)}
    assert flat["bert/embeddings/norm/scale"] and not flat["bert/embeddings/word_embeddings/embedding"]
    with pytest.raises(ValueError, match="needs adapters: call add_adapters"):
        strategy_mask(BertForQuestionAnswering(CONFIG, rngs=nnx.Rngs(0)), "adapters")
    with pytest.raises(ValueError, match="unknown strategy 'some'"):
        strategy_mask(BertForQuestionAnswering(CONFIG, rngs=nnx.Rngs(0)), "some")
