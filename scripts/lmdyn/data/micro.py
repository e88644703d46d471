"""The micro suite: small GPT-NeoX (Pythia architecture) or GPT-2 models trained here, saved in HF format.

One run per (model size, seed). The seed sets both the initialisation and the data order, as in
PolyPythias. Checkpoints are written at the grid steps (step 0 is the initialisation), each one a
complete HF directory (config, safetensors weights, tokenizer) that the same loaders read as a real
suite's checkpoint.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmdyn.core.errors import UserError

ARCHS = ("gpt_neox", "gpt2")


def build_model(arch: str, vocab_size: int, context_length: int, size: dict, seed: int):
    """A freshly initialised causal LM of the given architecture and size, seeded."""
    import transformers

    common = dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=0)
    if arch == "gpt_neox":
        cfg = transformers.GPTNeoXConfig(
            hidden_size=size["hidden_size"],
            num_hidden_layers=size["num_layers"],
            num_attention_heads=size["num_heads"],
            intermediate_size=size.get("intermediate_size", 4 * size["hidden_size"]),
            max_position_embeddings=context_length,
            rotary_pct=0.25,  # Pythia's setting
            use_parallel_residual=True,
            tie_word_embeddings=False,
            attention_dropout=0.0,
            hidden_dropout=0.0,
            **common,
        )
        cls = transformers.GPTNeoXForCausalLM
    elif arch == "gpt2":
        cfg = transformers.GPT2Config(
            n_embd=size["hidden_size"],
            n_layer=size["num_layers"],
            n_head=size["num_heads"],
            n_inner=size.get("intermediate_size", 4 * size["hidden_size"]),
            n_positions=context_length,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **common,
        )
        cls = transformers.GPT2LMHeadModel
    else:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHS}")
    torch.manual_seed(seed)
    return cls(cfg)


def check_train_length(n_tokens: int, context_length: int) -> None:
    """A training batch is a set of windows of context_length tokens drawn from the split."""
    if n_tokens <= context_length:
        raise UserError(
            f"the training split has {n_tokens} tokens, fewer than one context window "
            f"(tokens.context_length {context_length} + 1); add training documents or shorten the context"
        )


def lr_at(step: int, max_steps: int, lr: float, warmup: int, min_ratio: float = 0.1) -> float:
    """Linear warmup then cosine decay to ``min_ratio * lr`` (Pythia's schedule shape)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, max_steps - warmup)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train_run(
    arch: str,
    size: dict,
    seed: int,
    train_ids: np.ndarray,
    vocab_size: int,
    context_length: int,
    steps: list[int],
    batch_size: int,
    lr: float,
    warmup: int,
    weight_decay: float,
    out_dir: str | Path,
    tokenizer_dir: str | Path,
    log=None,
    label: str = "",
) -> pd.DataFrame:
    """Train one run and save a checkpoint at every step of ``steps``; returns the loss curve.

    Deterministic for a given seed: fixed init seed, a seeded generator for batch positions, and
    deterministic torch algorithms (thread count is set by the caller).
    """
    from transformers import AutoTokenizer

    torch.use_deterministic_algorithms(True)
    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = build_model(arch, vocab_size, context_length, size, seed)
    n_params = sum(p.numel() for p in model.parameters())
    if log:
        log.info("%s %s seed %d: %d parameters, %d steps", arch, size, seed, n_params, max(steps))
    check_train_length(len(train_ids), context_length)
    data = torch.from_numpy(np.asarray(train_ids, dtype=np.int64))
    gen = torch.Generator().manual_seed(10_000 + seed)
    opt = _optimizer(model, lr, weight_decay)
    save_at = set(steps)
    max_steps = max(steps)
    curve = []
    t0 = time.time()

    def save(step: int) -> None:
        d = out_dir / f"step{step}"
        model.save_pretrained(d)
        tokenizer.save_pretrained(d)

    model.train()
    if 0 in save_at:
        save(0)
    for step in range(1, max_steps + 1):
        starts = torch.randint(0, len(data) - context_length, (batch_size,), generator=gen)
        batch = torch.stack([data[s : s + context_length] for s in starts.tolist()])
        step_lr = lr_at(step - 1, max_steps, lr, warmup)
        loss = _train_step(model, opt, batch, step_lr, step, lr, label)
        curve.append((step, loss, opt.param_groups[0]["lr"]))
        if step in save_at:
            save(step)
        if log and (step % max(1, max_steps // 20) == 0 or step == max_steps):
            log.info("step %d/%d loss %.4f (%.1fs)", step, max_steps, loss, time.time() - t0)
    return pd.DataFrame(curve, columns=["step", "loss", "lr"])


def _optimizer(model, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not on biases and norm gains)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        betas=(0.9, 0.95),
        eps=1e-8,
    )


def _train_step(model, opt, batch, step_lr: float, step: int, lr: float, label: str) -> float:
    """One clipped AdamW step at learning rate ``step_lr``; returns the loss before it."""
    for g in opt.param_groups:
        g["lr"] = step_lr
    loss = model(input_ids=batch, labels=batch).loss
    if not torch.isfinite(loss):
        raise UserError(
            f"{label + ': ' if label else ''}training diverged: the loss is {loss.item()} at step {step} (learning rate "
            f"{opt.param_groups[0]['lr']:.3g}, train.lr {lr:g}); lower the suite's train.lr"
        )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()
