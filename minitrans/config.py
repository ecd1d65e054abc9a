"""Model configs as frozen dataclasses that read and write Hugging Face `config.json` files."""

import dataclasses
import json
from pathlib import Path

# Keys Hugging Face writes into config.json that describe the file, not the model.
HF_BOOKKEEPING = {
    "_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype",
    "gradient_checkpointing", "use_cache", "id2label", "label2id", "output_past", "return_dict",
    "output_hidden_states", "output_attentions", "problem_type", "tie_word_embeddings",
    "bos_token_id", "eos_token_id", "sep_token_id", "classifier_dropout", "chunk_size_feed_forward",
    "is_decoder", "add_cross_attention", "tokenizer_class", "prefix", "task_specific_params",
    "finetuning_task", "pruned_heads", "torchscript", "use_return_dict", "pad_token_id",
    # GPT-2's sequence-summary head and attention-implementation switches (unused here)
    "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
    "summary_first_dropout", "reorder_and_upcast_attn", "n_ctx",
}


class ConfigMixin:
    """`from_dict` / `to_dict` / `from_json_file` / `to_json_file` for a frozen dataclass config.

    Unknown keys are an error naming them (a typo must not silently fall back to a default).
    """

    model_type: str = ""
    architecture: str = ""
    dropout_keys: tuple[str, ...] = ()  # the fields that are dropout rates (to set them all at once)

    @classmethod
    def from_dict(cls, values: dict, **overrides):
        values = {**values, **overrides}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k not in names and k not in HF_BOOKKEEPING)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}; "
                             f"expected some of: {', '.join(sorted(names))}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
        return cls(**kwargs)

    def to_dict(self, architecture: str | None = None) -> dict:
        out = dataclasses.asdict(self)
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["model_type"] = self.model_type
        out["architectures"] = [architecture or self.architecture]
        return out

    @classmethod
    def from_json_file(cls, path: str | Path):
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)
