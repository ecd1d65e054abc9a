"""Fine-tuning BERT for a GLUE-style classification task with the Trainer, under a transfer
strategy (all parameters, feature-based, adapters): what lesson 12 and the transfer-learning
benchmark run.

    features = encode_classification(load_glue("SST-2", "train")[:2000], tokenizer, max_length=64)
    result = fine_tune_classifier(model, features, dev_features, steps=300, strategy="all")
    result["curve"]   # [(step, dev accuracy), ...]
"""

import numpy as np

from minitrans.datasets.streaming import pad_batch
from minitrans.training.trainer import Trainer, TrainingArguments, classification_loss
from minitrans.training.transfer import describe_trainable, strategy_mask


def encode_classification(examples, tokenizer, max_length: int = 128) -> list[dict]:
    """GlueExample-like items (text, pair, label) as unpadded features: class ids as int32,
    real-valued labels (STS-B's scores) as float32."""
    if not examples:
        raise ValueError("no examples to encode")
    features = []
    for ex in examples:
        enc = tokenizer.encode(ex.text, ex.pair, max_length=max_length, truncation="longest_first")
        features.append({"input_ids": np.array(enc.ids, np.int32), "token_type_ids": np.array(enc.type_ids, np.int32),
                         "labels": np.float32(ex.label) if isinstance(ex.label, float) else np.int32(ex.label)})
    return features


def collate(features: list[dict]) -> dict:
    return pad_batch(features, multiple=16, keys=("labels",))


def fine_tune_classifier(model, train_features: list[dict], eval_features: list[dict], *, steps: int = 300,
                         batch_size: int = 32, learning_rate: float = 5e-5, warmup_steps: int = 30,
                         strategy: str = "all", eval_every: int = 25, seed: int = 0, output_dir: str | None = None,
                         progress_bar: bool = True) -> dict:
    """Train `model` (a BertForSequenceClassification) and return the evaluation curve."""
    from flax import nnx

    mask = strategy_mask(model, strategy)
    print(describe_trainable(nnx.state(model, nnx.Param), mask, f"strategy {strategy!r}"))
    args = TrainingArguments(output_dir=output_dir, max_steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                             warmup_steps=warmup_steps, eval_every=eval_every, seed=seed, group_by_length=True,
                             progress_bar=progress_bar, log_every=eval_every)
    trainer = Trainer(model, train_features, eval_features, args=args, loss_fn=classification_loss, collate=collate,
                      trainable_mask=mask)
    before = trainer.evaluate()
    trainer.train()
    curve = [(0, before["accuracy"])] + [(r["step"], r["eval_accuracy"]) for r in trainer.history if "eval_accuracy" in r]
    return {"curve": curve, "history": trainer.history, "model": trainer.model}
