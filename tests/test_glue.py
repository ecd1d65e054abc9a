"""GLUE readers: the split sizes of the data's README, labels parsed, bad files named."""

import pytest
from conftest import shared_data

from minitrans.datasets.glue import load_glue

COUNTS = {("SST-2", "train"): 67349, ("SST-2", "dev"): 872, ("CoLA", "train"): 8551, ("CoLA", "dev"): 1043,
          ("MRPC", "train"): 3668, ("MRPC", "dev"): 408, ("RTE", "train"): 2490, ("RTE", "dev"): 277,
          ("STS-B", "train"): 5749, ("STS-B", "dev"): 1500, ("WNLI", "train"): 635, ("WNLI", "dev"): 71}


@pytest.mark.parametrize("task, split", list(COUNTS))
def test_split_sizes_and_labels(task, split):
    folder = shared_data("glue")
    examples = load_glue(task, split, folder)
    assert len(examples) == COUNTS[task, split]
    labels = {e.label for e in examples}
    if task == "STS-B":
        assert min(labels) >= 0 and max(labels) <= 5
    else:
        assert labels == {0, 1}
    assert all(e.text for e in examples) and all((e.pair is None) == (task in ("SST-2", "CoLA")) for e in examples)


def test_sst2_dev_balance():
    examples = load_glue("SST-2", "dev", shared_data("glue"))
    assert sum(e.label for e in examples) == 444  # the README's 444 positive / 428 negative


def test_bad_glue_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown GLUE task"):
        load_glue("MNLI", "dev", tmp_path)
    with pytest.raises(FileNotFoundError, match="no dev.tsv"):
        load_glue("RTE", "dev", tmp_path)
    (tmp_path / "RTE").mkdir()
    (tmp_path / "RTE" / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(ValueError, match="line 2: not a RTE row"):
        load_glue("RTE", "dev", tmp_path)
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nodd\t2\n")
    with pytest.raises(ValueError, match=r"line 3: label '2' is outside SST-2's labels 0..1 \(negative, positive\)"):
        load_glue("SST-2", "train", tmp_path)
    (tmp_path / "RTE" / "dev.tsv").write_text("id\ttext\n")
    with pytest.raises(ValueError, match="expected columns"):
        load_glue("RTE", "dev", tmp_path)
