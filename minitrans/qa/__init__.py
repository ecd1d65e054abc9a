"""Question answering: extractive (BERT points at a span of the context, SQuAD), text to text
(T5 writes the answer, with or without a context), and the SQuAD metrics both are scored with.

    minitrans.qa.extractive     features (windows, labels), post-processing, QuestionAnswerer
    minitrans.qa.squad          fine-tune, predict and evaluate on SQuAD files (`minitrans qa`)
    minitrans.qa.text_to_text   "question: Q context: C" -> "A" with T5
    minitrans.qa.metrics        exact match and F1 as the official SQuAD v1.1 and v2.0 scripts
"""

from minitrans.qa.extractive import (  # noqa: F401
                                     QuestionAnswerer,
                                     postprocess_qa_predictions,
                                     predict_logits,
                                     prepare_train_features,
                                     prepare_validation_features,
                                     qa_loss,
)
from minitrans.qa.metrics import f1_score, normalize_answer, squad_evaluate, squad_v2_evaluate  # noqa: F401
