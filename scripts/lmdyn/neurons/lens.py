"""Logit lens: the target pair's logit difference read from the residual stream after every block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lmdyn.core.errors import UserError

LENS_MODES = ("per_layer", "final_scale")


def _diff_dir(ix, a: int, b: int) -> tuple[torch.Tensor, float]:
    w = ix.W_U[a] - ix.W_U[b]
    bias = 0.0 if ix.b_U is None else float(ix.b_U[a] - ix.b_U[b])
    return w, bias


def final_norm_module(model):
    """The final LayerNorm of a GPT-2, GPT-Neo or GPT-NeoX model."""
    base = model.base_model
    for name in ("ln_f", "final_layer_norm"):
        if hasattr(base, name):
            return getattr(base, name)
    raise UserError(f"neurons: no final layer norm found in {type(model).__name__}")


@torch.no_grad()
def logit_lens(
    ix, ids: torch.Tensor, a: int, b: int, mode: str = "per_layer", model=None
) -> pd.DataFrame:
    """Logit difference at the last position after the embedding and after every block.

    ``per_layer``: each layer's residual goes through the final norm with its own statistics.
    ``final_scale``: each layer's residual is centred and divided by the final layer's norm scale
    (the original; TransformerLens ``apply_ln_to_stack``), then the final norm's gain and bias;
    needs ``model`` (to read the norm's parameters). Both equal the model's logit difference at the
    last layer. Columns: layer (0 = embedding, l = after block l-1), name, logit_diff, mode.
    """
    if mode not in LENS_MODES:
        raise UserError(f"neurons: unknown logit-lens mode {mode!r}; expected one of {LENS_MODES}")
    names = ["hook_embed"] + [f"blocks.{i}.hook_resid_post" for i in range(ix.n_layers)]
    _, cache = ix.run(ids, names=names)
    x = torch.stack([cache[n][0, -1] for n in names]).float()  # [C, d]
    w, bias = _diff_dir(ix, a, b)
    if mode == "per_layer":
        normed = ix.ln_final(x)
    else:
        ln = final_norm_module(model)
        xc = x - x.mean(-1, keepdim=True)
        scale = (xc[-1].pow(2).mean() + ln.eps).sqrt()
        normed = xc / scale * ln.weight.float() + (0 if ln.bias is None else ln.bias.float())
    ld = (normed @ w + bias).cpu().numpy()
    return pd.DataFrame(
        {
            "layer": np.arange(len(names)),
            "name": ["embed"] + [f"block{i}" for i in range(ix.n_layers)],
            "logit_diff": ld,
            "mode": mode,
        }
    )
