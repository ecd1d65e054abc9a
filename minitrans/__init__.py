"""minitrans: a from-scratch, educational transformer framework in JAX + Flax NNX.

Start with `minitrans.nn` (the layers), `minitrans.masks` (the attention masks) and
`minitrans.models.encoder` (the course's encoder); the lessons in lessons/ walk through them.
"""

__version__ = "0.1.0"
