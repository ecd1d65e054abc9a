"""Tokenizers: BERT's WordPiece (written here) and T5's SentencePiece (the sentencepiece package)."""

from minitrans.tokenizers.wordpiece import Encoding, WordPieceTokenizer, check_text, tokenize_word  # noqa: F401


def load_tokenizer(folder, model_type: str):
    """The tokenizer saved beside a checkpoint: vocab.txt (BERT, DistilBERT) or spiece.model (T5)."""
    from pathlib import Path

    if model_type == "t5":
        from minitrans.tokenizers.sentencepiece import T5Tokenizer

        return T5Tokenizer.from_file(Path(folder) / "spiece.model")
    return WordPieceTokenizer.from_pretrained(folder)
