"""Load a checkpoint's model, tokenizer and unembedding matrix from an HF-format directory.

Everything downstream (metrics, pairwise KL, later the internals analyses) goes through these
functions, so a checkpoint from the micro suite and one from a published suite look the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lmdyn.core.configcheck import position_limit
from lmdyn.core.errors import UserError

# Output-projection weight names, tried in order (untied first, then tied input embeddings).
UNEMBED_KEYS = (
    "embed_out.weight",
    "lm_head.weight",
    "transformer.wte.weight",
    "gpt_neox.embed_in.weight",
)


def cuda_problem(device: str) -> str | None:
    """Why ``device`` (a metrics.device value) cannot be used here, or None."""
    if not str(device).startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        return (
            f"metrics.device is '{device}' but no CUDA GPU is available here; use 'auto' or 'cpu'"
        )
    index = torch.device(device).index
    if index is not None and index >= torch.cuda.device_count():
        return f"metrics.device is '{device}' but only {torch.cuda.device_count()} CUDA GPU(s) are visible"
    return None


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    problem = cuda_problem(device)
    if problem:
        raise UserError(problem)
    return torch.device(device)


def _unreadable(path: Path, e: Exception) -> UserError:
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return UserError(
        f"checkpoint {path} has unreadable weights ({type(e).__name__}: {first}); "
        "re-download or regenerate it, or leave it out of the suite's steps"
    )


def load_model(
    path: str | Path, device: torch.device | str = "cpu", max_positions: int | None = None
):
    """Causal LM in float32, eval mode. ``max_positions``: the longest window it will see, checked
    against the model's position embeddings before loading."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    if not (path / "config.json").exists():
        raise UserError(f"checkpoint directory {path} has no config.json")
    if max_positions is not None:
        limit = position_limit(json.loads((path / "config.json").read_text()))
        if limit is not None and max_positions > limit:
            raise UserError(
                f"tokens.context_length {max_positions} is longer than checkpoint {path} allows "
                f"({limit} positions); set tokens.context_length to at most {limit}"
            )
    try:
        # weights_only unpickling (transformers' default): a pickle that is not plain tensors is refused
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    except (OSError, RuntimeError, ValueError, EOFError) as e:
        raise _unreadable(path, e) from e
    except Exception as e:  # noqa: BLE001 - safetensors' SafetensorError and unpickling errors have no common base
        if type(e).__module__.split(".")[0] in ("safetensors", "pickle", "_pickle", "torch"):
            raise _unreadable(path, e) from e
        raise
    return model.to(device).eval()


def unembedding_of(model, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W_U [V, d], bias or None) of a loaded model, sliced to the tokenizer's vocabulary.

    Pythia pads its output rows to a multiple of 128 (50304 for 50277 tokens): the padding rows are
    dropped here, before any softmax.
    """
    head = model.get_output_embeddings()
    w = head.weight.detach()
    if w.shape[0] < vocab_size:
        raise UserError(
            f"model has {w.shape[0]} output rows but the tokenizer has {vocab_size} tokens"
        )
    b = getattr(head, "bias", None)
    return w[:vocab_size], (b.detach()[:vocab_size] if b is not None else None)


def load_unembedding(path: str | Path, vocab_size: int) -> tuple[torch.Tensor, None]:
    """W_U read straight from the safetensors files, without building the model (pairwise jobs)."""
    from safetensors import safe_open

    path = Path(path)
    files = sorted(path.glob("*.safetensors"))
    index = path / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        for key in UNEMBED_KEYS:
            if key in weight_map:
                files = [path / weight_map[key]]
                break
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                keys = set(st.keys())
                for key in UNEMBED_KEYS:
                    if key in keys:
                        return st.get_tensor(key).float()[:vocab_size], None
        except Exception as e:  # noqa: BLE001 - SafetensorError is not an OSError
            raise _unreadable(path, e) from e
    # No safetensors (or unusual names): fall back to loading the whole model.
    return unembedding_of(load_model(path), vocab_size)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_for_pass(
    path: str | Path, vocab_size: int, dtype: str = "float32", max_positions: int | None = None
):
    """(model, W_U [V, d] float32, bias or None) for the per-checkpoint pass, on the CPU.

    ``dtype`` applies to the transformer body only: the unembedding is copied out in float32 before
    the body is cast (GPT-2 ties it to the input embedding), so the output projection and every
    reduction stay float32 whatever the body runs in.
    """
    model = load_model(path, "cpu", max_positions)
    w, b = unembedding_of(model, vocab_size)
    if dtype == "float32":
        return model, w, b
    w, b = w.clone(), (b.clone() if b is not None else None)
    model.base_model.to(DTYPES[dtype])
    return model, w, b
