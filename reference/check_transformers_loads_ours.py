"""Check that Hugging Face transformers loads every checkpoint minitrans' save_pretrained writes
and computes the same outputs: BERT, DistilBERT, GPT-2, T5 v1.0 and v1.1. Two steps, two
environments:

    python reference/check_transformers_loads_ours.py save FOLDER     # with minitrans (jax)
    python reference/check_transformers_loads_ours.py load FOLDER     # with torch + transformers

(T5DecoderOnly has no transformers class: it is saved with T5's tensor names but loads in
minitrans only.)
"""

import sys
from pathlib import Path

import numpy as np

IDS = np.array([[2, 17, 93, 45, 3, 61, 8, 3, 0, 0], [2, 5, 6, 7, 8, 3, 9, 10, 11, 3]])
TYPES = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]])
MASK = (IDS != 0).astype(np.int64)
LABELS = np.array([[5, 9, 17, 1], [44, 3, 1, 0]])
MODELS = ("bert", "distilbert", "gpt2", "t5", "t5_v1_1")


def build(name: str):
    """The minitrans model of each family (random weights, sharpened so the outputs vary) and
    what it computes on the batch above."""
    from flax import nnx

    from minitrans.models.bert import BertConfig, BertForPreTraining
    from minitrans.models.distilbert import DistilBertConfig, DistilBertForMaskedLM
    from minitrans.models.gpt import GPT, GPT2Config
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration

    if name == "bert":
        model = BertForPreTraining(BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                              intermediate_size=64, max_position_embeddings=16), rngs=nnx.Rngs(7))
        out = model(IDS, TYPES, MASK)
        return model, {"prediction_logits": out.prediction_logits, "seq_relationship_logits": out.seq_relationship_logits}
    if name == "distilbert":
        model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=120, n_layers=2, n_heads=4, dim=32, hidden_dim=64,
                                                       max_position_embeddings=16), rngs=nnx.Rngs(7))
        return model, {"logits": model(IDS, attention_mask=MASK).logits}
    if name == "gpt2":
        model = GPT(GPT2Config(vocab_size=120, n_positions=16, n_embd=32, n_layer=2, n_head=4), rngs=nnx.Rngs(7))
        return model, {"logits": model(IDS, attention_mask=MASK).logits}
    config = T5Config(vocab_size=120, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    if name == "t5_v1_1":
        config = config.replace(feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    model = T5ForConditionalGeneration(config, rngs=nnx.Rngs(7))
    return model, {"logits": model(IDS, MASK, labels=LABELS).logits}


def save(folder: Path) -> None:
    for name in MODELS:
        model, outputs = build(name)
        model.save_pretrained(folder / name)
        np.savez(folder / name / "minitrans_outputs.npz", **{k: np.asarray(v) for k, v in outputs.items()})
        print(f"saved {folder / name}")


def load(folder: Path) -> None:
    import torch
    import transformers

    worst = 0.0
    for name in MODELS:
        kind = {"bert": transformers.BertForPreTraining, "distilbert": transformers.DistilBertForMaskedLM,
                "gpt2": transformers.GPT2LMHeadModel}.get(name, transformers.T5ForConditionalGeneration)
        model = kind.from_pretrained(str(folder / name), attn_implementation="eager").eval()
        ids, mask = torch.tensor(IDS), torch.tensor(MASK)
        with torch.no_grad():
            if name == "bert":
                out = model(input_ids=ids, token_type_ids=torch.tensor(TYPES), attention_mask=mask)
            elif name.startswith("t5"):
                out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor(LABELS))
            else:
                out = model(input_ids=ids, attention_mask=mask)
        ours = np.load(folder / name / "minitrans_outputs.npz")
        for key in ours.files:
            theirs = getattr(out, key).numpy()
            real = MASK.astype(bool) if name in ("gpt2", "distilbert") else np.ones(theirs.shape[:2], bool)
            diff = np.abs(theirs - ours[key])[real].max()  # GPT-2 and DistilBERT leave padded rows as they are
            worst = max(worst, diff)
            print(f"{name:<11} {key:<24} max |transformers - minitrans| = {diff:.2e}")
            assert diff < 1e-4, (name, key)
    print(f"transformers {transformers.__version__} loads every minitrans checkpoint: the same outputs "
          f"(worst {worst:.1e})")


if __name__ == "__main__":
    {"save": save, "load": load}[sys.argv[1]](Path(sys.argv[2]))
