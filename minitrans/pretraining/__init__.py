"""Pre-training objectives and loops: BERT's masked LM + next-sentence prediction."""
