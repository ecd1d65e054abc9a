"""Make the T5 parity fixtures from the reference (torch + transformers): random-weight
T5ForConditionalGeneration models (v1.0: ReLU, tied; v1.1: gated-GELU, untied) built from
configs, their safetensors, logits on a padded batch, and greedy generations; then beam
searches of the sharp v1.0 model (`beam_fixture`).

    python reference/t5_fixtures.py
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def make(name: str, weight_scale: float = 1.0, **config) -> None:
    torch.manual_seed(0)
    config = transformers.T5Config(vocab_size=200, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8, relative_attention_max_distance=20,
                                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                                   attn_implementation="eager", **config)
    model = transformers.T5ForConditionalGeneration(config).eval()
    with torch.no_grad():  # non-trivial norms; weight_scale > 1 makes greedy decoding vary
        for pname, p in model.named_parameters():
            if "layer_norm" in pname:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.mul_(weight_scale)
    folder = FIXTURES / name
    model.save_pretrained(folder)
    for extra in folder.glob("*"):
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()
    (folder / "model.safetensors").rename(folder / "weights.safetensors")  # see bert_fixtures.py
    rng = np.random.default_rng(0)
    input_ids = rng.integers(2, 200, size=(2, 30))  # longer than max_distance: the far buckets matter
    input_ids[1, 22:] = 0
    attention_mask = (input_ids != 0).astype(np.int64)
    labels = rng.integers(2, 200, size=(2, 9))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(attention_mask),
                       labels=torch.tensor(labels)).logits.numpy()
        generated = model.generate(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(attention_mask),
                                   max_new_tokens=12, do_sample=False, num_beams=1, min_length=0).numpy()
    np.savez_compressed(FIXTURES / f"{name}_outputs.npz", input_ids=input_ids, attention_mask=attention_mask,
                        labels=labels, logits=logits, generated=generated)
    print(name, logits.shape, generated.tolist())


def beam_fixture(name: str = "t5_tiny_random_sharp") -> None:
    """Beam search by `generate` (its default rules) on 32 padded inputs, for several widths and
    length penalties, without EOS and with a frequent token as EOS (so that beams end early)."""
    folder = FIXTURES / name
    config = transformers.T5Config.from_pretrained(folder)
    model = transformers.T5ForConditionalGeneration(config).eval()
    from safetensors.torch import load_file
    model.load_state_dict(load_file(folder / "weights.safetensors"), strict=False)
    model.tie_weights()
    rng = np.random.default_rng(1)
    input_ids = rng.integers(2, 200, size=(32, 20))
    input_ids[::3, 15:] = 0
    attention_mask = (input_ids != 0).astype(np.int64)
    settings = [(3, 1.0), (4, 0.5), (2, 2.0), (5, 1.0), (4, 0.0)]
    out = {"input_ids": input_ids, "attention_mask": attention_mask, "settings": np.array(settings)}
    for eos in (None, 154):  # 154: the third most frequent token of the 3-beam outputs without EOS
        for beams, penalty in settings:
            with torch.no_grad():
                generated = model.generate(input_ids=torch.tensor(input_ids), attention_mask=torch.tensor(attention_mask),
                                           max_new_tokens=10, num_beams=beams, length_penalty=penalty, do_sample=False,
                                           min_length=0, **({} if eos is None else {"eos_token_id": eos})).numpy()
            out[f"eos{eos}_beams{beams}_penalty{penalty}"] = generated
    np.savez_compressed(FIXTURES / f"{name}_beams.npz", **out)
    print(name, "beams:", {k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    # logits parity (1e-4) on ordinary random weights; at 4x the weights, activations grow
    # large enough that float32 rounding alone reaches 1e-4, so those serve generation only
    make("t5_tiny_random")
    make("t5_v1_1_tiny_random", feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    make("t5_tiny_random_sharp", weight_scale=4.0)
    make("t5_v1_1_tiny_random_sharp", weight_scale=4.0, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    beam_fixture()
