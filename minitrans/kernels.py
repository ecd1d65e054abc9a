"""Performance kernels: seven computations written by hand for speed on a CPU, each with the
same numbers as the plain version in float32 (tests/test_nn.py checks them against autodiff and
numpy; `keep_mask`, whose draws are its own, against the rate and independence a mask needs),
one memory measure, and one way to run a model for inference. The layers, losses and
predictions call them; the measurements are in benchmarks/RESULTS.md (XLA's scheduler flag and
glibc's huge pages, the other memory measures, are in minitrans/__init__.py because they must
come before JAX, or the process, starts).

- `linear`: x @ W with a backward pass that transposes the narrower operand (XLA:CPU copies one
  operand of each matrix product transposed; autodiff picks the wide gradient), its operands
  in bfloat16 when asked (`matmul_dtype`: XLA:CPU ignores JAX's precision setting;
  `bfloat16_products` asks, for the code inside it);
- `keep_mask`: dropout's random mask from a counter hash seeded by two threefry words, two
  draws per 32-bit word (random bits were most of dropout's cost);
- `negative_log_likelihood`: cross entropy whose gradient is softmax - onehot in one pass
  (autodiff builds and scatters into a tensor the size of the logits);
- `top_k`: the k largest entries of long rows through the maxima of blocks (XLA:CPU's top-k
  sorts, slowly on the 100,000-entry rows of beam search);
- `batch_broadcast`: one array for every example of a batch (T5's position bias), its gradient
  summed over the batch by a product with ones (XLA:CPU sums a short leading axis of long rows
  100x slower: 47 ms against 0.45 ms for 8 x 1,048,576).
- `normal`, `lecun_normal`: the initialisers of `nnx.initializers`, bit for bit, drawn at a
  power-of-two size and cut to the shape (XLA compiles a random draw once for every shape,
  0.2-0.4 s each on 2 cores: most of the time it took to build a small model);
- `release_compiler_memory`: after each long compilation, the memory XLA's compiler freed goes
  back to the system (the C allocator keeps it otherwise, and a program's buffers come on top:
  160 MB of a small T5 training step's peak);
- `compiled_call`: a model's forward for inference as one compiled program (run eagerly, JAX
  compiles each operation anew for every input shape: a small T5's first forward 5.8 s, as one
  program 1.3 s); optionally without XLA:CPU's library fusions, which slow a BERT encoder
  over a large batch.
"""

import contextlib
import ctypes
import math
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

Array = jax.Array


def matmul_dtype() -> jnp.dtype | None:
    """bfloat16 inside `jax.default_matmul_precision("bfloat16")` (or with the environment's
    JAX_DEFAULT_MATMUL_PRECISION=bfloat16), else None: the operands of `linear`'s products.

    XLA:CPU ignores JAX's precision setting in its own products, so `linear` casts by hand. A
    CPU with bfloat16 instructions (AVX512-BF16, AMX) multiplies them about twice as fast; the
    sums and the results stay float32 (mixed precision). jit
    keys its compiled programs on the setting, so a program traced outside it is not reused.
    """
    return jnp.dtype(jnp.bfloat16) if jax.config.jax_default_matmul_precision == "bfloat16" else None


def matmul_precision() -> str:
    """What a run records of its products: "bfloat16" under `matmul_dtype()`, else "float32"."""
    return str(matmul_dtype() or "float32")


def bfloat16_products(enabled: bool = True):
    """The context of mixed-precision training: inside it `linear`'s products take bfloat16
    operands (`matmul_dtype`); a context that changes nothing when not `enabled`. The commands'
    --bfloat16 trains inside it and scores the trained model outside, in float32."""
    return jax.default_matmul_precision("bfloat16") if enabled else contextlib.nullcontext()


def cpu_multiplies_bfloat16() -> bool | None:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX, read from /proc/cpuinfo);
    without them bfloat16 products run slower than float32 ones. None where it cannot tell."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def linear(x: Array, kernel: Array) -> Array:
    """x @ kernel, (..., d_in) @ (d_in, d_out) -> (..., d_out), with its backward pass written out.

    The gradients are the textbook ones, dx = g kernel^T and dkernel = x^T g (summed over every
    position); written by hand only to choose the order of the second product. XLA on the CPU
    lays out both operands of a matrix product with the contracted axis innermost, so it
    copies one of them transposed: autodiff computes (g^T x)^T and copies g, the wide one for a
    feed-forward block's first layer or a vocabulary projection; we transpose whichever of x
    and g is narrower. Under `matmul_dtype()` the forward product and dx take bfloat16
    operands; dkernel, a sum over every position that XLA:CPU runs in its own float32 kernel,
    stays float32.
    """
    dtype = matmul_dtype() if x.dtype == kernel.dtype == jnp.float32 else None
    return _linear(x, kernel, dtype)


def _contract(a: Array, b: Array, b_axis: int, dtype) -> Array:
    """a's last axis against b's axis `b_axis`, operands cast to `dtype` (None: as they are),
    summed in a's dtype. Written as one dot_general: with bfloat16 operands, XLA:CPU keeps its
    fast kernel for this form, and falls back to float32 for a transpose followed by a product."""
    if dtype is None:
        return a @ (b if b_axis == 0 else b.T)
    return jax.lax.dot_general(a.astype(dtype), b.astype(dtype), (((a.ndim - 1,), (b_axis,)), ((), ())),
                               preferred_element_type=a.dtype)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _linear(x: Array, kernel: Array, dtype) -> Array:
    return _contract(x, kernel, 0, dtype)


def _linear_forward(x, kernel, dtype):
    return _contract(x, kernel, 0, dtype), (x, kernel)


def _linear_backward(dtype, saved, g):
    x, kernel = saved
    d_in, d_out = kernel.shape
    x2, g2 = x.reshape(-1, d_in), g.reshape(-1, d_out)  # (positions, d_in), (positions, d_out)
    if d_in <= d_out:
        d_kernel = x2.T @ g2  # transposes x, the narrower one
    else:
        d_kernel = (g2.T @ x2).T  # transposes g, then the small (d_out, d_in) result
    return _contract(g, kernel, 1, dtype).astype(x.dtype), d_kernel.astype(kernel.dtype)


_linear.defvjp(_linear_forward, _linear_backward)


def _mix(x: Array) -> Array:
    """MurmurHash3's 32-bit finaliser: a one-to-one map of uint32 in which each input bit flips
    each output bit with probability about 1/2 (so consecutive positions give unrelated words)."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def keep_mask(key: Array, shape: tuple[int, ...], rate: float) -> Array:
    """A boolean mask of `shape`, True with probability 1 - rate (to within 1/131,072).

    Dropout needs bits that look independent, not secret ones. Threefry, JAX's generator, spends
    about 50 integer operations per 32-bit word; here `key` gives two threefry words (the seeds)
    and the mask's words are a hash of their position, about 18 operations each. Each word
    gives two draws: each 16-bit half is compared with rate * 65536, rounded (0.1 becomes
    6,554/65,536 = 0.100006).
    """
    size = math.prod(shape)
    threshold = round(rate * 65536)
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    position = jax.lax.iota(jnp.uint32, (size + 1) // 2)
    words = _mix(_mix(position ^ seeds[0]) + seeds[1])  # (size / 2,): a different stream for every seed pair
    halves = jax.lax.bitcast_convert_type(words, jnp.uint16).reshape(-1)[:size].reshape(shape)
    return halves >= threshold


@jax.custom_vjp
def negative_log_likelihood(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """-log softmax(logits)[label] = logsumexp(logits) - logits[label], per position.

    Its gradient with respect to the logits is softmax(logits) - onehot(label), written out in
    the backward pass below: one pass over the (positions, vocabulary) logits, where autodiff
    of log_softmax + take_along_axis builds a zero tensor of the logits' size, scatters the
    labels into it and keeps the log-probabilities.
    """
    return _nll_forward(logits, labels)[0]


def _nll_forward(logits, labels):
    top = jax.lax.stop_gradient(logits.max(-1, keepdims=True))  # for a stable exp
    log_z = top + jnp.log(jnp.exp(logits - top).sum(-1, keepdims=True))  # (..., 1)
    label_logit = jnp.take_along_axis(logits, labels[..., None], axis=-1)  # (..., 1)
    return (log_z - label_logit)[..., 0], (logits, labels, log_z)


def _nll_backward(saved, g):
    logits, labels, log_z = saved
    onehot = jnp.arange(logits.shape[-1]) == labels[..., None]  # (..., classes), never stored
    return (jnp.exp(logits - log_z) - onehot) * g[..., None], None


negative_log_likelihood.defvjp(_nll_forward, _nll_backward)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def batch_broadcast(x: Array, batch: int) -> Array:
    """x (1, ...) repeated for `batch` examples -> (batch, ...), as jnp.broadcast_to.

    The gradient is the sum of the examples' gradients; written by hand only to compute it as
    ones (batch,) @ g (batch, rest) rather than a reduction over the leading axis, which
    XLA:CPU runs at a fraction of the memory's speed when that axis is short and the rows long
    (T5's position bias: batch x heads x query x key)."""
    return jnp.broadcast_to(x, (batch,) + x.shape[1:])


def _batch_broadcast_forward(x, batch):
    return batch_broadcast(x, batch), None


def _batch_broadcast_backward(batch, _, g):
    return ((jnp.ones(batch, g.dtype) @ g.reshape(batch, -1)).reshape((1,) + g.shape[1:]),)


batch_broadcast.defvjp(_batch_broadcast_forward, _batch_broadcast_backward)


def top_k(x: Array, k: int, block: int = 256) -> tuple[Array, Array]:
    """jax.lax.top_k(x, k) on (rows, n), the same values and indices (ties to the lower index).

    The k largest entries lie in the k blocks of `block` entries with the largest maxima: the
    maxima of all blocks are one cheap pass, then a top-k of the maxima picks the blocks and a
    top-k of those k * block entries the answer. Short rows go to jax.lax.top_k directly."""
    rows, n = x.shape
    if n < 16 * block or n // block < k:
        return jax.lax.top_k(x, k)
    blocks = jnp.pad(x, ((0, 0), (0, -n % block)), constant_values=-jnp.inf).reshape(rows, -1, block)
    chosen = jnp.sort(jax.lax.top_k(blocks.max(axis=-1), k)[1], axis=1)  # (rows, k), in order: ties keep theirs
    values, where = jax.lax.top_k(jnp.take_along_axis(blocks, chosen[:, :, None], axis=1).reshape(rows, -1), k)
    return values, jnp.take_along_axis(chosen, where // block, axis=1) * block + where % block


# ------------------------------------------------------------------ initialisers


def _cut_draw(draw, key: Array, shape: tuple[int, ...], dtype) -> np.ndarray | None:
    """draw(key, shape) as a numpy array, from one draw of the next power of two of its size.

    With partitionable threefry (JAX's default) the i-th number of a draw depends only on the key
    and i, so the first `size` numbers of a longer draw are the draw at `size`, reshaped: one
    compiled program serves every tensor of up to that many numbers. None where this does not
    hold or cannot run: inside a trace (jit, eval_shape), another dtype, threefry not partitionable.
    """
    if isinstance(key, jax.core.Tracer) or jnp.dtype(dtype) != jnp.float32 or not jax.config.jax_threefry_partitionable:
        return None
    size = math.prod(shape)
    padded = 1 << max(size - 1, 0).bit_length()  # the next power of two
    return np.asarray(draw(key, (padded,), dtype))[:size].reshape(shape)


def normal(stddev: float = 1e-2):
    """The initialiser nnx.initializers.normal(stddev): N(0, stddev^2), the same numbers."""
    def init(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        values = _cut_draw(jax.random.normal, key, shape, dtype)
        if values is None:
            return nnx.initializers.normal(stddev)(key, shape, dtype)
        return jnp.asarray(values * np.float32(stddev))  # one float32 product, as JAX's
    return init


def lecun_normal():
    """The initialiser nnx.initializers.lecun_normal(): a normal truncated to two standard
    deviations, scaled to variance 1 / fan_in (fan_in: every axis but the last), the same numbers."""
    def init(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        values = None if len(shape) < 2 else \
            _cut_draw(lambda k, s, d: jax.random.truncated_normal(k, -2, 2, s, d), key, shape, dtype)
        if values is None:  # flax's own where the cut does not apply (or a shape without fan-in)
            return nnx.initializers.lecun_normal()(key, shape, dtype)
        fan_in = math.prod(shape) // shape[-1]
        # JAX's float32 steps: sqrt(variance) / the standard deviation of the truncated normal
        stddev = np.sqrt(np.float32(1.0 / fan_in)) / np.float32(0.87962566103423978)
        return jnp.asarray(values * stddev)
    return init


# ------------------------------------------------------------------ inference as one program


def _call(graphdef, method, state, args: tuple, kwargs: dict):
    model = nnx.merge(graphdef, state)
    return getattr(model, method)(*args, **kwargs) if isinstance(method, str) else method(model, *args, **kwargs)


# XLA:CPU fuses matrix products with the operations around them into YNNPACK subgraphs (a whole
# BERT layer's feed-forward half, its layer norms included, as one). For a large encoder batch
# XLA's own kernels are faster: SQuAD's batches of 64 windows run 15-25% faster without the
# fusions, while decoding steps and training steps run faster with them (benchmarks/RESULTS.md,
# "SQuAD inference without XLA's library fusions").
NO_LIBRARY_FUSIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
_compiled_calls = {True: jax.jit(_call, static_argnums=(0, 1))}


def _compiled(library_fusions: bool):
    if library_fusions not in _compiled_calls:
        try:  # an XLA without this option refuses it: compile as usual there
            jax.jit(lambda x: x + 1, compiler_options=NO_LIBRARY_FUSIONS)(jnp.zeros(()))
            options = NO_LIBRARY_FUSIONS
        except Exception:  # noqa: BLE001 (JaxRuntimeError: no such compile option)
            options = None
        _compiled_calls[library_fusions] = jax.jit(_call, static_argnums=(0, 1), compiler_options=options)
    return _compiled_calls[library_fusions]


def compiled_call(model: nnx.Module, *args, method="__call__", library_fusions: bool = True, **kwargs):
    """model(*args, **kwargs), or model.<method>(...) for a method's name, or method(model, ...)
    for a function, as one XLA program compiled once per model structure and input shapes. For
    inference with a model in eval mode: the arguments are arrays (or None), and the model's state
    is read, never written back (in train mode a dropout stream would repeat its draws; a
    key/value cache would not fill). The same numbers as the eager call to within float32
    rounding (XLA fuses the operations). library_fusions=False compiles without XLA:CPU's
    YNNPACK fusions (`NO_LIBRARY_FUSIONS`): faster for a BERT encoder over a large batch."""
    graphdef, state = nnx.split(model)
    return _compiled(library_fusions)(graphdef, method, state, args, kwargs)


# ------------------------------------------------------------------ memory after compiling

LONG_COMPILATION_S = 0.5  # shorter compilations leave little behind; trimming costs milliseconds
try:  # glibc's malloc_trim, found among the process's own symbols; other C libraries have none
    _malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
except (OSError, TypeError):
    _malloc_trim = None


def release_compiler_memory(event: str, seconds: float, **_) -> bool:
    """A `jax.monitoring` listener: after an XLA compilation of LONG_COMPILATION_S or more, hand
    the C allocator's free memory back to the system (glibc's malloc_trim). True if it did."""
    if event != "/jax/core/compile/backend_compile_duration" or seconds < LONG_COMPILATION_S or _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


jax.monitoring.register_event_duration_secs_listener(release_compiler_memory)
