"""Check that Hugging Face transformers loads a checkpoint written by minitrans' save_pretrained
and computes the same outputs. Two steps, two environments:

    python reference/check_transformers_loads_ours.py save FOLDER     # with minitrans (jax)
    python reference/check_transformers_loads_ours.py load FOLDER     # with torch + transformers
"""

import sys
from pathlib import Path

import numpy as np

IDS = np.array([[2, 17, 93, 45, 3, 61, 8, 3, 0, 0], [2, 5, 6, 7, 8, 3, 9, 10, 11, 3]])
TYPES = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]])
MASK = (IDS != 0).astype(np.int64)


def save(folder: Path) -> None:
    from flax import nnx

    from minitrans.models.bert import BertConfig, BertForPreTraining
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16)
    model = BertForPreTraining(config, rngs=nnx.Rngs(7))
    model.save_pretrained(folder)
    out = model(IDS, TYPES, MASK)
    np.savez(folder / "minitrans_outputs.npz", prediction_logits=np.asarray(out.prediction_logits),
             seq_relationship_logits=np.asarray(out.seq_relationship_logits))
    print(f"saved {folder}")


def load(folder: Path) -> None:
    import torch
    import transformers

    model = transformers.BertForPreTraining.from_pretrained(str(folder), attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(IDS), token_type_ids=torch.tensor(TYPES), attention_mask=torch.tensor(MASK))
    ours = np.load(folder / "minitrans_outputs.npz")
    for name in ("prediction_logits", "seq_relationship_logits"):
        diff = np.abs(getattr(out, name).numpy() - ours[name]).max()
        print(f"{name}: max |transformers - minitrans| = {diff:.2e}")
        assert diff < 1e-4, name
    print("transformers", transformers.__version__, "loads minitrans' checkpoint: same outputs")


if __name__ == "__main__":
    {"save": save, "load": load}[sys.argv[1]](Path(sys.argv[2]))
