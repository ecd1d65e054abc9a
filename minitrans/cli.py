"""The `minitrans` command: it parses the arguments, checks them before any work, calls the
library and prints. Errors from the library arrive as ordinary exceptions; only `main` turns
them into a one-line message (the traceback with --debug) and an exit code: 0 done, 1 checks
failed, 2 bad input, 130 interrupted (the checkpoint to resume from is printed).

    minitrans tour [--quick]                         the main demo: pre-train, fine-tune, answer
    minitrans lesson list | 01 [--quick]             the step-through lessons
    minitrans exercise list | start | check | hint   the unit-test exercises
    minitrans pretrain bert|t5 [--corpus FILE] ...   pre-train from a corpus (checkpoints, --resume)
    minitrans qa train|eval|predict|ask ...          extractive question answering (SQuAD)
    minitrans glue train|eval|list ...               fine-tune and score on GLUE tasks
    minitrans pipeline TASK --model DIR TEXT ...     a pipeline (fill-mask, text-classification, ...)
    minitrans card DIR                               a checkpoint folder's model card
    minitrans demo list | NAME [--out FILE.html]      a teaching demo: one self-contained HTML page
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import minitrans


class UsageError(ValueError):
    """An argument the command cannot take: the message names it and says what it should be."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors on one line: what is wrong and where the help is."""

    def error(self, message):
        raise UsageError(f"{message} (`{self.prog} --help` lists the arguments)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value} (leave the flag out for no limit)")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text} (leave the flag out for no limit)")
    return value


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


BFLOAT16_HELP = ("train with bfloat16 matrix products (mixed precision: the weights, the sums and the scoring "
                 "after training stay float32); 1.1-1.3x faster on a CPU with AVX512-BF16 or AMX, slower without")


def training_precision(args):
    """The context training runs in: bfloat16 products with --bfloat16, else float32."""
    from minitrans.kernels import bfloat16_products, cpu_multiplies_bfloat16

    if args.bfloat16 and cpu_multiplies_bfloat16() is False:
        print("note: this CPU has no bfloat16 instructions (AVX512-BF16, AMX): --bfloat16 makes training slower",
              flush=True)
    return bfloat16_products(args.bfloat16)


# --------------------------------------------------------------------------- lessons


def lessons_dir() -> Path:
    """The lessons/ folder of the source checkout (the library itself never imports lessons)."""
    folder = Path(os.environ.get("MINITRANS_LESSONS", Path(__file__).resolve().parents[1] / "lessons"))
    if not folder.is_dir():
        raise FileNotFoundError(f"no lessons folder at {folder}: lessons ship with the source checkout; "
                                "set MINITRANS_LESSONS to its lessons/ folder")
    return folder


def lesson_files() -> dict[str, Path]:
    return {path.name.split("_")[0]: path for path in sorted(lessons_dir().glob("[0-9][0-9]_*.py"))}


def cmd_lesson(args, rest: list[str]) -> int:
    lessons = lesson_files()
    if args.number == "list":
        for number, path in lessons.items():
            print(f"{number}  {path.stem[3:].replace('_', ' ')}   ({path})")
        return 0
    number = args.number.zfill(2)
    if number not in lessons:
        raise UsageError(f"no lesson {args.number!r}; the lessons are " +
                         ", ".join(f"{n} ({p.stem[3:].replace('_', ' ')})" for n, p in lessons.items()))
    return subprocess.call([sys.executable, str(lessons[number]), *rest])


# --------------------------------------------------------------------------- exercises


def cmd_exercise(args) -> int:
    from minitrans import exercises

    exercises.load_all()
    if args.action == "list":
        width = max(len(name) for name in exercises.EXERCISES)
        for name, ex in exercises.EXERCISES.items():
            print(f"{name:<{width}}  {ex.topic}  ({len(ex.checks)} checks; reference: "
                  f"{ex.module}.{ex.object_name})")
        return 0
    if not args.name:
        raise UsageError(f"`minitrans exercise {args.action}` needs an exercise NAME; one of: "
                         f"{', '.join(exercises.EXERCISES)}")
    try:
        ex = exercises.get(args.name)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    if args.action == "hint":
        print(f"Hint for {ex.name}:\n{ex.hint}")
        return 0
    if args.action == "start":
        path = exercises.start(ex.name, args.dir, force=args.force)
        print(f"Wrote {path}. Fill in the parts marked YOUR CODE HERE, then run:\n"
              f"  minitrans exercise check {ex.name} --dir {args.dir}")
        return 0
    results, text = exercises.check_isolated(ex.name, args.dir, timeout=args.timeout)
    print(text)
    return 0 if all(r.passed for r in results) else 1


# --------------------------------------------------------------------------- pre-training


def output_folder(args, default: str) -> Path:
    """The run's output folder, checked before any work: writable, and not another run's
    (unless --resume or --overwrite)."""
    out = Path(args.out or default)
    if args.resume and not (out / "latest" / "trainer_state.json").is_file():
        raise UsageError(f"--resume: {out} holds no checkpoint to resume (no {out / 'latest'}); "
                         "start without --resume, or give the --out of the run to continue")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write there ({error.strerror or error}); choose another folder") \
            from None
    if not args.resume and not args.overwrite and any(out.iterdir()):
        raise UsageError(f"--out {out} is not empty (another run's files?): --resume to continue that run, "
                         "--overwrite to replace it, or choose another folder")
    return out


def cmd_pretrain(args) -> int:
    import gzip

    from minitrans.datasets import bundled, shared

    corpus = Path(args.corpus) if args.corpus else bundled("facts_corpus.txt")
    if not corpus.exists():
        raise UsageError(f"--corpus {corpus} does not exist: give a text file, a .gz, or a folder of them")
    if args.steps is None and args.minutes is None:
        args.steps = 300
    if args.max_length < 8:
        raise UsageError(f"--max-length must be at least 8, got {args.max_length}")
    out = output_folder(args, f"outputs/pretrain_{args.model}")
    log = lambda line: print(line, flush=True)  # noqa: E731
    common = dict(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size, learning_rate=args.lr,
                  warmup_steps=args.warmup, eval_every=args.eval_every, seed=args.seed, out_dir=out,
                  max_chars=args.max_chars, log=log, save_every=args.save_every, resume=args.resume,
                  overwrite=args.overwrite)
    if args.model == "t5":
        from minitrans.datasets.corpus import read_corpus
        from minitrans.models.t5 import T5Config
        from minitrans.tokenizers.sentencepiece import T5Tokenizer
        from minitrans.training.pretraining import pretrain_t5

        presets = {"tiny": T5Config.tiny, "mini": T5Config.mini, "small": T5Config.small, "base": T5Config.base}
        if args.config not in presets:
            raise UsageError(f"--config must be one of {', '.join(presets)} for T5, got {args.config!r}")
        spiece = Path(args.vocab) if args.vocab else shared("t5/spiece.model")
        if spiece is not None:
            tokenizer = T5Tokenizer.from_file(spiece)
        else:
            log(f"no --vocab and no ../shared/data/t5/spiece.model: training a SentencePiece model of "
                f"{args.vocab_size:,} on {corpus} ...")
            tokenizer = T5Tokenizer.train([" ".join(d) for d in read_corpus(corpus, args.max_chars)], args.vocab_size,
                                          model_prefix=out / "spiece")
        with training_precision(args):
            pretrain_t5(corpus, presets[args.config](), tokenizer, input_length=args.max_length,
                        target_length=args.target_length, **common)
        return 0
    from minitrans.models.bert import BertConfig
    from minitrans.tokenizers import WordPieceTokenizer
    from minitrans.tokenizers.wordpiece_trainer import learn_wordpiece_vocab
    from minitrans.training.pretraining import pretrain_bert

    presets = {"tiny": BertConfig.tiny, "mini": BertConfig.mini, "base": BertConfig.base}
    if args.config in presets:
        config = presets[args.config]()
    elif Path(args.config).is_file():
        config = BertConfig.from_json_file(args.config)
    else:
        raise UsageError(f"--config must be one of {', '.join(presets)} or a config.json file, got {args.config!r}")
    if args.max_length > config.max_position_embeddings:
        raise UsageError(f"--max-length {args.max_length} exceeds the config's max_position_embeddings "
                         f"({config.max_position_embeddings})")
    if args.vocab:
        vocab = Path(args.vocab)
        tokenizer = WordPieceTokenizer.from_pretrained(vocab) if vocab.is_dir() else \
            WordPieceTokenizer.from_vocab_file(vocab)
    elif args.resume and (out / "vocab.txt").is_file():
        tokenizer = WordPieceTokenizer.from_vocab_file(out / "vocab.txt")  # the vocabulary the run started with
    else:
        if corpus.is_dir() or ".json" in corpus.suffixes:
            raise UsageError("learning a vocabulary reads one text file: pass --vocab with a folder or SQuAD corpus")
        opener = gzip.open if corpus.suffix == ".gz" else open
        with opener(corpus, "rt", encoding="utf-8", errors="replace") as f:
            text = f.read(args.max_chars) if args.max_chars else f.read()
        log(f"learning a WordPiece vocabulary of up to {args.vocab_size:,} tokens from {corpus} ...")
        tokenizer = WordPieceTokenizer(learn_wordpiece_vocab(text.splitlines(), args.vocab_size))
        tokenizer.save_vocabulary(out)  # kept beside the run, so --resume reads the same one
    with training_precision(args):
        pretrain_bert(corpus, config, tokenizer, max_length=args.max_length, **common)
    return 0


# --------------------------------------------------------------------------- question answering


def cmd_qa(args) -> int:
    import json
    import time

    from minitrans.datasets.squad import load_squad
    from minitrans.qa import squad as qa

    started = time.perf_counter()
    if not args.model:
        raise UsageError("`minitrans qa` needs --model FOLDER (a checkpoint: config.json, model.safetensors, vocab.txt)")
    if args.stride >= args.max_length:
        raise UsageError(f"--stride ({args.stride}) must be smaller than --max-length ({args.max_length}): "
                         "windows overlap by the stride")
    needs = {"train": ("train",), "eval": ("eval",), "predict": ("input", "output"), "ask": ("question", "context")}
    missing = [f"--{name.replace('_', '-')}" for name in needs[args.action] if getattr(args, name) is None]
    if missing:
        raise UsageError(f"`minitrans qa {args.action}` needs {' and '.join(missing)}")
    for name in ("train", "eval", "input"):
        value = getattr(args, name)
        if value and args.action in ("train", "eval", "predict") and not Path(value).is_file():
            raise UsageError(f"--{name} {value}: no such file (SQuAD JSON, .json or .json.gz)")
    if args.bfloat16 and args.action != "train":
        raise UsageError("--bfloat16 is for `qa train` (scoring and answering run in float32)")
    out = output_folder(args, "outputs/qa") if args.action == "train" else None
    if args.action in ("eval", "predict") and (args.out or args.output):
        target = Path(args.out) if args.action == "eval" and args.out else Path(args.output or args.out)
        folder = target if args.action == "eval" else target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ".write-test").touch()
            (folder / ".write-test").unlink()
        except OSError as error:
            raise UsageError(f"cannot write to {folder} ({error.strerror or error}): choose another place") from None
    resume_model = out / "latest" / "model" if args.action == "train" and args.resume else None
    model, tokenizer = qa.load_qa_model(args.model, scratch=args.scratch and not args.resume, seed=args.seed,
                                        dropout=args.dropout)
    if args.action == "train":
        with training_precision(args):
            model = qa.train_squad(model, tokenizer, args.train, out, steps=args.steps, minutes=args.minutes,
                                   epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                   warmup_steps=args.warmup, dropout=args.dropout, max_length=args.max_length,
                                   stride=args.stride, limit=args.limit, seed=args.seed, started=started,
                                   save_every=args.save_every,
                                   resume=resume_model is not None, overwrite=args.overwrite)
    if args.action in ("train", "eval") and args.eval:
        scores = qa.evaluate_squad(model, tokenizer, args.eval, args.out if args.action == "eval" else out,
                                   version_2=args.version_2, max_length=args.max_length, stride=args.stride,
                                   limit=args.eval_limit)
        print(json.dumps(scores, indent=1))
        if args.action == "train":  # the model card records what the model scored
            from minitrans.checkpoints import write_model_card
            info = json.loads((out / "training.json").read_text())
            write_model_card(out / "model", model, **qa.squad_card(info, scores, args.eval))
    if args.action == "predict":
        predictions, _ = qa.predict_squad(model, tokenizer, load_squad(args.input), version_2=args.version_2,
                                          max_length=args.max_length, stride=args.stride)
        Path(args.output).write_text(json.dumps(predictions, indent=1, ensure_ascii=False))
        print(f"wrote {len(predictions):,} answers to {args.output}")
    if args.action == "ask":
        qa.ask(model, tokenizer, args.question, args.context, version_2=args.version_2)
    return 0


def cmd_glue(args) -> int:
    import json
    import time

    from minitrans.datasets.glue import TASKS
    from minitrans.training import glue
    from minitrans.training.transfer import parse_strategy

    started = time.perf_counter()
    if args.action == "list":
        for task in TASKS.values():
            print(f"{task.name:6s} {task.question}\n       metrics: {', '.join(task.metrics)}; "
                  f"labels: {', '.join(task.labels) or 'a score from 0 to 5'}")
        return 0
    missing = [flag for flag, value in (("--task", args.task), ("--model", args.model)) if not value]
    if missing:
        raise UsageError(f"`minitrans glue {args.action}` needs {' and '.join(missing)} "
                         f"(tasks: {', '.join(TASKS)})")
    tasks = [name.strip() for name in args.task.split(",")]
    unknown = [name for name in tasks if name not in TASKS]
    if unknown:
        raise UsageError(f"unknown GLUE task {unknown[0]!r}; expected one of {', '.join(TASKS)} "
                         "(or several, comma-separated, for a T5)")
    if len(set(tasks)) != len(tasks):
        raise UsageError(f"--task {args.task}: name each task once")
    if args.action == "eval" and (args.resume or args.minutes or args.steps or args.bfloat16):
        raise UsageError("--resume, --minutes, --steps and --bfloat16 are for `glue train`")
    if len(tasks) == 1 and (args.mixing != "proportional" or args.mixing_limit):
        raise UsageError("--mixing and --mixing-limit mix several tasks: give --task A,B,...")
    if args.temperature != 1.0 and args.mixing != "temperature":
        raise UsageError("--temperature is for --mixing temperature")
    parse_strategy(args.strategy)
    out = output_folder(args, f"outputs/glue/{'+'.join(tasks)}") if args.action == "train" else None
    model, tokenizer = glue.load_glue_model(args.model, tasks[0], scratch=args.scratch and not args.resume,
                                            seed=args.seed, dropout=args.dropout, pooling=args.pooling)
    if len(tasks) > 1 and not glue.is_text_to_text(model):
        raise UsageError(f"--task {args.task}: several tasks need a T5 checkpoint (one model, every task as text); "
                         f"{args.model} is not one")
    if args.action == "train":
        with training_precision(args):
            model = glue.train_glue(model, tokenizer, tasks, out, minutes=args.minutes, steps=args.steps,
                                    epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                    warmup_steps=args.warmup, max_length=args.max_length, strategy=args.strategy,
                                    unfreeze_every=args.unfreeze_every, seed=args.seed, eval_every=args.eval_every,
                                    save_every=args.save_every, started=started, data_folder=args.data,
                                    limit=args.limit, mixing=args.mixing, mixing_limit=args.mixing_limit,
                                    temperature=args.temperature, resume=args.resume, overwrite=args.overwrite,
                                    source=args.model)
    scores = {name: glue.evaluate_glue_model(model, tokenizer, name, args.split, max_length=args.max_length,
                                             data_folder=args.data) for name in tasks}
    if len(tasks) == 1:
        scores = scores[tasks[0]]
    print(json.dumps(scores, indent=1))
    if args.action == "train":  # the scores go into the model card and beside the model
        from minitrans.checkpoints import write_model_card
        info = json.loads((out / "training.json").read_text())
        write_model_card(out / "model", model, **glue.glue_card(info, scores if args.split == "dev" else None))
        (out / f"{args.split}_scores.json").write_text(json.dumps(scores, indent=1))
    return 0


# --------------------------------------------------------------------------- the parser


def build_parser() -> Parser:
    parser = Parser(prog="minitrans", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"minitrans {minitrans.__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the whole traceback")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    raw = argparse.RawDescriptionHelpFormatter

    lesson = commands.add_parser("lesson", help="run a step-through lesson", formatter_class=raw,
                                 epilog="example:\n  minitrans lesson 01 --quick")
    lesson.add_argument("number", help="a lesson number such as 01, or 'list'")

    exercise = commands.add_parser("exercise", help="unit-test exercises", formatter_class=raw,
                                   epilog="example:\n  minitrans exercise start EncoderBlock --dir my_exercises\n"
                                          "  minitrans exercise check EncoderBlock --dir my_exercises")
    exercise.add_argument("action", choices=["list", "start", "check", "hint"], help="what to do")
    exercise.add_argument("name", nargs="?", help="the exercise (see `minitrans exercise list`)")
    exercise.add_argument("--dir", default="exercises", help="folder of your copies (default: exercises)")
    exercise.add_argument("--force", action="store_true", help="start: overwrite an existing copy")
    exercise.add_argument("--timeout", type=positive_float, default=60.0,
                          help="check: seconds the checks may take before they are stopped (default 60)")

    pretrain = commands.add_parser("pretrain", help="pre-train a model from scratch on a text corpus",
                                   formatter_class=raw, epilog="examples:\n"
                                   "  minitrans pretrain bert --steps 300 --out outputs/bert\n"
                                   "  minitrans pretrain bert --out outputs/bert --resume   # after Ctrl-C")
    pretrain.add_argument("model", choices=["bert", "t5"], help="BERT (masked LM + NSP) or T5 (span corruption)")
    pretrain.add_argument("--corpus", help="a text file, .gz, or a folder of them (default: data/facts_corpus.txt)")
    pretrain.add_argument("--config", default="mini", help="tiny, mini, base (BERT: or a config.json; T5: or small)")
    pretrain.add_argument("--vocab", help="BERT: vocab.txt or a folder holding one; T5: a spiece.model "
                          "(default: learn one from the corpus; T5 uses ../shared/data/t5/spiece.model if present)")
    pretrain.add_argument("--vocab-size", type=positive_int, default=8000, help="when learning the vocabulary")
    pretrain.add_argument("--target-length", type=positive_int, default=32, help="T5: span-corruption target length")
    pretrain.add_argument("--steps", type=positive_int, help="training steps (default 300 unless --minutes)")
    pretrain.add_argument("--minutes", type=positive_float, help="stop after this many minutes of wall clock")
    pretrain.add_argument("--batch-size", type=positive_int, default=32, help="sequences per step (default 32)")
    pretrain.add_argument("--max-length", type=positive_int, default=128, help="sequence (T5: input) length")
    pretrain.add_argument("--lr", type=positive_float, default=1e-4, help="peak learning rate (default 1e-4)")
    pretrain.add_argument("--warmup", type=int, default=100, help="warm-up steps (default 100)")
    pretrain.add_argument("--eval-every", type=positive_int, default=50, help="steps between held-out figures")
    pretrain.add_argument("--save-every", type=positive_int, default=200, help="steps between checkpoints (default 200)")
    pretrain.add_argument("--max-chars", type=positive_int, help="read only the first N characters of the corpus")
    pretrain.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    pretrain.add_argument("--out", help="folder for the model, vocabulary, history and checkpoints "
                          "(default outputs/pretrain_MODEL)")
    pretrain.add_argument("--resume", action="store_true", help="continue the run saved in --out exactly")
    pretrain.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    pretrain.add_argument("--overwrite", action="store_true", help="replace what --out holds")

    pipe = commands.add_parser("pipeline", help="run a pipeline (fill-mask, text-classification, ...) on texts",
                               formatter_class=raw, epilog="examples:\n"
                               '  minitrans pipeline fill-mask --model DIR "Paris is the [MASK] of France."\n'
                               '  minitrans pipeline question-answering --model DIR "Who ruled?" --context "Rollo ruled."')
    pipe.add_argument("task", help="feature-extraction, text-classification (sentiment-analysis), fill-mask, "
                                   "question-answering, text2text-generation, summarization, translation")
    pipe.add_argument("texts", nargs="+", help="the texts (for question-answering: the question)")
    pipe.add_argument("--model", required=True, help="a checkpoint folder (config.json, model.safetensors, tokenizer)")
    pipe.add_argument("--context", help="question-answering: the text to find the answer in")

    glue = commands.add_parser("glue", help="fine-tune and score on GLUE tasks (SST-2, CoLA, MRPC, RTE, STS-B, WNLI)",
                               formatter_class=raw, epilog="examples:\n"
                               "  minitrans glue list\n"
                               "  minitrans glue train --task RTE --model FOLDER --minutes 10 --out outputs/glue/rte\n"
                               "  minitrans glue train --task MRPC --model FOLDER --strategy adapters-32 --epochs 3\n"
                               "  minitrans glue train --task SST-2,MRPC,RTE --model T5_FOLDER --mixing equal --steps 500\n"
                               "  minitrans glue eval --task RTE --model outputs/glue/rte/model")
    glue.add_argument("action", choices=["train", "eval", "list"], help="what to do")
    glue.add_argument("--task", help="SST-2, CoLA, MRPC, RTE, STS-B or WNLI; a T5 takes several, comma-separated "
                      "(e.g. SST-2,MRPC,RTE): one model fine-tuned on their mixture")
    glue.add_argument("--model", help="a checkpoint folder: BERT-style (a classification head is added) or T5 "
                      "(the task as text)")
    glue.add_argument("--scratch", action="store_true", help="random weights with the checkpoint's config and vocabulary")
    glue.add_argument("--strategy", default="all", help="train: all, feature (the head only), adapters-D "
                      "(adapters of bottleneck D, e.g. adapters-32), gradual (unfreezing block by block)")
    glue.add_argument("--unfreeze-every", type=positive_int,
                      help="gradual: steps between unfreezing one more block (default: the planned steps shared "
                           "evenly by the head, each block and the embeddings, as in the T5 paper)")
    glue.add_argument("--minutes", type=positive_float, help="train: wall-clock budget, tokenisation included")
    glue.add_argument("--steps", type=positive_int, help="train: optimisation steps (the learning rate decays to 0 there)")
    glue.add_argument("--epochs", type=positive_int, default=3, help="train: passes over the data (default 3)")
    glue.add_argument("--batch-size", type=positive_int, default=32, help="train: examples per step (default 32)")
    glue.add_argument("--lr", type=positive_float, help="train: peak learning rate (default 5e-5; "
                      "1e-3 for feature and adapters)")
    glue.add_argument("--warmup", type=int, help="train: warm-up steps (default a tenth of the steps)")
    glue.add_argument("--max-length", type=positive_int, default=128, help="tokens per example (default 128)")
    glue.add_argument("--limit", type=positive_int, help="train: use only the first N training examples (of each task)")
    glue.add_argument("--mixing", default="proportional", choices=["proportional", "temperature", "equal"],
                      help="several tasks: how often each is drawn (T5 paper 3.5.2; default proportional)")
    glue.add_argument("--mixing-limit", type=positive_int, help="several tasks: K, the most examples a task "
                      "counts for in proportional and temperature mixing (default no limit)")
    glue.add_argument("--temperature", type=positive_float, default=1.0,
                      help="several tasks, --mixing temperature: T (1 is proportional; larger is closer to equal)")
    glue.add_argument("--split", default="dev", choices=["dev", "train"], help="the split to score (default dev)")
    glue.add_argument("--eval-every", type=positive_int, help="train: score the dev set every N steps (logged)")
    glue.add_argument("--save-every", type=positive_int, default=200, help="train: steps between checkpoints")
    glue.add_argument("--dropout", type=rate, help="train: replace the checkpoint's dropout rates")
    glue.add_argument("--pooling", choices=["cls", "mean"], help="train, a BERT: what the new head reads: the "
                      "pooled [CLS] vector (default) or the tokens' mean (a sentence-embedding checkpoint's vector)")
    glue.add_argument("--data", help="the GLUE folder (default ../shared/data/glue or $MINITRANS_DATA/glue)")
    glue.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    glue.add_argument("--out", help="train: folder for the model, logs and checkpoints (default outputs/glue/TASK)")
    glue.add_argument("--resume", action="store_true", help="train: continue the run saved in --out exactly")
    glue.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    glue.add_argument("--overwrite", action="store_true", help="train: replace what --out holds")

    card = commands.add_parser("card", help="print a checkpoint folder's model card (README.md)")
    card.add_argument("folder", help="a folder saved by minitrans (save_pretrained, qa train, pretrain)")

    tour = commands.add_parser("tour", help="the main demo: pre-train, fine-tune for QA, answer questions",
                               formatter_class=raw, epilog="example:\n  minitrans tour --quick")
    tour.add_argument("--quick", action="store_true", help="a one-minute version")
    tour.add_argument("--model", help="a BERT checkpoint folder to fine-tune (default: all-MiniLM-L6-v2 if installed)")
    tour.add_argument("--squad", help="a SQuAD file to fine-tune on instead of data/mini_squad.json")
    tour.add_argument("--limit", type=positive_int, help="with --squad: its first N questions")
    tour.add_argument("--steps", type=positive_int, help="fine-tuning steps (default 90)")
    tour.add_argument("--out", default="outputs/tour", help="folder for the demo's files (default outputs/tour)")

    demo = commands.add_parser("demo", help="a teaching demo, written as one self-contained HTML page", formatter_class=raw,
                               epilog="examples:\n  minitrans demo list\n"
                               "  minitrans demo attention --text 'The animal was too tired.' --out attention.html\n"
                               "  minitrans demo span-corruption --text 'Any text you like.'\n"
                               "  minitrans demo embeddings --word bank --text 'the bank of the river | a bank loan'")
    demo.add_argument("name", help="list, or the demo: attention, masking, span-corruption, peek, embeddings")
    demo.add_argument("--out", help="the HTML file to write (default outputs/demos/NAME.html)")
    demo.add_argument("--model", help="attention, masking: a checkpoint folder (attention: default all-MiniLM-L6-v2; "
                      "masking: one with a masked-LM head, default a small BERT pre-trained here)")
    demo.add_argument("--text", help="your text (embeddings: sentences holding --word, separated by |)")
    demo.add_argument("--pair", help="attention: a second sentence (segment B)")
    demo.add_argument("--word", help="embeddings: the word to follow (default right)")
    demo.add_argument("--vocab", help="span-corruption: a SentencePiece model (default T5's, ../shared/data/t5)")
    demo.add_argument("--steps", type=positive_int, help="masking, embeddings: training steps of the models made here")
    demo.add_argument("--draws", type=positive_int, help="masking, span-corruption: random draws the page cycles through")
    demo.add_argument("--seed", type=int, help="the random draws' and the training's seed (default 0)")

    qa = commands.add_parser("qa", help="extractive question answering (SQuAD)", formatter_class=raw,
                             epilog="examples:\n"
                             "  minitrans qa train --model FOLDER --train train.json --eval dev.json --out outputs/qa\n"
                             "  minitrans qa train --model FOLDER --train train.json --out outputs/qa --resume\n"
                             "  minitrans qa ask --model outputs/qa/model --question 'Who?' --context 'Ada did.'")
    qa.add_argument("action", choices=["train", "eval", "predict", "ask"], help="what to do")
    qa.add_argument("--model", help="a checkpoint folder (config.json, model.safetensors, vocab.txt): BERT or DistilBERT")
    qa.add_argument("--scratch", action="store_true", help="random weights with the checkpoint's config and vocabulary")
    qa.add_argument("--train", help="SQuAD JSON (.json or .json.gz) to fine-tune on")
    qa.add_argument("--eval", help="SQuAD JSON to score with the official metric")
    qa.add_argument("--input", help="predict: SQuAD JSON whose questions to answer")
    qa.add_argument("--output", help="predict: where to write {id: answer}")
    qa.add_argument("--question", help="ask: the question")
    qa.add_argument("--context", help="ask: the text to find the answer in")
    qa.add_argument("--out", help="train: folder for the model, logs and checkpoints (default outputs/qa); "
                    "eval: for the predictions and scores")
    qa.add_argument("--version-2", action="store_true", help="SQuAD 2.0: predict no answer when [CLS] wins")
    qa.add_argument("--minutes", type=positive_float, help="train: wall-clock budget, tokenisation included")
    qa.add_argument("--steps", type=positive_int, help="train: optimisation steps (the learning rate decays to 0 there)")
    qa.add_argument("--epochs", type=positive_int, help="train: passes over the data (default: 1 for 10,000 windows "
                    "or more, else 4; `qa train` says what it chose)")
    qa.add_argument("--batch-size", type=positive_int, default=16, help="train: windows per step (default 16)")
    qa.add_argument("--lr", type=positive_float, help="train: peak learning rate (default 2e-4 for 10,000 "
                    "windows or more, else 1e-4)")
    qa.add_argument("--warmup", type=int, help="train: warm-up steps (default a tenth of the steps, at most 100)")
    qa.add_argument("--max-length", type=positive_int, default=384, help="tokens per window (default 384)")
    qa.add_argument("--stride", type=positive_int, default=128, help="tokens shared by neighbouring windows (default 128)")
    qa.add_argument("--limit", type=positive_int, help="train: use only the first N questions")
    qa.add_argument("--eval-limit", type=positive_int, help="eval: score only the first N questions")
    qa.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    qa.add_argument("--dropout", type=rate, help="train: replace the checkpoint's dropout rates (default: 0 for "
                    "10,000 windows or more, else the checkpoint's)")
    qa.add_argument("--save-every", type=positive_int, default=200, help="train: steps between checkpoints (default 200)")
    qa.add_argument("--resume", action="store_true", help="train: continue the run saved in --out exactly")
    qa.add_argument("--bfloat16", action="store_true", help=BFLOAT16_HELP)
    qa.add_argument("--overwrite", action="store_true", help="train: replace what --out holds")
    return parser


def cmd_pipeline(args) -> int:
    """Run a pipeline on texts from the command line; print one JSON answer per text."""
    import json

    from minitrans.pipelines import MODEL_TASKS, pipeline

    if args.task not in MODEL_TASKS:
        raise UsageError(f"unknown pipeline task {args.task!r}; minitrans has {', '.join(MODEL_TASKS)}")
    if args.task == "question-answering":
        if args.context is None or len(args.texts) != 1:
            raise UsageError('question-answering takes one question and --context: '
                             'minitrans pipeline question-answering --model DIR "Who ...?" --context "..."')
        inputs = [{"question": args.texts[0], "context": args.context}]
    else:
        if args.context is not None:
            raise UsageError("--context is for question-answering only")
        inputs = args.texts
    run_pipeline = pipeline(args.task, args.model)
    for answer in run_pipeline(inputs):
        print(json.dumps(answer if args.task != "feature-extraction" else
                         {"tokens": len(answer[0]), "hidden_size": len(answer[0][0]), "first_vector": answer[0][0][:4]},
                         ensure_ascii=False))
    return 0


def cmd_demo(args) -> int:
    from minitrans.demos import DEMOS, demo_module, write_demo

    if args.name == "list":
        for name, what in DEMOS.items():
            print(f"{name:<16} {what}")
        return 0
    demo_module(args.name)  # an unknown name: the list of demos, before any work
    options = {key: getattr(args, key) for key in ("model", "text", "pair", "word", "vocab", "steps", "draws", "seed")
               if getattr(args, key) is not None}
    path = write_demo(args.name, args.out, **options)
    print(f"wrote {path} ({path.stat().st_size / 1e3:,.0f} kB): open {path.resolve().as_uri()} in a browser")
    return 0


def run(args, rest) -> int:
    if args.command == "lesson":
        return cmd_lesson(args, rest)
    if rest:
        raise UsageError(f"unrecognized arguments: {' '.join(rest)} (`minitrans {args.command} --help`)")
    if args.command == "pretrain":
        return cmd_pretrain(args)
    if args.command == "qa":
        return cmd_qa(args)
    if args.command == "pipeline":
        return cmd_pipeline(args)
    if args.command == "glue":
        return cmd_glue(args)
    if args.command == "card":
        from minitrans.checkpoints import read_model_card
        print(read_model_card(args.folder))
        return 0
    if args.command == "demo":
        return cmd_demo(args)
    if args.command == "tour":
        from minitrans.tour import tour
        tour(args.out, model=args.model, squad=args.squad, quick=args.quick, steps=args.steps, limit=args.limit)
        return 0
    return cmd_exercise(args)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the `minitrans` command itself, not a call from Python: glibc's huge pages
        minitrans.restart_with_huge_pages()
    from minitrans.training.trainer import TrainingDiverged, TrainingInterrupted

    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args, rest = build_parser().parse_known_args(argv)
        return run(args, rest)
    except TrainingInterrupted as stop:
        where = f"; the checkpoint {stop.checkpoint} holds it" if stop.checkpoint else " (no output folder: nothing saved)"
        print(f"\nminitrans: interrupted at step {stop.step}{where}", file=sys.stderr)
        if stop.checkpoint:
            again = [a for a in argv if a not in ("--resume", "--overwrite")]
            print(f"resume with: minitrans {' '.join(again)} --resume", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nminitrans: interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, OSError, KeyError, TrainingDiverged) as error:
        if debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        print(f"minitrans: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
