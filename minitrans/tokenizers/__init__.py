"""Tokenizers: BERT's WordPiece (written here) and T5's SentencePiece (the sentencepiece package)."""

from minitrans.tokenizers.wordpiece import Encoding, WordPieceTokenizer, check_text, tokenize_word  # noqa: F401
