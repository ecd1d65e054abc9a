"""`minitrans demo attention`: what a pre-trained BERT attends to, every layer and every head.

For the sentence (or sentence pair) the teacher types, each head is drawn as two columns of the
same tokens, a line from each token on the left (the query) to every token on the right (the
keys), as dark as its attention weight. Hovering a token keeps only its lines, in every head.
Then the same model under the three mask patterns of T5 (Raffel et al., 2020, figure 3): fully
visible, causal, and causal with a prefix; the weights are the model's own, renormalised over
the positions each mask lets a token see.
"""

import html
import warnings

import jax.numpy as jnp
import numpy as np

from minitrans.checkpoints import minilm_folder, read_config
from minitrans.demos.page import checkpoint_name, html_page, script
from minitrans.masks import causal_mask, combine_masks, padding_mask, prefix_lm_mask
from minitrans.models import load_for_task
from minitrans.nn import recording_attention
from minitrans.tokenizers import WordPieceTokenizer

MAX_TOKENS = 48  # more tokens than this and a head's lines can no longer be told apart
SENTENCE = "The animal didn't cross the street because it was too tired."


def layer_weights(recorded) -> list:
    """Recorded weights, one (1, heads, T, T) array per layer -> nested lists rounded to 3
    decimals (a page of a few hundred kilobytes)."""
    return [np.round(np.asarray(w[0], np.float64), 3).tolist() for w in recorded]


def attention_data(folder=None, text: str = SENTENCE, pair: str | None = None) -> dict:
    folder = folder or minilm_folder(required=True)
    model_type = read_config(folder).get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(f"the attention demo draws BERT checkpoints (config.json model_type 'bert'); {folder} holds "
                         f"a {model_type!r} model")
    model = load_for_task(folder, "base")
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    limit = min(model.config.max_position_embeddings, MAX_TOKENS)
    length = len(tokenizer.tokenize(text)) + (2 if pair is None else len(tokenizer.tokenize(pair)) + 3)
    if length > limit:
        why = "the model's positions" if limit == model.config.max_position_embeddings else "what a page can draw"
        warnings.warn(f"the text has {length} tokens; the picture keeps {limit} ({why})", stacklevel=2)
    encoding = tokenizer.encode(text, pair, truncation=True, max_length=limit)
    ids, types = jnp.asarray([encoding.ids]), jnp.asarray([encoding.type_ids])
    real = jnp.ones_like(ids)
    with recording_attention() as recorded:
        model(ids, types, real)
    length = len(encoding)
    prefix = encoding.type_ids.index(1) if pair is not None else (length + 1) // 2
    patterns = {"fully visible": padding_mask(real), "causal": combine_masks(padding_mask(real), causal_mask(length)),
                f"causal with prefix (first {prefix} tokens)": combine_masks(padding_mask(real),
                                                                            prefix_lm_mask(jnp.asarray([prefix]), length))}
    under_masks = []
    hidden = model.embeddings(ids, types)
    for name, mask in patterns.items():
        with recording_attention() as masked:
            model.encoder(hidden, mask=mask)
        visible = np.broadcast_to(np.asarray(mask[0, 0]), (length, length))  # padding masks are (1, T)
        under_masks.append({"name": name, "visible": visible.astype(int).tolist(),
                            "layers": layer_weights(masked)})
    return {"model": checkpoint_name(folder), "tokens": encoding.tokens, "segments": encoding.type_ids,
            "layers": layer_weights(recorded), "masks": under_masks, "prefix": prefix}


def build(model=None, text: str = SENTENCE, pair: str | None = None) -> str:
    data = attention_data(model, text, pair)
    layers, heads = len(data["layers"]), len(data["layers"][0])
    intro = (f"{layers} layers &times; {heads} heads of <span class='mono'>{html.escape(data['model'])}</span>. "
             "In each head, a line joins a token on the left (the one reading) to each token on the right (the one "
             "read), as dark as the weight it gives it; each token's weights add up to 1. Hover a token to keep only "
             "its lines; click a head to enlarge it. Below: the same model under T5's three mask patterns.")
    return html_page("Attention, head by head", intro, data, script("attention"), style=STYLE)


STYLE = """
.heads { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 10px; }
.head { border: 1px solid #d0d5dd; border-radius: 8px; padding: 4px; cursor: zoom-in; background: #fff; }
.head.big { grid-column: 1 / -1; cursor: zoom-out; }
.head .caption { font-size: 13px; color: #444; margin: 2px 4px; }
.head svg { width: 100%; height: auto; display: block; }
.head text { font-family: ui-monospace, "DejaVu Sans Mono", monospace; cursor: pointer; }
.head text.focus { font-weight: bold; fill: #000; }
.grid-mask { display: inline-block; margin: 6px 14px 6px 0; vertical-align: top; }
"""
