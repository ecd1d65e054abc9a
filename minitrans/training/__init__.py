"""Training: a jitted pure training step and the optimizer the papers use."""

from minitrans.training.step import TrainState, adamw_with_warmup, make_train_step  # noqa: F401
