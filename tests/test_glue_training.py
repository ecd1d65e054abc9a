"""`minitrans glue train | eval` and what it is built from: a classification or regression head
sized for the task, the transfer strategies (gradual unfreezing included), T5's text-to-text
version of the tasks, the scores against scikit-learn and scipy, and bad input refused."""

import json
import shutil

import jax
import numpy as np
import optax
import pytest
from conftest import minilm_folder, rows_for_16_kb, shared_data
from flax import nnx
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score

from minitrans.cli import main
from minitrans.datasets.glue import GlueExample, load_glue
from minitrans.datasets.text_to_text import glue_label, glue_target, glue_text
from minitrans.models.bert import BertConfig, BertForSequenceClassification, BertModel
from minitrans.training import glue
from minitrans.training.step import TrainState
from minitrans.training.transfer import apply_strategy, count_trainable, freeze, unfreezing_schedule

CONFIG = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
              max_position_embeddings=128)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A two-layer BERT with all-MiniLM-L6-v2's vocabulary, saved as a base checkpoint."""
    from minitrans.tokenizers import WordPieceTokenizer
    folder = tmp_path_factory.mktemp("tiny_bert")
    BertModel(BertConfig(vocab_size=30522, **CONFIG), rngs=nnx.Rngs(0)).save_pretrained(folder)
    WordPieceTokenizer.from_pretrained(minilm_folder()).save_vocabulary(folder)
    return folder


@pytest.fixture(scope="module")
def small_glue(tmp_path_factory):
    """RTE and STS-B cut to 48 training and 20 dev examples each, in GLUE's file layout."""
    root = tmp_path_factory.mktemp("glue")
    for task in ("RTE", "STS-B"):
        (root / task).mkdir()
        for split, n in (("train", 48), ("dev", 20)):
            lines = shared_data(f"glue/{task}/{split}.tsv").read_text(encoding="utf-8").splitlines()
            (root / task / f"{split}.tsv").write_text("\n".join(lines[:n + 1]) + "\n", encoding="utf-8")
    return root


def test_the_text_to_text_forms_of_glue_round_trip():
    assert glue_text("RTE", "A dog ran.", "An animal moved.") == "rte sentence1: A dog ran. sentence2: An animal moved."
    assert glue_text("SST-2", "  a  fine film ") == "sst2 sentence: a fine film"
    assert [glue_target("RTE", i) for i in (0, 1)] == ["entailment", "not_entailment"]
    assert glue_target("STS-B", 3.76) == "3.8" and glue_label("STS-B", "3.8") == 3.8
    assert glue_label("MRPC", "equivalent") == 1 and glue_label("MRPC", "maybe") is None
    assert glue_label("STS-B", "7.0") is None and glue_label("STS-B", "high") is None
    with pytest.raises(ValueError, match="RTE takes 2 text"):
        glue_text("RTE", "only one")
    with pytest.raises(ValueError, match="labels are 0..1"):
        glue_target("CoLA", 2)


def test_scores_count_an_answer_that_is_no_label_as_wrong():
    references = [0, 1, 1, 0, 1]
    scores = glue.score_glue("RTE", [0, None, 1, None, 1], references)
    assert scores["accuracy"] == accuracy_score(references, [0, 0, 1, 1, 1]) and scores["not_a_label"] == 2
    with pytest.raises(ValueError, match="3 predictions for 5 references"):
        glue.score_glue("RTE", [0, 1, 1], references)
    with pytest.raises(ValueError, match="class ids"):
        glue.score_glue("RTE", [0, 1, 2, 0, 1], references)


@pytest.mark.slow
def test_gradual_unfreezing_thaws_the_blocks_from_the_top():
    model = BertForSequenceClassification(BertConfig(vocab_size=50, **CONFIG), rngs=nnx.Rngs(0))
    schedule = unfreezing_schedule(nnx.state(model, nnx.Param), every=2)
    starts = {"/".join(map(str, path)): int(v[...]) for path, v in nnx.to_flat_state(schedule)}
    assert starts["classifier/kernel"] == 0 and starts["bert/pooler/kernel"] == 0
    assert starts["bert/encoder/layers/1/layers/0/body/layers/0/query/kernel"] == 2  # the top block
    assert {v for k, v in starts.items() if "layers/0/" in k and k.startswith("bert/encoder/layers/0")} == {4}
    assert starts["bert/embeddings/word_embeddings/embedding"] == 6
    ids = rows_for_16_kb([[2, 7, 9, 3, 11, 3], [2, 5, 3, 8, 9, 3]], 16)  # 44 rows

    def loss_fn(m, batch):
        loss = -jax.nn.log_softmax(m(batch["ids"]).logits)[:, 1].mean()
        return loss, {}

    model.train()
    state = TrainState.create(model, freeze(optax.adamw(1e-2, weight_decay=0.1), schedule), loss_fn)
    flat_schedule = dict(starts)
    previous = {k: np.asarray(v) for k, v in zip(flat_schedule, jax.tree.leaves(state.params))}
    for step in range(8):
        state.train_step({"ids": ids})
        now = {k: np.asarray(v) for k, v in zip(flat_schedule, jax.tree.leaves(state.params))}
        for name, start in flat_schedule.items():
            if step < start:  # frozen: not one bit moved, weight decay included
                np.testing.assert_array_equal(now[name], previous[name], err_msg=name)
        previous = now
    moved = [name for name, start in flat_schedule.items() if start <= 6 and "word_embeddings" in name]
    assert moved  # the embeddings thawed at step 6 and trained after
    trainable, total = count_trainable(nnx.state(model, nnx.Param), schedule)
    assert trainable == total
    # by default the planned steps are shared evenly: head, block 1, block 0, embeddings, 10 steps each
    spread = apply_strategy(model, "gradual", unfreeze_every=None, planned_steps=43)
    starts = {"/".join(map(str, path)): int(v[...]) for path, v in nnx.to_flat_state(spread)}
    assert starts["classifier/kernel"] == 0 and starts["bert/encoder/layers/1/layers/0/body/layers/0/query/kernel"] == 10
    assert starts["bert/encoder/layers/0/layers/0/body/layers/0/query/kernel"] == 20
    assert starts["bert/embeddings/word_embeddings/embedding"] == 30
    with pytest.raises(ValueError, match="needs unfreeze_every or the number of planned steps"):
        apply_strategy(model, "gradual", unfreeze_every=None)


def test_strategies_by_name():
    model = BertForSequenceClassification(BertConfig(vocab_size=50, **CONFIG), rngs=nnx.Rngs(0))
    head = count_trainable(nnx.state(model, nnx.Param), apply_strategy(model, "feature"))[0]
    assert head == 16 * 2 + 2
    mask = apply_strategy(model, "adapters-4")
    assert "Adapter_4" in str(model.bert.encoder.layers[0])
    trainable, _ = count_trainable(nnx.state(model, nnx.Param), mask)
    adapters = 2 * (16 * 4 + 4 + 4 * 16 + 16)
    norms = 2 * 2 * 32 + 32  # two per block, and the embeddings'
    assert trainable == head + adapters + norms
    for bad in ("adapters", "adapters-0", "lora", "feature-based"):
        with pytest.raises(ValueError, match="expected one of all, feature, adapters-D"):
            apply_strategy(model, bad)


@pytest.mark.slow
def test_glue_train_then_eval_from_the_command_line(tiny_bert, small_glue, tmp_path, capsys):
    out = tmp_path / "rte"
    assert main(["glue", "train", "--task", "RTE", "--model", str(tiny_bert), "--data", str(small_glue),
                 "--steps", "6", "--batch-size", "8", "--max-length", "32", "--out", str(out),
                 "--strategy", "gradual", "--unfreeze-every", "2"]) == 0
    printed = capsys.readouterr().out
    scores = json.loads(printed[printed.index("{"):])
    assert scores == json.loads((out / "dev_scores.json").read_text())
    # the dev accuracy, recomputed here from the saved model's logits
    from minitrans.tokenizers import WordPieceTokenizer
    model = BertForSequenceClassification.from_pretrained(out / "model", verbose=False)
    tokenizer = WordPieceTokenizer.from_pretrained(out / "model")
    dev = load_glue("RTE", "dev", small_glue)
    predicted = []
    for ex in dev:
        enc = tokenizer.encode(ex.text, ex.pair, max_length=32, truncation="longest_first")
        logits = model(np.array([enc.ids]), np.array([enc.type_ids])).logits
        predicted.append(int(np.argmax(logits[0])))
    assert scores["accuracy"] == pytest.approx(accuracy_score([ex.label for ex in dev], predicted), abs=1e-12)
    assert scores["examples"] == 20
    card = (out / "model" / "README.md").read_text()
    assert "minitrans glue train" in card and "strategy: gradual" in card and f"accuracy: {round(scores['accuracy'], 4)}" in card
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "entailment", "1": "not_entailment"}
    # the saved model is a text-classification pipeline that names its labels
    from minitrans.pipelines import pipeline
    answer = pipeline("text-classification", out / "model")("A dog ran.")
    assert answer[0]["label"] in ("entailment", "not_entailment")
    # glue eval gives the same figures
    assert main(["glue", "eval", "--task", "RTE", "--model", str(out / "model"), "--data", str(small_glue),
                 "--max-length", "32"]) == 0
    again = capsys.readouterr().out
    assert json.loads(again[again.index("{"):]) == scores
    # a head that does not fit the task is refused before any work
    assert main(["glue", "train", "--task", "STS-B", "--model", str(out / "model"), "--data", str(small_glue),
                 "--steps", "2", "--out", str(tmp_path / "stsb")]) == 2
    error = capsys.readouterr().err
    assert "classification head has 2 output(s) (entailment, not_entailment); STS-B needs 1" in error
    assert not (tmp_path / "stsb" / "model").exists()


@pytest.mark.slow
def test_sts_b_trains_a_regression_head_scored_by_pearson(tiny_bert, small_glue, tmp_path, capsys):
    model, tokenizer = glue.load_glue_model(tiny_bert, "STS-B", pooling="mean")  # reading the tokens' mean
    # 16 tokens: every batch has the one padded length, so both trainings run one compiled step;
    # 16 rows of 16 tokens of 16 numbers are 16 KB (conftest.rows_for_16_kb says why that counts)
    assert model.config.num_labels == 1
    model = glue.train_glue(model, tokenizer, "STS-B", tmp_path / "stsb", steps=4, batch_size=16, max_length=16,
                            data_folder=small_glue, save_every=None)
    dev = load_glue("STS-B", "dev", small_glue)
    predictions = glue.predict_glue(model, tokenizer, "STS-B", dev, max_length=16)
    assert all(isinstance(p, float) for p in predictions)
    scores = glue.evaluate_glue_model(model, tokenizer, "STS-B", max_length=16, data_folder=small_glue)
    assert scores["pearson"] == pytest.approx(pearsonr(predictions, [ex.label for ex in dev])[0], abs=1e-6)
    # the command line trains the same regression (it passes the task as a list of one)
    assert main(["glue", "train", "--task", "STS-B", "--model", str(tiny_bert), "--data", str(small_glue), "--steps", "4",
                 "--batch-size", "16", "--max-length", "16", "--save-every", "1000", "--pooling", "mean",
                 "--out", str(tmp_path / "cli")]) == 0
    from_cli = BertForSequenceClassification.from_pretrained(tmp_path / "cli" / "model", verbose=False)
    assert from_cli.config.classifier_pooling == "mean"
    ids = np.array([[101, 2000, 2001, 102, 2003, 102]])
    np.testing.assert_allclose(from_cli(ids).logits, model(ids).logits, atol=1e-5)
    card = (tmp_path / "cli" / "model" / "README.md").read_text()
    assert "pooling: mean" in card and "matmul_precision: float32" in card
    capsys.readouterr()
    assert main(["glue", "eval", "--task", "STS-B", "--model", str(tmp_path / "cli" / "model"), "--pooling", "cls"]) == 2
    assert "classification head was trained on 'mean' pooling, not 'cls'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    """A tiny random T5 with T5's own vocabulary, saved as a checkpoint folder."""
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
    from minitrans.tokenizers.sentencepiece import T5Tokenizer
    folder = tmp_path_factory.mktemp("t5")
    tokenizer = T5Tokenizer(shared_data("t5/spiece.model"))
    T5ForConditionalGeneration(T5Config.tiny(vocab_size=tokenizer.vocab_size), rngs=nnx.Rngs(0)).save_pretrained(folder)
    shutil.copyfile(tokenizer.path, folder / "spiece.model")
    return folder


@pytest.mark.slow
def test_t5_does_the_task_as_text(tmp_path, small_glue, tiny_t5):
    model, tokenizer = glue.load_glue_model(tiny_t5, "RTE")
    examples = [GlueExample("A dog ran.", "An animal moved.", 0), GlueExample("It rained.", "It was dry.", 1)] * 4
    features = glue.encode_text_to_text(examples, "RTE", tokenizer)
    assert tokenizer.decode(features[0]["input_ids"]) == "rte sentence1: A dog ran. sentence2: An animal moved."
    assert tokenizer.decode(features[1]["labels"]) == "not_entailment"
    batch = glue.collate_text_to_text(features[:2])
    assert batch["input_ids"].shape[1] % 16 == 0 and batch["labels"].shape[1] % 8 == 0 and (batch["labels"] == -100).any()
    predictions = glue.predict_glue(model, tokenizer, "RTE", examples)
    scores = glue.score_glue("RTE", predictions, [ex.label for ex in examples])
    assert scores.get("not_a_label", 0) == sum(p is None for p in predictions)
    varying = glue.score_glue("STS-B", [2.4, None, 2.4], [1.0, 3.0, 4.2])  # None counts as 0: 2.4, 0, 2.4
    assert varying["pearson"] == pytest.approx(pearsonr([2.4, 0.0, 2.4], [1.0, 3.0, 4.2])[0]) and varying["not_a_label"] == 1
    assert glue.score_glue("STS-B", [2.4, 2.4, 2.4], [1.0, 3.0, 4.2]) == {
        "pearson": 0.0, "spearman": 0.0, "examples": 3, "constant_predictions": 1}
    model = glue.train_glue(model, tokenizer, "RTE", tmp_path / "run", steps=3, batch_size=8, max_length=32,
                            data_folder=small_glue, save_every=None)
    assert (tmp_path / "run" / "model" / "spiece.model").is_file()
    again, _ = glue.load_glue_model(tmp_path / "run" / "model", "RTE")
    assert glue.predict_glue(again, tokenizer, "RTE", examples[:2]) == glue.predict_glue(model, tokenizer, "RTE", examples[:2])
    with pytest.raises(ValueError, match="fine-tunes T5 with all parameters only"):
        glue.train_glue(model, tokenizer, "RTE", tmp_path / "out", strategy="adapters-8", steps=1,
                        data_folder=tmp_path)  # refused before reading any data


@pytest.mark.slow
def test_one_t5_learns_a_mixture_of_tasks(tiny_t5, tiny_bert, small_glue, tmp_path, capsys):
    out = tmp_path / "mixture"
    assert main(["glue", "train", "--task", "RTE,STS-B", "--model", str(tiny_t5), "--data", str(small_glue),
                 "--steps", "3", "--batch-size", "8", "--max-length", "32", "--mixing", "temperature",
                 "--temperature", "2", "--mixing-limit", "24", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "RTE 48 examples (rate 0.500), STS-B 48 examples (rate 0.500); mixing temperature, K=24, T=2" in printed
    scores = json.loads(printed[printed.index("{"):])
    assert set(scores) == {"RTE", "STS-B"} and scores["RTE"]["examples"] == scores["STS-B"]["examples"] == 20
    assert scores == json.loads((out / "dev_scores.json").read_text())
    info = json.loads((out / "training.json").read_text())
    assert info["task"] == "RTE+STS-B" and info["rates"] == {"RTE": 0.5, "STS-B": 0.5} and info["steps"] == 3
    assert info["mixing"] == "temperature" and info["mixing_limit"] == 24 and info["temperature"] == 2
    card = (out / "model" / "README.md").read_text()
    assert f"RTE accuracy: {round(scores['RTE']['accuracy'], 4)}" in card and "STS-B pearson" in card
    # glue eval of the saved model gives the same figures for both tasks
    assert main(["glue", "eval", "--task", "RTE,STS-B", "--model", str(out / "model"), "--data", str(small_glue),
                 "--max-length", "32"]) == 0
    again = capsys.readouterr().out
    assert json.loads(again[again.index("{"):]) == scores
    # a task named twice
    model, tokenizer = glue.load_glue_model(tiny_t5, "RTE")
    with pytest.raises(ValueError, match="name each task once"):
        glue.train_glue(model, tokenizer, ["RTE", "RTE"], tmp_path / "twice", steps=1, data_folder=small_glue)
    # refused before any work: a BERT for two tasks, mixing flags for one task
    for flags, message in ((["--task", "RTE,STS-B", "--model", str(tiny_bert)], "several tasks need a T5 checkpoint"),
                           (["--task", "RTE", "--model", str(tiny_t5), "--mixing", "equal"], "mix several tasks"),
                           (["--task", "RTE,STS-B", "--model", str(tiny_t5), "--temperature", "3"],
                            "--temperature is for --mixing temperature"),
                           (["--task", "RTE,MNLI", "--model", str(tiny_t5)], "unknown GLUE task 'MNLI'"),
                           (["--task", "RTE", "--model", str(tiny_t5), "--pooling", "mean"],
                            "is for a BERT-style classifier")):
        assert main(["glue", "train", *flags, "--data", str(small_glue), "--steps", "1",
                     "--out", str(tmp_path / "refused")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "refused" / "model").exists()


def test_bad_glue_commands_are_named(tiny_bert, capsys):
    assert main(["glue", "train", "--task", "MNLI", "--model", str(tiny_bert)]) == 2
    assert "unknown GLUE task 'MNLI'; expected one of SST-2, CoLA, MRPC, RTE, STS-B, WNLI" in capsys.readouterr().err
    assert main(["glue", "eval", "--task", "RTE"]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main(["glue", "train", "--task", "RTE", "--model", str(tiny_bert), "--strategy", "lora"]) == 2
    assert "unknown strategy 'lora'" in capsys.readouterr().err
    assert main(["glue", "eval", "--task", "RTE", "--model", str(tiny_bert), "--bfloat16"]) == 2
    assert "--bfloat16 are for `glue train`" in capsys.readouterr().err


@pytest.mark.slow
def test_adapters_are_saved_beside_the_weights_and_come_back(tiny_bert, small_glue, tmp_path):
    model, tokenizer = glue.load_glue_model(tiny_bert, "RTE")
    model = glue.train_glue(model, tokenizer, "RTE", tmp_path / "run", steps=3, batch_size=8, max_length=32,
                            strategy="adapters-4", learning_rate=1e-2, data_folder=small_glue, save_every=None)
    assert (tmp_path / "run" / "model" / "adapters.safetensors").is_file()
    again, _ = glue.load_glue_model(tmp_path / "run" / "model", "RTE")
    assert "Adapter_4" in str(again.bert.encoder.layers[1])
    ids = np.array([[101, 2000, 2001, 102, 2003, 102]])
    np.testing.assert_allclose(again(ids).logits, model(ids).logits, atol=1e-6)
    assert np.abs(np.asarray(again.bert.encoder.layers[0].layers[1].body.layers[-1].up.kernel[...])).max() > 0
    from minitrans.pipelines import pipeline
    run = pipeline("text-classification", tmp_path / "run" / "model")
    assert "Adapter_4" in str(run.model.bert.encoder.layers[0])
