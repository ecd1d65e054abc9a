"""The Trainer: it learns, it resumes exactly, its checkpoints survive a crash, bad input is
named, and two devices give the same losses as one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from minitrans.losses import cross_entropy
from minitrans.models.bert import BertConfig, BertForSequenceClassification
from minitrans.training.trainer import Trainer, TrainingArguments, classification_loss

CONFIG = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=12, hidden_dropout_prob=0.1)


def toy_data(n, seed=0):
    """Label 1 when token 7 appears: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(8, 40, size=10)
        label = int(rng.random() < 0.5)
        if label:
            ids[rng.integers(1, 10)] = 7
        ids[0] = 2
        out.append({"input_ids": ids.astype(np.int32), "attention_mask": np.ones(10, np.int32),
                    "labels": np.int32(label)})
    return out


def model():
    return BertForSequenceClassification(CONFIG, rngs=nnx.Rngs(params=0, dropout=1))


@pytest.mark.slow
def test_trainer_learns_and_evaluates(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), num_epochs=8, batch_size=16, learning_rate=3e-3,
                             warmup_steps=5, eval_every=40, keep_best="accuracy", log_every=5, progress_bar=False)
    trainer = Trainer(model(), toy_data(320), toy_data(64, seed=1), args, loss_fn=classification_loss)
    before = trainer.evaluate()
    result = trainer.train()
    after = trainer.evaluate()
    assert result["steps"] == 8 * 20
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.9 > before["accuracy"]
    assert (tmp_path / "best" / "model" / "model.safetensors").exists()
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 160 and "tokens_per_second" in json.loads(lines[-1])
    # the learning rate logged is the schedule's: linear warm-up over 5 steps, linear decay to 0 at 160
    rates = {json.loads(line)["step"]: json.loads(line)["learning_rate"] for line in lines}
    assert rates[5] == pytest.approx(3e-3 * 4 / 5) and rates[160] == pytest.approx(3e-3 * (1 - 154 / 155), rel=1e-5)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path / "a"), num_epochs=2, batch_size=8, learning_rate=1e-3,
                             warmup_steps=2, log_every=1, progress_bar=False)
    data = toy_data(48)
    straight = Trainer(model(), data, args=args, loss_fn=classification_loss).train()
    first = Trainer(model(), data, args=TrainingArguments(**{**args.__dict__, "output_dir": str(tmp_path / "b")}),
                    loss_fn=classification_loss)
    first.train(stop_after=5)  # an interruption after 5 of 12 steps; the last checkpoint is "latest"
    resumed = Trainer(model(), data, args=TrainingArguments(**{**args.__dict__, "output_dir": str(tmp_path / "b")}),
                      loss_fn=classification_loss).train(resume_from=tmp_path / "b" / "latest")
    losses = lambda h: [r["loss"] for r in h if "loss" in r]
    assert len(losses(straight["history"])) == 12
    np.testing.assert_allclose(losses(resumed["history"]), losses(straight["history"]), rtol=1e-6)


@pytest.mark.slow
def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import safetensors.numpy
    args = TrainingArguments(output_dir=str(tmp_path), num_epochs=1, batch_size=8, log_every=1, progress_bar=False)
    trainer = Trainer(model(), toy_data(16), args=args, loss_fn=classification_loss)
    trainer.train()
    before = (tmp_path / "latest" / "trainer_state.json").read_text()
    calls = {"n": 0}
    real = safetensors.numpy.save_file

    def crash_on_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(safetensors.numpy, "save_file", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_checkpoint(tmp_path / "latest", trainer.state, 99)
    monkeypatch.setattr(safetensors.numpy, "save_file", real)
    assert (tmp_path / "latest" / "trainer_state.json").read_text() == before
    Trainer(model(), toy_data(16), args=args, loss_fn=classification_loss).train(resume_from=tmp_path / "latest")


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="training data set is empty"):
        Trainer(model(), [], loss_fn=classification_loss)
    with pytest.raises(ValueError, match="batch_size=64 is larger than the 10 training examples"):
        Trainer(model(), toy_data(10), args=TrainingArguments(batch_size=64), loss_fn=classification_loss)
    with pytest.raises(ValueError, match="learning_rate must be > 0, got 0"):
        TrainingArguments(learning_rate=0)
    trainer = Trainer(model(), toy_data(16), args=TrainingArguments(batch_size=8, progress_bar=False),
                      loss_fn=classification_loss)
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        trainer.train(resume_from=tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "trainer_state.json").write_text(json.dumps({"model": "GPT", "step": 1, "history": []}))
    with pytest.raises(ValueError, match="is a checkpoint of a GPT, not of a BertForSequenceClassification"):
        trainer.train(resume_from=tmp_path / "other")


SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_trainer import Trainer, TrainingArguments, classification_loss, model, toy_data
import jax
jax.config.update("jax_enable_compilation_cache", False)  # every program is compiled here, and counted
compiled = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **info: compiled.append(info.get("fun_name")) if event.endswith("backend_compile_duration") else None)
args = TrainingArguments(num_epochs=1, batch_size=8, learning_rate=1e-3, log_every=1, progress_bar=False)
result = Trainer(model(), toy_data(32), args=args, loss_fn=classification_loss).train()
print(json.dumps({{"devices": jax.device_count(), "losses": [r["loss"] for r in result["history"]],
                  "step_compilations": compiled.count("jit(step)")}}))
"""


@pytest.mark.slow
def test_two_host_devices_give_the_same_losses_as_one():
    import jax

    assert jax.device_count() == 1  # this process: one device; the other run: two, in a process of its own
    args = TrainingArguments(num_epochs=1, batch_size=8, learning_rate=1e-3, log_every=1, progress_bar=False)
    one = [r["loss"] for r in Trainer(model(), toy_data(32), args=args, loss_fn=classification_loss).train()["history"]]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(Path(__file__).parent))],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    two = json.loads(out.stdout.strip().splitlines()[-1])
    assert two["devices"] == 2
    assert two["step_compilations"] == 1  # the state is placed on both devices before the first step
    np.testing.assert_allclose(two["losses"], one, rtol=1e-4)


def per_token_loss(model, batch):
    """A mean over real tokens (token-level classification): micro-batches hold different numbers."""
    hidden = model.bert(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = model.classifier(hidden)  # (batch, seq, labels)
    weights = batch["attention_mask"].astype(np.float32)
    loss = cross_entropy(logits, batch["token_labels"], weights)
    return loss, {"tokens": weights.sum()}


def ragged_data(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = [2, 9, 4, 10][i % 4]  # rows of 2 to 10 real tokens
        ids = np.zeros(10, np.int32)
        ids[:length] = rng.integers(5, 40, size=length)
        out.append({"input_ids": ids, "attention_mask": (ids != 0).astype(np.int32),
                    "token_labels": (ids % 2).astype(np.int32)})
    return out


@pytest.mark.slow
def test_gradient_accumulation_equals_one_big_batch_with_unequal_token_counts():
    """Two micro-batches of 2 rows = one batch of 4 rows, the loss a mean over real tokens: the
    micro-batches are weighted by their token counts (averaging their means would not match)."""
    config = CONFIG.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    data = ragged_data(8)
    params = {}
    for batch_size, accumulation, steps in ((4, 1, 2), (2, 2, 4)):
        args = TrainingArguments(batch_size=batch_size, gradient_accumulation_steps=accumulation, max_steps=steps,
                                 learning_rate=1e-2, log_every=1, progress_bar=False, max_grad_norm=None)
        trainer = Trainer(BertForSequenceClassification(config, rngs=nnx.Rngs(0)), data, args=args,
                          loss_fn=per_token_loss)
        trainer.train()
        params[accumulation] = nnx.state(trainer.model, nnx.Param)
        first = trainer.epoch_order(0)[:4]  # the same 4 rows in both runs: the first big batch
    counts = [int(data[i]["attention_mask"].sum()) for i in first]
    assert counts[0] + counts[1] != counts[2] + counts[3]  # the micro-batches' token counts differ
    for (path, a), (_, b) in zip(nnx.to_flat_state(params[1]), nnx.to_flat_state(params[2])):
        np.testing.assert_allclose(np.asarray(a[...]), np.asarray(b[...]), atol=2e-6, err_msg=str(path))


@pytest.mark.slow
def test_dropout_draws_a_new_mask_at_every_jitted_step_and_none_in_eval_mode():
    import optax

    from minitrans.training.step import TrainState

    batch = {k: np.stack([e[k] for e in toy_data(8)]) for k in ("input_ids", "attention_mask", "labels")}
    for train_mode in (True, False):
        net = model()
        net.train() if train_mode else net.eval()
        state = TrainState.create(net, optax.sgd(0.0), classification_loss)  # parameters never move
        losses = [float(state.train_step(batch)[0]) for _ in range(3)]
        if train_mode:
            assert len(set(losses)) == 3, losses  # three steps, three different dropout masks
        else:
            assert len(set(losses)) == 1, losses


@pytest.mark.slow
def test_the_learning_rate_logged_is_the_one_the_optimizer_applied():
    args = TrainingArguments(max_steps=12, batch_size=4, learning_rate=2e-3, warmup_steps=4, log_every=1,
                             progress_bar=False, schedule="cosine")
    trainer = Trainer(model(), toy_data(16), args=args, loss_fn=classification_loss)
    history = trainer.train()["history"]
    from minitrans.training.step import warmup_schedule
    schedule = warmup_schedule(2e-3, 12, 4, "cosine")
    for record in history:  # read from the optimizer's state: the rate of the update just made
        assert record["learning_rate"] == pytest.approx(float(schedule(record["step"] - 1)), rel=1e-5, abs=1e-12)
    assert trainer.state.learning_rate == pytest.approx(float(schedule(11)), abs=1e-12)


@pytest.mark.slow
def test_a_run_in_bfloat16_products_follows_the_float32_run_and_says_so(tmp_path):
    """Inside jax.default_matmul_precision("bfloat16") the same run takes other numbers (the
    products' operands are rounded) that stay close to float32's, and its checkpoint and card
    record the precision; the float32 run's record says float32."""
    import jax

    def run(name):
        args = TrainingArguments(output_dir=str(tmp_path / name), max_steps=12, batch_size=8, learning_rate=3e-3,
                                 warmup_steps=2, log_every=1, save_every=12, progress_bar=False)
        return Trainer(model(), toy_data(48), args=args, loss_fn=classification_loss).train()["history"]

    full = [r["loss"] for r in run("float32")]
    with jax.default_matmul_precision("bfloat16"):
        mixed = [r["loss"] for r in run("bfloat16")]
    assert mixed != full
    np.testing.assert_allclose(mixed, full, rtol=2e-2)
    for name in ("float32", "bfloat16"):
        state = json.loads((tmp_path / name / "latest" / "trainer_state.json").read_text())
        assert state["matmul_precision"] == name
        card = (tmp_path / name / "latest" / "model" / "README.md").read_text()
        assert ("bfloat16 operands" in card) == (name == "bfloat16")
