"""Pipelines: a checkpoint folder in, answers out, in three visible stages (the course's
Hugging Face week).

    from minitrans import pipeline
    fill = pipeline("fill-mask", model=FOLDER)
    fill("Paris is the [MASK] of France.")     # [{"score", "token", "token_str", "sequence"}, ...]

    model_inputs = fill.preprocess("Paris is the [MASK] of France.")   # text -> ids (numpy)
    outputs = fill.forward(fill.collate([model_inputs]))               # ids -> scores (a batch)
    fill.postprocess(fill.row(outputs, 0))                              # scores -> answers

Tasks: "feature-extraction", "text-classification" (alias "sentiment-analysis"), "fill-mask",
"question-answering", "text2text-generation", and "summarization" / "translation" (T5's
prefixes). The results have the field names Hugging Face's pipelines use, so code written for
one reads the other. A single input gives one result, a list gives a list; inputs run through
the model `batch_size` at a time.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from minitrans.checkpoints import read_config
from minitrans.datasets.streaming import pad_rows
from minitrans.generation import generate
from minitrans.kernels import compiled_call
from minitrans.qa.extractive import (
    FeatureReport,
    SquadExample,
    best_answer,
    predict_logits,
    prepare_validation_features,
)

# pipeline task -> the model task it loads (see minitrans.models.task_class)
MODEL_TASKS = {"feature-extraction": "base", "text-classification": "text-classification",
               "sentiment-analysis": "text-classification", "fill-mask": "masked-lm",
               "question-answering": "question-answering", "text2text-generation": "text2text-generation",
               "summarization": "text2text-generation", "translation": "text2text-generation"}


def softmax_ranking(logits: np.ndarray, top_k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(classes,) scores -> (the `top_k` likeliest classes, best first, ties in index order; the
    probabilities of all classes), computed in float64."""
    probabilities = np.exp(logits.astype(np.float64) - logits.max())
    probabilities /= probabilities.sum()
    return np.argsort(-probabilities, kind="stable")[:top_k], probabilities


class Pipeline:
    """preprocess (one input -> numpy arrays), collate (rows -> a padded batch), forward (a batch
    -> the model's outputs, numpy), row (one input's share of them), postprocess (-> the answer)."""

    task = ""

    def __init__(self, model, tokenizer, batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        model.eval()

    def preprocess(self, text: str) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{self.task} needs non-empty text, got {text!r}")
        encoding = self.tokenizer.encode(text)
        return {"input_ids": np.asarray(encoding.ids, np.int32), "token_type_ids": np.asarray(encoding.type_ids, np.int32)}

    def collate(self, rows: list[dict]) -> dict:
        batch = {name: pad_rows([r[name] for r in rows]) for name in ("input_ids", "token_type_ids")}
        lengths = np.array([len(r["input_ids"]) for r in rows])
        batch["attention_mask"] = (np.arange(batch["input_ids"].shape[1])[None] < lengths[:, None]).astype(np.int32)
        return batch

    def encoder_states(self, batch: dict) -> jax.Array:
        encoder = getattr(self.model, "bert", None) or getattr(self.model, "distilbert", None) or self.model
        return compiled_call(encoder, jnp.asarray(batch["input_ids"]),
                             attention_mask=jnp.asarray(batch["attention_mask"])).last_hidden_state

    def row(self, outputs: dict, i: int) -> dict:
        return {name: value[i] for name, value in outputs.items()}

    def __call__(self, inputs, **options):
        single = not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        if not items:
            raise ValueError(f"{self.task}: no inputs")
        prepared = [self.preprocess(item) for item in items]
        results = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            outputs = self.forward(self.collate(chunk))
            results += [self.postprocess(self.row(outputs, i) | {"inputs": chunk[i]}, **options)
                        for i in range(len(chunk))]
        return results[0] if single else results


class FeatureExtractionPipeline(Pipeline):
    """Every token's vector from the encoder's last layer: [[vector per token]] per input."""

    task = "feature-extraction"

    def forward(self, batch: dict) -> dict:
        return {"hidden": np.asarray(self.encoder_states(batch)), "length": batch["attention_mask"].sum(1)}

    def postprocess(self, outputs: dict) -> list:
        return [outputs["hidden"][:outputs["length"]].tolist()]  # (1, tokens, hidden), as Hugging Face nests it


class TextClassificationPipeline(Pipeline):
    """The label's name and probability: [{"label", "score"}], the best `top_k` (None: all)."""

    task = "text-classification"

    def __init__(self, model, tokenizer, labels: dict[int, str] | None = None, **options):
        super().__init__(model, tokenizer, **options)
        count = model.config.num_labels
        self.labels = labels or {i: f"LABEL_{i}" for i in range(count)}
        if sorted(self.labels) != list(range(count)):
            raise ValueError(f"the label names {self.labels} do not fit the model's {count} labels")

    def forward(self, batch: dict) -> dict:
        args = (jnp.asarray(batch["input_ids"]), jnp.asarray(batch["token_type_ids"]), jnp.asarray(batch["attention_mask"]))
        return {"logits": np.asarray(compiled_call(self.model, *args).logits)}

    def postprocess(self, outputs: dict, top_k: int | None = 1) -> list[dict]:
        logits = outputs["logits"].astype(np.float64)  # (labels,)
        if len(logits) == 1:  # one output: a sigmoid, as Hugging Face's pipeline applies
            order, scores = np.arange(1)[:top_k], 1 / (1 + np.exp(-logits))
        else:
            order, scores = softmax_ranking(logits, top_k)
        return [{"label": self.labels[int(i)], "score": float(scores[i])} for i in order]


class FillMaskPipeline(Pipeline):
    """The `top_k` likeliest words for the one [MASK]: [{"score", "token", "token_str", "sequence"}]."""

    task = "fill-mask"

    def preprocess(self, text: str) -> dict:
        model_inputs = super().preprocess(text)
        masks = np.flatnonzero(model_inputs["input_ids"] == self.tokenizer.mask_id)
        if len(masks) != 1:
            raise ValueError(f"fill-mask expects exactly one {self.tokenizer.id_to_token[self.tokenizer.mask_id]} in the "
                             f"text, found {len(masks)}: {text!r}")
        return model_inputs | {"mask_position": masks[0]}

    def forward(self, batch: dict) -> dict:
        args = (jnp.asarray(batch["input_ids"]), jnp.asarray(batch["token_type_ids"]), jnp.asarray(batch["attention_mask"]))
        return {"logits": np.asarray(compiled_call(self.model, *args).logits)}

    def postprocess(self, outputs: dict, top_k: int = 5) -> list[dict]:
        ids, position = outputs["inputs"]["input_ids"], outputs["inputs"]["mask_position"]
        best, probabilities = softmax_ranking(outputs["logits"][position], top_k)
        results = []
        for token in best:
            filled = ids.copy()
            filled[position] = token
            results.append({"score": float(probabilities[token]), "token": int(token),
                            "token_str": self.tokenizer.id_to_token[int(token)],
                            "sequence": self.tokenizer.decode(filled)})
        return results


class QuestionAnsweringPipeline(Pipeline):
    """{"question", "context"} -> {"answer", "score", "start", "end"} (character offsets)."""

    task = "question-answering"

    def __init__(self, model, tokenizer, max_length: int = 384, stride: int = 128, **options):
        super().__init__(model, tokenizer, **options)
        self.max_length, self.stride = max_length, stride

    def __call__(self, inputs=None, *, question: str | None = None, context: str | None = None, **options):
        if inputs is None:
            inputs = {"question": question, "context": context}
        return super().__call__(inputs, **options)

    def preprocess(self, pair: dict) -> dict:
        if not isinstance(pair, dict) or not all(isinstance(pair.get(k), str) and pair[k].strip()
                                                 for k in ("question", "context")):
            raise ValueError(f"question-answering takes {{'question': ..., 'context': ...}} with non-empty texts, got {pair!r}")
        example, report = SquadExample("q", pair["question"], pair["context"]), FeatureReport()
        features = prepare_validation_features([example], self.tokenizer, self.max_length, self.stride, report=report)
        if not features:
            raise ValueError(f"this question cannot be answered in windows of {self.max_length} tokens: "
                             f"{report.skipped[0][1]}")
        return {"example": example, "features": features}

    def collate(self, rows: list[dict]) -> dict:
        return {"rows": rows}

    def forward(self, batch: dict) -> dict:
        features = [f for row in batch["rows"] for f in row["features"]]
        starts, ends = predict_logits(self.model, features, batch_size=len(features))
        spans, position = [], 0
        for row in batch["rows"]:
            spans.append((starts[position:position + len(row["features"])], ends[position:position + len(row["features"])]))
            position += len(row["features"])
        return {"logits": spans}

    def postprocess(self, outputs: dict) -> dict:
        starts, ends = outputs["logits"]
        answer = best_answer(outputs["inputs"]["example"], outputs["inputs"]["features"], starts, ends)
        return {key: answer[key] for key in ("answer", "score", "start", "end")}


class Text2TextGenerationPipeline(Pipeline):
    """T5: text in, text out, greedy; summarization and translation add T5's task prefixes."""

    task = "text2text-generation"
    prefixes = {"text2text-generation": "", "summarization": "summarize: ",
                "translation": "translate English to German: "}
    fields = {"text2text-generation": "generated_text", "summarization": "summary_text",
              "translation": "translation_text"}

    def __init__(self, model, tokenizer, task: str = "text2text-generation", max_new_tokens: int = 32, **options):
        super().__init__(model, tokenizer, **options)
        self.task, self.max_new_tokens = task, max_new_tokens

    def preprocess(self, text: str) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{self.task} needs non-empty text, got {text!r}")
        return {"input_ids": np.asarray(self.tokenizer.encode(self.prefixes[self.task] + text), np.int32)}

    def collate(self, rows: list[dict]) -> dict:
        return {"input_ids": pad_rows([r["input_ids"] for r in rows])}

    def forward(self, batch: dict) -> dict:
        return {"ids": generate(self.model, batch["input_ids"], max_new_tokens=self.max_new_tokens)}

    def postprocess(self, outputs: dict) -> dict:
        return {self.fields[self.task]: self.tokenizer.decode(outputs["ids"]).strip()}


def pipeline(task: str, model, tokenizer=None, **options) -> Pipeline:
    """A pipeline for `task` on `model`: a checkpoint folder (config.json, model.safetensors and
    the tokenizer's files) or a model object given with its `tokenizer`."""
    from minitrans.models import task_class
    from minitrans.tokenizers import load_tokenizer
    from minitrans.training.transfer import load_adapters

    if task not in MODEL_TASKS:
        raise ValueError(f"unknown pipeline task {task!r}; minitrans has {', '.join(MODEL_TASKS)}")
    labels = None
    if isinstance(model, (str, Path)):
        folder = Path(model)
        config = read_config(folder)
        model_type = config.get("model_type", "?")
        model = task_class(model_type, MODEL_TASKS[task]).from_pretrained(folder, verbose=False)
        load_adapters(model, folder)  # fine-tuned with adapters: they sit beside the weights
        if "id2label" in config:
            labels = {int(i): name for i, name in config["id2label"].items()}
        if tokenizer is None:
            tokenizer = load_tokenizer(folder, model_type)
    elif tokenizer is None:
        raise ValueError("a model object needs its tokenizer: pipeline(task, model, tokenizer)")
    if task in ("text-classification", "sentiment-analysis"):
        return TextClassificationPipeline(model, tokenizer, labels=labels, **options)
    if MODEL_TASKS[task] == "text2text-generation":
        return Text2TextGenerationPipeline(model, tokenizer, task=task, **options)
    classes = {"feature-extraction": FeatureExtractionPipeline, "fill-mask": FillMaskPipeline,
               "question-answering": QuestionAnsweringPipeline}
    return classes[task](model, tokenizer, **options)
