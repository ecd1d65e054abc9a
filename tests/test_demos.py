"""The teaching demos: each page's figures against independent references, then the page itself
in a real browser (headless Chromium, tests/browser.py): it loads with no console error and no
request leaving the file, the mouse hovers and clicks, and screenshots show what matters (one
drawn panel per head, lines that disappear on hover, colours per span)."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser import Browser, find_chromium, ink
from conftest import IN_CI, minilm_folder, shared_data

from minitrans.cli import main
from minitrans.demos import DEMOS, write_demo

FIXTURES = Path(__file__).parent / "fixtures"
SENTENCE = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        message = "no chromium on PATH: `make test` installs Debian's (apt-get install chromium)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    page = Browser(executable, width=1280, height=1400)
    yield page
    page.close()


def page_data(path: Path) -> dict:
    text = path.read_text()
    start = text.index('<script id="demo-data" type="application/json">') + len('<script id="demo-data" type="application/json">')
    return json.loads(text[start:text.index("</script>", start)])


def open_page(browser, path: Path) -> None:
    browser.errors.clear()
    browser.requests.clear()
    browser.open(path)
    assert browser.errors == [], browser.errors
    assert browser.requests == [path.resolve().as_uri()], "a page must need nothing but itself"
    text = path.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text), "scripts, styles and pictures inline"


def masked_lm_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "masked_lm"
    shutil.copytree(FIXTURES / "pipelines" / "masked_lm", folder)
    (folder / "weights.safetensors").rename(folder / "model.safetensors")
    return folder


# --------------------------------------------------------------------------- attention


@pytest.mark.slow
def test_attention_page_draws_the_reference_weights_of_every_head(tmp_path, browser):
    reference = np.load(FIXTURES / "minilm_attention.npz")  # transformers + torch, reference/attention_fixture.py
    path = write_demo("attention", tmp_path / "attention.html", model=str(minilm_folder()), text=SENTENCE)
    data = page_data(path)
    assert len(data["tokens"]) == reference["input_ids"].shape[1] == 16 and data["model"] == "all-MiniLM-L6-v2"
    np.testing.assert_allclose(np.array(data["layers"]), reference["fully_visible"], atol=1.5e-3)
    masks = {m["name"].split(" (")[0]: m for m in data["masks"]}
    assert list(masks) == ["fully visible", "causal", "causal with prefix"]
    np.testing.assert_allclose(np.array(masks["causal"]["layers"]), reference["causal"], atol=1.5e-3)
    np.testing.assert_allclose(np.array(masks["fully visible"]["layers"]), reference["fully_visible"], atol=1.5e-3)
    prefix = np.array(masks["causal with prefix"]["visible"])
    assert prefix[0, :8].all() and not prefix[0, 8:].any() and prefix[10, :11].all() and not prefix[10, 11:].any()

    open_page(browser, path)
    heads = browser.evaluate("document.querySelectorAll('#sentence-view .head').length")
    assert heads == 12 and browser.evaluate("document.querySelectorAll('#sentence-view .controls button').length") == 6
    drawn = [ink(browser.screenshot(f"#sentence-view .head[data-head='{h}'] svg")) for h in range(12)]
    assert sum(d > 0.01 for d in drawn) == 12, drawn  # every head's lines are on the screen
    browser.hover("#sentence-view .head[data-head='0'] text.query[data-i='8']")  # "street"
    isolated = [ink(browser.screenshot(f"#sentence-view .head[data-head='{h}'] svg")) for h in range(12)]
    assert all(i < d for i, d in zip(isolated, drawn)), (isolated, drawn)
    shown = browser.evaluate("[...document.querySelectorAll('#sentence-view line.attn')]"
                             ".filter(l => l.style.display !== 'none').map(l => Number(l.dataset.q))")
    assert shown and set(shown) == {8}
    browser.hover("h1")
    small = browser.box("#sentence-view .head[data-head='3']")[2]
    browser.click("#sentence-view .head[data-head='3'] .caption")  # a head enlarged
    assert browser.box("#sentence-view .head[data-head='3']")[2] > 3 * small
    browser.click("#sentence-view .head[data-head='3'] .caption")
    browser.click("#sentence-view .controls button[data-index='5']")  # layer 6
    assert browser.evaluate("document.querySelector('#sentence-view .controls button.on').textContent") == "6"
    browser.click("#mask-view .controls button[data-index='1']")  # causal
    pairs = browser.evaluate("[...document.querySelectorAll('#mask-view line.attn')].map(l => [+l.dataset.q, +l.dataset.k])")
    assert pairs and all(k <= q for q, k in pairs)
    browser.hover("#mask-view .head[data-head='0'] text.query[data-i='0']")
    assert browser.evaluate("[...document.querySelectorAll('#mask-view .head[data-head=\"0\"] line.attn')]"
                            ".filter(l => l.style.display !== 'none').length") == 1  # [CLS] sees only itself
    grid = browser.screenshot("#mask-view .mask-grid")
    blue = (np.abs(grid - np.array([0x1f, 0x5f, 0xbf]) / 255).max(-1) < 0.1).mean()
    assert 0.4 < blue < 0.6  # a causal mask: about half the squares visible
    assert browser.errors == []


@pytest.mark.slow
def test_a_text_longer_than_a_page_can_draw_is_cut_with_a_warning(tmp_path):
    folder = masked_lm_folder(tmp_path)
    with pytest.warns(UserWarning, match="the text has 62 tokens; the picture keeps 48"):
        path = write_demo("attention", tmp_path / "long.html", model=str(folder), text=" ".join(["paris"] * 60))
    data = page_data(path)
    assert len(data["tokens"]) == 48 and data["tokens"][-1] == "[SEP]"
    assert len(data["layers"][0][0]) == 48


# --------------------------------------------------------------------------- masking


@pytest.mark.slow
def test_masking_page_draws_bert_masking_with_the_models_predictions(tmp_path, browser):
    import jax.numpy as jnp

    from minitrans.models.bert import BertForMaskedLM
    from minitrans.tokenizers import WordPieceTokenizer

    folder = masked_lm_folder(tmp_path)
    text = "paris is the capital of france and the river seine flows through paris ."
    path = write_demo("masking", tmp_path / "masking.html", model=str(folder), text=text, draws=60)
    data = page_data(path)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    assert data["tokens"] == tokenizer.encode(text).tokens
    chosen = [c for draw in data["draws"] for c in draw]
    ordinary = len(data["tokens"]) - 2
    assert all(len(draw) == round(0.15 * ordinary) for draw in data["draws"])  # 15% of the non-special tokens
    assert all(0 < c["position"] < len(data["tokens"]) - 1 for c in chosen)  # never [CLS] or [SEP]
    outcomes = {o: sum(c["outcome"] == o for c in chosen) / len(chosen) for o in ("mask", "random", "kept")}
    assert 0.7 < outcomes["mask"] < 0.9 and 0.03 < outcomes["random"] < 0.2 and 0.03 < outcomes["kept"] < 0.2, outcomes
    # the predictions are the model's on the corrupted input, recomputed here
    model = BertForMaskedLM.from_pretrained(folder, verbose=False)
    draw = data["draws"][0]
    ids = tokenizer.encode(text).ids
    for c in draw:
        ids[c["position"]] = tokenizer.vocab[c["shown"]]
    logits = np.asarray(model(jnp.asarray([ids])).logits[0])
    for c in draw:
        best = np.argsort(-logits[c["position"]], kind="stable")[:5]
        assert [w for w, _ in c["predictions"]] == [tokenizer.id_to_token[int(t)] for t in best]

    open_page(browser, path)
    assert browser.evaluate("document.getElementById('draw-number').textContent") == "draw 1 of 60"
    marked = browser.evaluate("document.querySelectorAll('#model-input .token.chosen').length")
    assert marked == len(draw)
    for _ in range(3):
        browser.click("#draw-again")
    assert browser.evaluate("document.getElementById('draw-number').textContent") == "draw 4 of 60"
    assert browser.evaluate("document.getElementById('tally').textContent").startswith(
        f"After 4 draw(s): {4 * len(draw)} tokens chosen")
    row = browser.screenshot("#model-input")
    coloured = {name: (np.abs(row - np.array(rgb) / 255).max(-1) < 0.03).sum()
                for name, rgb in (("mask", (0xf8, 0xc9, 0xc4)), ("random", (0xfd, 0xe2, 0xa7)), ("kept", (0xc9, 0xec, 0xc9)))}
    shown = {c["outcome"] for c in data["draws"][3]}
    assert all((coloured[o] > 50) == (o in shown) for o in coloured), (coloured, shown)
    assert browser.errors == []


def test_masking_without_a_model_uses_the_one_pre_trained_before(tmp_path, monkeypatch, capsys):
    from minitrans.demos.masking import masked_lm_folder as choose

    kept = tmp_path / "outputs" / "demos" / "masking-bert-400-steps"
    shutil.copytree(masked_lm_folder(tmp_path), kept)
    assert choose(None, 400, kept) == kept and "pre-trained earlier" in capsys.readouterr().out
    with pytest.raises(ValueError, match="has no masked-language-model head"):
        choose(str(minilm_folder()), 400, kept)


# --------------------------------------------------------------------------- span corruption


def test_span_corruption_page_shows_the_papers_example_and_random_spans(tmp_path, browser):
    vocab = shared_data("t5/spiece.model")
    text = "Transfer learning lets a model trained on one task help with another task."
    path = write_demo("span-corruption", tmp_path / "spans.html", text=text, vocab=str(vocab), draws=25)
    data = page_data(path)
    slide, yours = data["texts"]
    pieces = lambda side: " ".join(p for p, _, _ in side)
    # the paper's figure: "Thank you <X> me to your party <Y> week." / "<X> for inviting <Y> last <Z>"
    assert pieces(slide["draws"][0]["inputs"]) == "▁Thank ▁you <extra_id_0> ▁me ▁to ▁your ▁party <extra_id_1> ▁week . </s>"
    assert pieces(slide["draws"][0]["targets"]) == "<extra_id_0> ▁for ▁inviting <extra_id_1> ▁last <extra_id_2> </s>"
    assert data["vocab_size"] == 32100  # T5's 32,000 pieces and 100 sentinels
    for draw in yours["draws"]:
        hidden = sum(s >= 0 for s in draw["hidden"])
        assert hidden == round(0.15 * len(yours["ids"]))
        kept = [p for p, _, kind in draw["inputs"] if kind == "piece"]
        restored = [p for p, _, kind in draw["targets"] if kind == "piece"]
        assert len(kept) + len(restored) == len(yours["ids"])  # every piece is in the input or the target
    assert len(yours["draws"]) == 25 and len(slide["draws"]) == 26

    open_page(browser, path)
    section = "#text-0"
    first = browser.screenshot(f"{section} .sides")
    red = lambda image: (np.abs(image - np.array([0xd6, 0x27, 0x28]) / 255).max(-1) < 0.05).sum()
    assert red(first) > 200  # the first span's sentinel, in its colour, in the input and the target
    browser.hover(f"{section} .side.input .piece.sentinel[data-span='1']")
    dimmed = browser.evaluate(f"document.querySelectorAll('{section} .piece.dim').length")
    assert dimmed == browser.evaluate(f"document.querySelectorAll('{section} .piece').length") - \
        browser.evaluate(f"document.querySelectorAll('{section} .piece[data-span=\"1\"]').length")
    assert ink(browser.screenshot(f"{section} .sides")) < ink(first)
    browser.hover("h1")
    browser.click(f"{section} .draw-again")
    assert browser.evaluate(f"document.querySelector('{section} .controls .note').textContent") == "random draw 1 of 25"
    assert browser.errors == []


# --------------------------------------------------------------------------- peek


@pytest.mark.slow
def test_peek_page_draws_both_curves_and_samples(tmp_path, browser):
    # a short run: the page, not the result (lesson 07 checks that the peeking model copies)
    path = write_demo("peek", tmp_path / "peek.html", steps=20)
    data = page_data(path)
    causal, peeking = data["curves"]["causal (GPT)"], data["curves"]["bidirectional"]
    assert len(causal) == len(peeking) == 20 and causal[0] == pytest.approx(peeking[0], rel=0.05)  # same start
    assert causal[-1] < causal[0] and peeking[-1] < peeking[0]
    assert all(p > 1 for p in data["perplexities"].values())
    assert len(data["samples"]["bidirectional"]) == 12 and data["samples"]["causal (GPT)"][0]["prompt"] == "the capital of"

    open_page(browser, path)
    assert browser.evaluate("document.querySelectorAll('#chart polyline.curve').length") == 2
    browser.hover("#chart")
    readout = browser.evaluate("document.getElementById('readout').textContent")
    step = int(re.match(r"step (\d+): causal \(GPT\) ([\d.]+) +bidirectional ([\d.]+)", readout).group(1))
    assert readout.split(": ", 1)[1].split()[2] == f"{causal[step - 1]:.3f}"
    before = ink(browser.screenshot("#chart"))
    browser.click(".legend-item[data-name='bidirectional']")
    assert ink(browser.screenshot("#chart")) < before  # its curve is hidden
    first = browser.evaluate("document.querySelector('.sample').textContent")
    browser.click("#more-samples")
    assert browser.evaluate("document.querySelector('.sample').textContent") != first
    assert browser.errors == []


# --------------------------------------------------------------------------- embeddings


@pytest.mark.slow
def test_embeddings_page_puts_cbow_on_one_point_and_elmo_on_many(tmp_path, browser):
    path = write_demo("embeddings", tmp_path / "embeddings.html", steps=3)
    data = page_data(path)
    cbow, elmo = np.array(data["models"]["CBOW"]["cosines"]), np.array(data["models"]["ELMo"]["cosines"])
    assert len(data["sentences"]) == 8 and np.allclose(cbow, 1, atol=1e-4)  # one row of a table
    assert (elmo[~np.eye(8, dtype=bool)] < 0.9999).all()  # a vector per sentence
    assert np.allclose(data["models"]["CBOW"]["points"], 0)

    open_page(browser, path)
    assert browser.evaluate("document.querySelector('#panel-CBOW .distinct').dataset.distinct") == "1"
    assert browser.evaluate("document.querySelector('#panel-ELMo .distinct').dataset.distinct") == "8"
    blue = lambda image: (np.abs(image - np.array([0x1f, 0x5f, 0xbf]) / 255).max(-1) < 0.25).sum()
    assert blue(browser.screenshot("#panel-ELMo svg")) > 2 * blue(browser.screenshot("#panel-CBOW svg"))
    browser.hover("#panel-ELMo .point[data-i='4']")
    assert browser.evaluate("document.querySelector('#sentences li.focus').textContent").startswith(
        "they were on the right side of history")
    assert "CBOW 1.000" in browser.evaluate("document.querySelectorAll('#sentences li')[0].textContent")
    assert browser.errors == []


def test_embeddings_bad_input(tmp_path):
    with pytest.raises(ValueError, match="needs at least 2 sentences holding 'bank'"):
        write_demo("embeddings", tmp_path / "e.html", word="bank")


# --------------------------------------------------------------------------- the command


def test_the_demo_command(tmp_path, capsys):
    assert main(["demo", "list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == list(DEMOS) == \
        ["attention", "masking", "span-corruption", "peek", "embeddings"]
    assert main(["demo", "heads"]) == 2
    err = capsys.readouterr().err
    assert "no demo 'heads'; the demos: attention (" in err and "embeddings (" in err and len(err.splitlines()) == 1
    assert main(["demo", "peek", "--text", "hello"]) == 2
    assert "the peek demo takes --seed, --steps; not --text" in capsys.readouterr().err
    out = tmp_path / "spans.html"
    assert main(["demo", "span-corruption", "--vocab", str(shared_data("t5/spiece.model")), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out and out.read_text().startswith("<!doctype html>")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by others, as any new file (a web server, a class)
