"""Settings of the shared training loop (YAML keys and flags of every training command)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmlearn.config import option


@dataclass
class TrainSettings:
    """Optimizer, schedule, batching, evaluation and checkpointing."""

    max_steps: int = option(1000, "optimizer steps to train", range=">=1")
    batch_size: int = option(16, "sequences per micro-batch (per device)", range=">=1")
    grad_accum: int = option(1, "micro-batches per optimizer step", range=">=1")
    lr: float = option(1e-3, "peak learning rate (1e-3 suits the small presets; lower it for larger models)",
                       range=">0")
    warmup_steps: int = option(100, "linear warm-up steps", range=">=0")
    schedule: Literal["cosine", "linear", "constant"] = option("cosine", "decay after warm-up")
    min_lr_ratio: float = option(0.1, "final learning rate as a fraction of --lr", range="[0, 1]")
    weight_decay: float = option(0.1, "AdamW decoupled weight decay (matrices only, not biases or norms)", range=">=0")
    adam_beta1: float = option(0.9, "AdamW beta1", range="[0, 1)")
    adam_beta2: float = option(0.95, "AdamW beta2", range="[0, 1)")
    adam_eps: float = option(1e-8, "AdamW epsilon", range=">0")
    max_grad_norm: float = option(1.0, "clip the gradient norm to this (0 disables)", range=">=0")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass: less memory, "
                                                 "about a third more compute")
    peak_flops: float = option(0.0, "peak FLOP/s of one device, for the logged mfu (0: the bf16 peak of a known "
                                    "GPU, else no mfu is logged)", range=">=0")
    max_bad_steps: int = option(10, "fp16: consecutive steps with a non-finite loss or gradient that are skipped "
                                    "before the run stops (fp32 and bf16 stop at the first)", range=">=1")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", "auto: bf16 on a GPU that has it, else fp32 (bf16 is slower than fp32 on most CPUs)")
    compile: bool = option(False, "torch.compile the model (faster steps after a compile of a minute or so)")
    seed: int = option(0, "seed for initialisation, data order and masking")
    eval_every: int = option(100, "evaluate on held-out data every N steps (0: only at the end)", range=">=0")
    eval_batches: int = option(20, "held-out batches per evaluation", range=">=1")
    early_stopping: int = option(0, "stop after this many evaluations in a row without a better one (see "
                                    "--early-stopping-metric), and end with the weights of the best one (0: off; evaluations come every "
                                    "--eval-every steps)", range=">=0")
    early_stopping_metric: str = option("loss", "what --early-stopping watches: loss (lower is better), or a metric "
                                                "the method logs, e.g. accuracy (higher is better; a tie counts as "
                                                "an improvement: later weights, patience restarts)")
    save_every: int = option(100, "write a checkpoint every N steps", range=">=1")
    keep_last: int = option(2, "checkpoints to keep", range=">=1")
    log_every: int = option(10, "write a metrics line every N steps", range=">=1")
    resume: bool = option(False, "continue from the newest checkpoint in --out")
    overwrite: bool = option(False, "start over even if --out holds an earlier run")
    tensorboard: bool = option(False, "also log to TensorBoard (in OUT/tensorboard), as --report-to tensorboard")
    report_to: str = option("", "also log to these trackers through accelerate, comma-separated: tensorboard, "
                                "wandb, mlflow (each must be installed)")
    progress: bool = option(True, "show a progress bar")
