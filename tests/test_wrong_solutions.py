"""Every exercise's checks catch plausible wrong solutions, not only the untouched stub.

Each entry below is a mistake students make, written as an edit of the solved copy (`old` ->
`new`); the graded checks must fail at least one check on it, and not because the copy does
not load. `minitrans exercise check` runs the same checks.
"""

import pytest

from minitrans import exercises

# name -> [(the mistake, old text of the solution, new text)]
WRONG = {
    "scaled_dot_product_attention": [
        ("no 1/sqrt(d) scaling", "scores = scores / jnp.sqrt(jnp.asarray(q.shape[-1], scores.dtype))", "scores = scores"),
        ("scaled by d, not sqrt(d)", "scores / jnp.sqrt(jnp.asarray(q.shape[-1], scores.dtype))",
         "scores / q.shape[-1]"),
        ("softmax over the query axis", "axis=-1).astype(q.dtype)", "axis=-2).astype(q.dtype)"),
        ("masked scores set to 0 instead of a huge negative number", "jnp.where(mask, scores, jnp.finfo(scores.dtype).min)",
         "jnp.where(mask, scores, 0.0)"),
        ("masked weights not zeroed after the softmax", "weights = jnp.where(mask, weights, 0.0)", "weights = weights"),
        ("dropout ignored", "        weights = dropout(weights)\n", "        pass\n"),
    ],
    "causal_mask": [
        ("a query cannot see itself", "key_positions <= query_positions", "key_positions < query_positions"),
        ("the cache offset ignored", "jnp.arange(query_length)[:, None] + offset", "jnp.arange(query_length)[:, None]"),
        ("upper triangular", "key_positions <= query_positions", "key_positions >= query_positions"),
    ],
    "prefix_lm_mask": [
        ("causal AND prefix instead of OR", "((key <= query) | in_prefix)", "((key <= query) & in_prefix)"),
        ("the prefix one token too long", "in_prefix = key < prefix_lengths", "in_prefix = key <= prefix_lengths"),
        ("the prefix decided by the query's position", "in_prefix = key < prefix_lengths[:, None, None]",
         "in_prefix = query < prefix_lengths[:, None, None]"),
    ],
    "FeedForwardBlock": [
        ("no LayerNorm in the pre-LN block", "super().__init__(LayerNorm(d_model, eps=layer_norm_eps), widen, act,",
         "super().__init__(widen, act,"),
        ("the gated activation's width not doubled", "d_ff * (2 if act.is_gated else 1)", "d_ff"),
        ("post-LN keeps the middle dropout", "super().__init__(widen, act, narrow, Dropout(dropout_rate, **dropout))",
         "super().__init__(widen, act, Dropout(dropout_rate, **dropout), narrow, Dropout(dropout_rate, **dropout))"),
        ("the activation argument ignored", "act = Activation(activation)", "act = Activation('relu')"),
        ("dropout only at the end (pre-LN)", "Dropout(dropout_rate, **dropout), narrow, Dropout(dropout_rate, **dropout))",
         "narrow, Dropout(dropout_rate, **dropout))"),
    ],
    "EncoderBlock": [
        ("norm_position ignored (always pre-LN)", "        if norm_position == \"pre\":\n            super()",
         "        if True:\n            super()"),
        ("post-LN block with a LayerNorm left inside the feed-forward block",
         "norm_position=norm_position, layer_norm_eps=layer_norm_eps,",
         "norm_position=\"pre\", layer_norm_eps=layer_norm_eps,"),
        ("post-LN block missing its last LayerNorm",
         "Residual(feed_forward, post_norm=LayerNorm(d_model, eps=layer_norm_eps)))", "Residual(feed_forward))"),
        ("attention dropout rate not passed on",
         "MultiHeadAttention(d_model, num_heads, head_dim=head_dim, dropout_rate=attention_dropout_rate,",
         "MultiHeadAttention(d_model, num_heads, head_dim=head_dim,"),
        ("head_dim not passed on", "MultiHeadAttention(d_model, num_heads, head_dim=head_dim,",
         "MultiHeadAttention(d_model, num_heads,"),
        ("no dropout in the attention residual",
         "super().__init__(Residual(LayerNorm(d_model, eps=layer_norm_eps), attention, dropout),",
         "super().__init__(Residual(LayerNorm(d_model, eps=layer_norm_eps), attention),"),
    ],
    "TransformerEncoder": [
        ("pooling='all' ignored", 'if self.pooling == "all":', "if False:"),
        ("no embedding dropout", "x = self.positions(self.dropout(self.embedding(input_ids)))",
         "x = self.positions(self.embedding(input_ids))"),
        ("dropout after adding the positions", "x = self.positions(self.dropout(self.embedding(input_ids)))",
         "x = self.dropout(self.positions(self.embedding(input_ids)))"),
        ("the mean over padding too", "pooled = (x * real).sum(1) / jnp.maximum(real.sum(1), 1.0)", "pooled = x.mean(1)"),
        ("no final LayerNorm", "        x = self.norm(x)\n", ""),
        ("logits, not log-probabilities", "return jax.nn.log_softmax(self.head(pooled), axis=-1)",
         "return self.head(pooled)"),
    ],
    "BertEmbeddings": [
        ("dropout before the LayerNorm", "return self.dropout(self.norm(x))", "return self.norm(self.dropout(x))"),
        ("no segment embeddings by default",
         "        if token_type_ids is None:\n            token_type_ids = jnp.zeros_like(input_ids)\n",
         "        if token_type_ids is None:\n            return self.dropout(self.norm(self.word_embeddings(input_ids)"
         " + self.position_embeddings(jnp.arange(input_ids.shape[1])[None, :])))\n"),
        ("positions counted from 1", "positions = jnp.arange(input_ids.shape[1])[None, :]",
         "positions = jnp.arange(1, input_ids.shape[1] + 1)[None, :]"),
    ],
    "mask_tokens": [
        ("one 80/10/10 action per row", "action = rng.random(count)", "action = np.full(count, rng.random())"),
        ("a random id can never be vocab_size - 1", "ordinary = np.setdiff1d(np.arange(vocab_size), special)",
         "ordinary = np.setdiff1d(np.arange(vocab_size - 1), special)"),
        ("special tokens may be chosen", "candidates = np.flatnonzero(~np.isin(input_ids[row], special))",
         "candidates = np.arange(len(input_ids[row]))"),
        ("the input modified in place", "ids, labels = input_ids.copy(), np.full_like(input_ids, IGNORE)",
         "ids, labels = input_ids, np.full_like(input_ids, IGNORE)"),
        ("the random replacement may be a special token", "ids[row, randomised] = rng.choice(ordinary, size=len(randomised))",
         "ids[row, randomised] = rng.integers(0, vocab_size, size=len(randomised))"),
    ],
    "make_nsp_pairs": [
        ("a random B may come from A's own document", "other += other >= d  # any document but this one\n", "\n"),
        ("labels swapped", "pairs.append((doc[i], doc[i + 1], 0))", "pairs.append((doc[i], doc[i + 1], 1))"),
        ("the last sentence used as A too", "        for i in range(len(doc) - 1):\n",
         "        for i in range(len(doc)):\n            if i == len(doc) - 1:\n"
         "                pairs.append((doc[i], documents[d - 1][0], 1))\n                continue\n"),
    ],
    "tokenize_word": [
        ("shortest match first", "        end = len(word)\n        while end > start:\n", "        end = start + 1\n"
         "        while end <= len(word):\n            piece = word[start:end] if start == 0 else \"##\" + word[start:end]\n"
         "            if piece in vocab:\n                break\n            end += 1\n        if end > len(word):\n"
         "            end = start\n        while False:\n"),
        ("[UNK] for the missing piece only", "        if end == start:\n            return [unk_token]",
         "        if end == start:\n            pieces.append(unk_token)\n            start += 1\n            continue"),
        ("no ## on continuation pieces", 'piece = word[start:end] if start == 0 else "##" + word[start:end]',
         "piece = word[start:end]"),
    ],
    "context_windows": [
        ("the centre word in its own context", "list(words[i - half_window:i]) + list(words[i + 1:i + half_window + 1])",
         "list(words[i - half_window:i + half_window + 1])"),
        ("the last centre word missed", "range(half_window, len(words) - half_window)",
         "range(half_window, len(words) - half_window - 1)"),
    ],
    "LSTMCell": [
        ("gates in the wrong order", "i, f, g, o = jnp.split(", "i, f, o, g = jnp.split("),
        ("no tanh on the cell state", "h = jax.nn.sigmoid(o) * jnp.tanh(c)", "h = jax.nn.sigmoid(o) * c"),
        ("the state from before the step", "h = jax.nn.sigmoid(o) * jnp.tanh(c)\n        return h, c",
         "return jax.nn.sigmoid(o) * jnp.tanh(c), carry[1]"),
    ],
    "decoder_mask": [
        ("the attention mask ignored", "pads = padding_mask(attention_mask) if attention_mask is not None else None",
         "pads = None"),
        ("causal=False ignored", "causal_mask(length) if causal else None", "causal_mask(length)"),
    ],
    "sample_top_k": [
        ("temperature multiplies", "logits = logits / temperature", "logits = logits * temperature"),
        ("the k-th token dropped too", "jnp.where(logits < kth, -jnp.inf, logits)", "jnp.where(logits <= kth, -jnp.inf, logits)"),
        ("greedy instead of sampling", "return jax.random.categorical(key, logits, axis=-1)", "return logits.argmax(-1)"),
        ("top_k ignored", "        logits = jnp.where(logits < kth, -jnp.inf, logits)\n", ""),
    ],
    "tokenize_and_mask": [
        ("a sentinel for every masked token", "            if not previous_masked:\n", "            if True:\n"),
        ("sentinels counted from vocab_size", "sentinel = vocab_size  # the next sentinel is sentinel - 1",
         "sentinel = vocab_size + 1"),
        ("masked when the draw is above the noise", "if randomizer() < noise:", "if randomizer() > noise:"),
        ("no closing sentinel", "        if targets:\n            targets.append(sentinel - 1)\n", ""),
        ("a closing sentinel when nothing was masked", "        if targets:\n            targets.append(sentinel - 1)\n",
         "        targets.append(sentinel - 1)\n"),
        ("EOS on the inputs too in the 2023 course's convention",
         "    elif convention == \"course-2023\":\n        targets.append(eos_id)\n",
         "    elif convention == \"course-2023\":\n        inputs.append(eos_id)\n        targets.append(eos_id)\n"),
        ("no EOS in the 2023 course's convention", "    elif convention == \"course-2023\":\n        targets.append(eos_id)\n", ""),
        ("the T5 ending in the first course's convention", "    if convention == \"t5\":", "    if convention != \"course-2023\":"),
    ],
    "parse_squad": [
        ("unanswerable questions kept", '                if qa.get("is_impossible", False):\n', '                if False:\n'),
        ("the last answer, not the first", "{qa['answers'][0]['text']}", "{qa['answers'][-1]['text']}"),
        ("no answer: prefix", 'f"answer: {qa', 'f"{qa'),
        ("context before question", "f\"question: {qa['question']} context: {context}\"",
         "f\"context: {context} question: {qa['question']}\""),
        ("unusable answers kept", "                if reason:\n                    counts[reason] += 1\n                    continue\n", ""),
    ],
    "answer_question": [
        ("no decoder prefix", "decoder_prefix=prefix, ", ""),
        ("the question's end kept when cut", "tokenizer.encode(question)[:encoder_maxlen]",
         "tokenizer.encode(question)[-encoder_maxlen:]"),
        ("EOS dropped", "        out.append(token)\n        if token == model.config.eos_token_id:\n            break\n",
         "        if token == model.config.eos_token_id:\n            break\n        out.append(token)\n"),
        ("sampled, not greedy", "max_new_tokens=decoder_maxlen)", "max_new_tokens=decoder_maxlen, do_sample=True)"),
        ("the decoder start token returned", "max_new_tokens=decoder_maxlen)[0, 1:]", "max_new_tokens=decoder_maxlen)[0]"),
        ("one token too many", "max_new_tokens=decoder_maxlen)", "max_new_tokens=decoder_maxlen + 1)"),
    ],
    "learn_bpe": [
        ("the least frequent pair", "best = max(pairs, key=pairs.get)", "best = min(pairs, key=pairs.get)"),
        ("the largest pair alphabetically", "best = max(pairs, key=pairs.get)", "best = max(pairs)"),
        ("the words never merged", "        words = merge_pair(best, words)\n", ""),
        ("ties to the pair seen last", "best = max(pairs, key=pairs.get)",
         "best = max(reversed(list(pairs)), key=pairs.get)"),
    ],
    "clipped_ngram_matches": [
        ("not clipped", "sum(min(n, most[gram]) for gram, n in counts.items())",
         "sum(n for gram, n in counts.items() if most[gram])"),
        ("clipped by the sum over references", "        most |= ngrams(reference, order)  # | keeps the larger count of each n-gram",
         "        most += ngrams(reference, order)"),
        ("distinct n-grams counted as the total", "max(0, len(hypothesis) - order + 1)", "len(counts)"),
    ],
    "brevity_penalty": [
        ("the ratio upside down", "math.exp(1 - reference_length / hypothesis_length)",
         "math.exp(1 - hypothesis_length / reference_length)"),
        ("longer output penalised too", "    if hypothesis_length >= reference_length:\n        return 1.0\n",
         "    if hypothesis_length == reference_length:\n        return 1.0\n"),
        ("empty output divides by zero", " if hypothesis_length > 0 else 0.0", ""),
    ],
    "relative_position_bucket": [
        ("keys after the query in the lower half", "side = jnp.where(relative_position > 0, num_buckets, 0)",
         "side = jnp.where(relative_position < 0, num_buckets, 0)"),
        ("far distances not capped", "far = jnp.minimum(exact + (far * (num_buckets - exact)).astype(distance.dtype), num_buckets - 1)",
         "far = exact + (far * (num_buckets - exact)).astype(distance.dtype)"),
        ("the decoder counts distance both ways", "distance = jnp.maximum(-relative_position, 0)",
         "distance = jnp.abs(relative_position)"),
    ],
    "shift_right": [
        ("-100 left in the decoder input", "return jnp.where(shifted == IGNORE, pad_token_id, shifted)", "return shifted"),
        ("shifted left", "jnp.full_like(labels[:, :1], decoder_start_token_id), labels[:, :-1]",
         "labels[:, 1:], jnp.full_like(labels[:, :1], decoder_start_token_id)"),
        ("the start token hard-coded", "jnp.full_like(labels[:, :1], decoder_start_token_id)", "jnp.zeros_like(labels[:, :1])"),
    ],
    "greedy_generate": [
        ("EOS ignored", "        done = done | (token == model.config.eos_token_id)\n", ""),
        ("the attention mask ignored", "encoder_output = model.encode(input_ids, attention_mask)",
         "encoder_output = model.encode(input_ids)"),
        ("scores of the first position", "attention_mask)[:, -1]  # (batch, vocab)", "attention_mask)[:, 0]"),
        ("never stops early", "        if bool(done.all()):\n            break\n", ""),
    ],
    "decoder_only_mask": [
        ("padding forgotten", "return combine_masks(pattern, padding_mask(attention_mask))", "return pattern"),
        ("prefix ignored", "pattern = causal_mask(length) if prefix_lengths is None else prefix_lm_mask(prefix_lengths, length)",
         "pattern = causal_mask(length)"),
    ],
    "mixing_rates": [
        ("the limit K ignored", "min(n, limit) if limit else n", "n"),
        ("temperature as a power T, not 1/T", "rates = rates ** (1.0 / temperature)", "rates = rates ** temperature"),
        ("no renormalisation after the temperature", "        rates = rates / rates.sum()\n    return", "    return"),
    ],
    "trainable_mask": [
        ("the pattern matched against the last name only",
         "keep = [\"/\".join(str(p) for p in path) for path, _ in flat]", "keep = [str(path[-1]) for path, _ in flat]"),
        ("the mask inverted", "marks = [any(", "marks = [not any("),
    ],
    "warmup_schedule": [
        ("decay over total_steps after the warm-up", "decay_steps = max(total_steps - warmup_steps, 1)",
         "decay_steps = total_steps"),
        ("no warm-up", "    if not warmup_steps:\n        return decay\n", "    return decay\n"),
        ("cosine decays to 0 linearly", "decay = optax.cosine_decay_schedule(learning_rate, decay_steps)",
         "decay = optax.linear_schedule(learning_rate, 0.0, decay_steps)"),
    ],
    "Adapter": [
        ("up not started at zero", "self.up = Dense(size, d_model, kernel_init=nnx.initializers.zeros, rngs=rngs)",
         "self.up = Dense(size, d_model, rngs=rngs)"),
        ("no residual", "return h + self.up(jax.nn.relu(self.down(h)))", "return self.up(jax.nn.relu(self.down(h)))"),
        ("no non-linearity", "return h + self.up(jax.nn.relu(self.down(h)))", "return h + self.up(self.down(h))"),
    ],
    "normalize_answer": [
        ("Unicode punctuation stripped by a regular expression",
         "    text = \"\".join(ch for ch in text if ch not in PUNCTUATION)\n",
         "    text = re.sub(r\"[^\\w\\s]\", \"\", text)\n"),
        ("articles before punctuation", "    text = \"\".join(ch for ch in text if ch not in PUNCTUATION)\n"
         "    text = ARTICLES.sub(\" \", text)\n", "    text = ARTICLES.sub(\" \", text)\n"
         "    text = \"\".join(ch for ch in text if ch not in PUNCTUATION)\n"),
        ("not lower-cased", "    text = text.lower()\n", ""),
    ],
    "f1_score": [
        ("a set overlap", "common = collections.Counter(predicted) & collections.Counter(gold)\n"
         "    same = sum(common.values())", "same = len(set(predicted) & set(gold))"),
        ("no normalisation", "predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()",
         "predicted, gold = prediction.split(), truth.split()"),
        ("the overlap over the union (Jaccard)",
         "precision, recall = same / len(predicted), same / len(gold)\n"
         "    return 2 * precision * recall / (precision + recall)",
         "return same / (len(predicted) + len(gold) - same)"),
    ],
    "prepare_train_features": [
        ("half an answer labelled too",
         "if offsets[context[0]][0] <= start_char and offsets[context[-1]][1] >= end_char:",
         "if offsets[context[0]][0] <= end_char and offsets[context[-1]][1] >= start_char:"),
        ("the end one token too far", "end = next(i for i in reversed(context) if offsets[i][0] < end_char)",
         "end = next(i for i in reversed(context) if offsets[i][0] < end_char) + 1"),
        ("positions counted from the context's first token",
         "start = next(i for i in context if offsets[i][1] > start_char)",
         "start = next(i for i in context if offsets[i][1] > start_char) - context[0]"),
    ],
    "postprocess_qa_predictions": [
        ("end before start allowed", "or b < a or", "or"),
        ("max_answer_length ignored", " or b - a + 1 > max_answer_length:", ":"),
        ("question tokens allowed", "if offsets[a] is None or offsets[b] is None or b < a",
         "if b < a"),
        ("the product of the scores", "spans.append((float(s[a] + e[b])", "spans.append((float(s[a] * e[b])"),
    ],
}
CASES = [(name, *mistake) for name, mistakes in WRONG.items() for mistake in mistakes]


def test_every_exercise_has_plausible_wrong_solutions():
    assert set(WRONG) == set(exercises.load_all()), "every exercise needs wrong solutions its checks catch"
    assert all(len(mistakes) >= 2 for mistakes in WRONG.values())


@pytest.mark.parametrize("name,mistake,old,new", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
@pytest.mark.slow
def test_the_checks_catch_it(name, mistake, old, new, tmp_path):
    path = exercises.start(name, tmp_path, keep_solution=True)
    source = path.read_text()
    assert source.count(old) == 1, f"the edit for {mistake!r} does not apply to the solution of {name}"
    path.write_text(source.replace(old, new))
    results, text = exercises.check(name, tmp_path, first_failure=True)
    assert "does not import" not in text and "defines no" not in text, text
    assert not all(r.passed for r in results), f"{name}: the checks let '{mistake}' pass:\n{text}"


# tokenize_and_mask as a student brings it from either version of the course: the course's
# signature (tokenize= in the first version, tokenizer= in the 2023 one), graded by that
# version's rules. Written here in our own words.
FIRST_COURSE = '''
def tokenize_and_mask(text, vocab_size=32000, noise=0.15, randomizer=None, tokenize=None):
    spans, hidden_before = 0, False
    source, target = [], []
    for token in tokenize(text):
        hide = randomizer() < noise
        if hide and not hidden_before:
            spans += 1
            source.append(vocab_size - spans)
            target.append(vocab_size - spans)
        (target if hide else source).append(token)
        hidden_before = hide
    return source, target
'''
COURSE_2023 = '''
def tokenize_and_mask(text, noise=0.15, randomizer=None, tokenizer=None):
    size, end = int(tokenizer.vocab_size()), int(tokenizer.string_to_id("</s>").numpy())
    spans, hidden_before = 0, False
    source, target = [], []
    for token in tokenizer.tokenize(text).numpy():
        hide = randomizer() < noise
        if hide and not hidden_before:
            spans += 1
            source.append(size - spans)
            target.append(size - spans)
        (target if hide else source).append(token)
        hidden_before = hide
    return source, target + [end]
'''
COURSE_STYLE = [
    ("the first course's solution", FIRST_COURSE, None),
    ("the 2023 course's solution", COURSE_2023, None),
    ("the first course's, sentinels from vocab_size", FIRST_COURSE, ("source.append(vocab_size - spans)",
                                                                      "source.append(vocab_size - spans + 1)")),
    ("the first course's, closing sentinel appended", FIRST_COURSE, ("return source, target",
                                                                      "return source, target + [vocab_size - spans - 1]")),
    ("the 2023 course's, no EOS", COURSE_2023, ("target + [end]", "target")),
    ("the 2023 course's, EOS on both", COURSE_2023, ("return source, target + [end]", "return source + [end], target + [end]")),
    ("the 2023 course's, one draw per span", COURSE_2023, ("hide = randomizer() < noise",
                                                            "hide = (randomizer() < noise) if not hidden_before else hidden_before")),
]


@pytest.mark.parametrize("what,source,edit", COURSE_STYLE, ids=[c[0] for c in COURSE_STYLE])
def test_course_solutions_are_graded_by_their_course(what, source, edit, tmp_path):
    if edit is not None:
        assert source.count(edit[0]) == 1
        source = source.replace(*edit)
    (tmp_path / "tokenize_and_mask.py").write_text(source)
    results, text = exercises.check("tokenize_and_mask", tmp_path)
    assert "does not import" not in text, text
    assert all(r.passed for r in results) == (edit is None), text
