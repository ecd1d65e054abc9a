"""Make the GPT-2 parity fixture from the reference (torch + transformers): a random-weight
GPT2LMHeadModel built from a config, its safetensors, and its logits on a batch.

    python reference/gpt2_fixtures.py
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def main() -> None:
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=300, n_positions=32, n_embd=32, n_layer=2, n_head=4,
                                     attn_implementation="eager")
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial biases and norms so the test can fail
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    folder = FIXTURES / "gpt2_tiny_random"
    model.save_pretrained(folder)
    for extra in folder.glob("*"):
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()
    (folder / "model.safetensors").rename(folder / "weights.safetensors")  # see bert_fixtures.py
    ids = np.random.default_rng(0).integers(0, 300, size=(2, 16))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(ids)).logits.numpy()
    np.savez_compressed(FIXTURES / "gpt2_tiny_random_outputs.npz", input_ids=ids, logits=logits)
    print("GPT-2 fixture:", logits.shape, "transformers", transformers.__version__)


if __name__ == "__main__":
    main()
