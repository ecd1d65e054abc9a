"""Make the DistilBERT parity fixture from the reference (torch + transformers): a random-weight
DistilBertForMaskedLM built from a config, its safetensors, and on a padded batch the base
model's last hidden state, the masked-LM logits and, from a DistilBertForQuestionAnswering with
the same body and a random head, the start and end logits.

    python reference/distilbert_fixtures.py
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def main() -> None:
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(vocab_size=300, max_position_embeddings=24, n_layers=2, n_heads=4, dim=32,
                                           hidden_dim=64, attn_implementation="eager")
    model = transformers.DistilBertForMaskedLM(config).eval()
    with torch.no_grad():  # non-trivial biases and norms so the test can fail
        for name, p in model.named_parameters():
            if name.endswith("bias") or "layer_norm" in name or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    qa = transformers.DistilBertForQuestionAnswering(config).eval()
    qa.distilbert.load_state_dict(model.distilbert.state_dict())
    with torch.no_grad():
        qa.qa_outputs.bias.add_(0.1 * torch.randn_like(qa.qa_outputs.bias))
    folder = FIXTURES / "distilbert_tiny_random"
    model.save_pretrained(folder)
    for extra in folder.glob("*"):
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()
    (folder / "model.safetensors").rename(folder / "weights.safetensors")  # see bert_fixtures.py
    save_file({"qa_outputs.weight": qa.qa_outputs.weight.contiguous(), "qa_outputs.bias": qa.qa_outputs.bias.contiguous()},
              str(folder / "qa_head.safetensors"))
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 300, size=(2, 14))
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    with torch.no_grad():
        hidden = model.distilbert(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
        logits = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
        answer = qa(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
    np.savez_compressed(FIXTURES / "distilbert_tiny_random_outputs.npz", input_ids=ids, attention_mask=mask,
                        last_hidden_state=hidden.numpy(), logits=logits.numpy(),
                        start_logits=answer.start_logits.numpy(), end_logits=answer.end_logits.numpy())
    print("DistilBERT fixture:", sorted(p.name for p in folder.iterdir()), "transformers", transformers.__version__)


if __name__ == "__main__":
    main()
