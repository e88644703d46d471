"""Model internals under TransformerLens-style names, from forward hooks over the transformers modules.

One object per loaded checkpoint hands out the weights (W_E, W_U, b_U, the final norm, every MLP's
W_in/W_out, sliced to the tokenizer's vocabulary) and, in a forward pass, the residual stream, the
attention and MLP outputs and the MLP neuron activations, any of which can be overwritten (patching).
The model itself runs unchanged (transformers' own forward): hooks only read or replace values at
module boundaries, so there is no second implementation of any architecture to drift from it.

Hook points (l = layer index):
    hook_embed                  output of the embedding dropout: token (+ learned position) embedding,
                                the same value as blocks.0.hook_resid_pre
    blocks.{l}.hook_resid_pre   input of block l
    blocks.{l}.hook_resid_post  output of block l (the last one before the final norm)
    blocks.{l}.hook_attn_out    output of the attention module (after its output projection)
    blocks.{l}.hook_mlp_out     output of the MLP module
    blocks.{l}.mlp.hook_post    MLP neuron activations (input of the MLP's output projection)
    ln_final.hook_normalized    output of the final norm
GPT-NeoX with parallel residual (Pythia): attention and MLP both read hook_resid_pre and
resid_post = resid_pre + attn_out + mlp_out; sequential blocks (GPT-2, GPT-Neo): the MLP reads
resid_pre + attn_out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lmdyn.core.errors import UserError

SUPPORTED_ARCHS = ("gpt_neox", "gpt2", "gpt_neo")

# Module names per architecture (transformers 5 layout).
_LAYOUT = {
    "gpt_neox": dict(
        embed_drop="emb_dropout",
        blocks="layers",
        ln_final="final_layer_norm",
        attn="attention",
        mlp="mlp",
        mlp_in="dense_h_to_4h",
        mlp_out="dense_4h_to_h",
    ),
    "gpt2": dict(
        embed_drop="drop",
        blocks="h",
        ln_final="ln_f",
        attn="attn",
        mlp="mlp",
        mlp_in="c_fc",
        mlp_out="c_proj",
    ),
    "gpt_neo": dict(
        embed_drop="drop",
        blocks="h",
        ln_final="ln_f",
        attn="attn",
        mlp="mlp",
        mlp_in="c_fc",
        mlp_out="c_proj",
    ),
}

_BLOCK_HOOK = re.compile(
    r"^blocks\.(\d+)\.(hook_resid_pre|hook_resid_post|hook_attn_out|hook_mlp_out|mlp\.hook_post)$"
)


def arch_of(model) -> str:
    """The model's transformers ``model_type``; UserError when the internals layer does not know it."""
    arch = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    if arch not in SUPPORTED_ARCHS:
        raise UserError(
            f"architecture {arch!r} is not supported by the internals layer; supported: {', '.join(SUPPORTED_ARCHS)}"
        )
    return arch


def _in_out(module: nn.Module) -> torch.Tensor:
    """Weight of a projection as [in, out] (nn.Linear stores [out, in], GPT-2's Conv1D [in, out])."""
    w = module.weight.detach()
    return w.T if isinstance(module, nn.Linear) else w


class Internals:
    """Weights and hooked forward passes of one loaded causal LM (GPT-NeoX, GPT-2 or GPT-Neo)."""

    tokenizer = None  # the checkpoint's tokenizer, where from_pretrained found one
    path = None  # the local checkpoint directory, where from_pretrained loaded it

    @classmethod
    def from_pretrained(cls, repo_or_path, revision: str | None = None, **kwargs) -> Internals:
        """A checkpoint (a local directory or a hub repository at ``revision``) loaded as the
        workflow loads it; see :func:`lmdyn.core.pretrained.load` for the options."""
        from lmdyn.core.pretrained import load

        return load(cls, repo_or_path, revision, **kwargs)

    def __init__(self, model, vocab_size: int):
        self.arch = arch_of(model)
        self.model = model
        self.vocab_size = int(vocab_size)
        lay = _LAYOUT[self.arch]
        base = model.base_model
        self._embed_drop = getattr(base, lay["embed_drop"])
        self._blocks = list(getattr(base, lay["blocks"]))
        self._ln_final = getattr(base, lay["ln_final"])
        self._lay = lay
        self.n_layers = len(self._blocks)
        self.d_model = int(model.config.hidden_size)
        self.d_mlp = int(_in_out(self._mlp(0, "mlp_in")).shape[1])
        emb = model.get_input_embeddings().weight
        head = model.get_output_embeddings()
        for what, rows in (("input embedding", emb.shape[0]), ("output", head.weight.shape[0])):
            if rows < self.vocab_size:
                raise UserError(
                    f"model has {rows} {what} rows but the tokenizer has {self.vocab_size} tokens"
                )
        # Pythia pads both matrices to a multiple of 128 rows: the padding rows are dropped here.
        self.W_E = emb.detach().float()[: self.vocab_size]
        self.W_U = head.weight.detach().float()[: self.vocab_size]
        bias = getattr(head, "bias", None)
        self.b_U = bias.detach().float()[: self.vocab_size] if bias is not None else None
        self.tied = head.weight.data_ptr() == emb.data_ptr()

    # ---- weights -------------------------------------------------------------------------------
    def _mlp(self, layer: int, part: str) -> nn.Module:
        mlp = getattr(self._blocks[layer], self._lay["mlp"])
        return getattr(mlp, self._lay[part])

    def W_in(self, layer: int) -> torch.Tensor:
        """MLP input weight [d_model, d_mlp] (TransformerLens orientation), float32."""
        return _in_out(self._mlp(layer, "mlp_in")).float()

    def W_out(self, layer: int) -> torch.Tensor:
        """MLP output weight [d_mlp, d_model] (TransformerLens orientation), float32."""
        return _in_out(self._mlp(layer, "mlp_out")).float()

    def ln_final(self, x: torch.Tensor) -> torch.Tensor:
        """x through the model's final norm (its own module: weight, bias and eps)."""
        with torch.no_grad():
            w = self._ln_final.weight
            return self._ln_final(x.to(device=w.device, dtype=w.dtype)).float()

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """x @ W_U.T + b_U (no norm), float32."""
        x = x.to(device=self.W_U.device, dtype=torch.float32)
        out = x @ self.W_U.T
        return out + self.b_U if self.b_U is not None else out

    # ---- hooks ---------------------------------------------------------------------------------
    def hook_names(self) -> list[str]:
        """Every hook point of this model, in forward order."""
        names = ["hook_embed"]
        for l in range(self.n_layers):
            names += [
                f"blocks.{l}.hook_resid_pre",
                f"blocks.{l}.hook_attn_out",
                f"blocks.{l}.mlp.hook_post",
                f"blocks.{l}.hook_mlp_out",
                f"blocks.{l}.hook_resid_post",
            ]
        return names + ["ln_final.hook_normalized"]

    def _point(self, name: str) -> tuple[nn.Module, str]:
        """(module, 'in' | 'out'): the hooked value is that module's first input or its (first) output."""
        if name == "hook_embed":
            return self._embed_drop, "out"
        if name == "ln_final.hook_normalized":
            return self._ln_final, "out"
        m = _BLOCK_HOOK.match(name)
        if m is None or int(m.group(1)) >= self.n_layers:
            raise UserError(
                f"unknown hook point {name!r} for this {self.n_layers}-layer {self.arch} model; "
                "expected hook_embed, blocks.{l}.hook_resid_pre|hook_resid_post|hook_attn_out|hook_mlp_out|"
                "mlp.hook_post or ln_final.hook_normalized"
            )
        l, what = int(m.group(1)), m.group(2)
        block = self._blocks[l]
        return {
            "hook_resid_pre": (block, "in"),
            "hook_resid_post": (block, "out"),
            "hook_attn_out": (getattr(block, self._lay["attn"]), "out"),
            "hook_mlp_out": (getattr(block, self._lay["mlp"]), "out"),
            "mlp.hook_post": (self._mlp(l, "mlp_out"), "in"),
        }[what]

    def attach(self, names: Sequence[str], visit: Callable[[str, torch.Tensor], None]) -> list:
        """Forward hooks that call ``visit(name, value)`` with the value at every hook point in
        ``names`` during any forward pass of the model (e.g. one another module runs), until the
        returned handles are removed. The value is the live tensor: copy what you keep."""
        handles = []
        for name in dict.fromkeys(names):
            module, side = self._point(name)
            if side == "out":

                def hook(module, args, output, name=name):
                    visit(name, output[0] if isinstance(output, tuple) else output)

                handles.append(module.register_forward_hook(hook))
            else:

                def pre(module, args, kwargs, name=name):
                    visit(name, args[0] if args else kwargs["hidden_states"])

                handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        return handles

    @torch.no_grad()
    def run(
        self,
        input_ids: torch.Tensor,
        names: Sequence[str] = (),
        patches: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        positions: Sequence[int] | slice | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One forward pass: (logits [batch, pos, V] float32 sliced to the vocabulary, cache).

        ``cache[name]`` is float32 [batch, pos, ...] on the model's device: the value the model went
        on with (after the patch, where ``name`` is also patched). ``positions`` keeps only those
        positions in the cache (the logits keep all). ``patches[name](value)`` returns a tensor of
        the same shape that replaces the value in this forward pass only.
        """
        patches = dict(patches or {})
        names = list(dict.fromkeys(names))
        points = {n: self._point(n) for n in list(names) + list(patches)}
        cache: dict[str, torch.Tensor] = {}
        handles = []

        def visit(name: str, value: torch.Tensor) -> torch.Tensor | None:
            new = None
            if name in patches:
                new = patches[name](value)
                if not isinstance(new, torch.Tensor) or new.shape != value.shape:
                    raise ValueError(
                        f"patch for {name} must return a tensor of shape {tuple(value.shape)}"
                    )
                new = new.to(dtype=value.dtype, device=value.device)
            if name in names:
                v = value if new is None else new
                v = v if positions is None else v[:, positions]
                cache[name] = v.detach().float().clone()
            return new

        try:
            for name, (module, side) in points.items():
                if side == "out":
                    handles.append(module.register_forward_hook(_out_hook(visit, name)))
                else:
                    handles.append(
                        module.register_forward_pre_hook(_in_hook(visit, name), with_kwargs=True)
                    )
            device = self.model.get_input_embeddings().weight.device
            logits = self.model(input_ids=input_ids.to(device)).logits
        finally:
            for h in handles:
                h.remove()
        return logits[..., : self.vocab_size].float(), cache


def _out_hook(visit, name: str):
    """Forward hook passing a module's output to ``visit``; a tensor it returns replaces the output."""

    def hook(module, args, output):
        first = output[0] if isinstance(output, tuple) else output
        new = visit(name, first)
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook


def _in_hook(visit, name: str):
    """Forward pre-hook passing a module's hidden-state input to ``visit``; a tensor it returns
    replaces the input."""

    def hook(module, args, kwargs):
        if args:
            new = visit(name, args[0])
            return None if new is None else ((new, *args[1:]), kwargs)
        new = visit(name, kwargs["hidden_states"])
        return None if new is None else (args, {**kwargs, "hidden_states": new})

    return hook


# ---- weights without building the model ---------------------------------------------------------

EMBED_KEYS = ("gpt_neox.embed_in.weight", "transformer.wte.weight", "wte.weight")
UNTIED_KEYS = ("embed_out.weight", "lm_head.weight")


def load_embeddings(path, vocab_size: int) -> dict:
    """{arch, W_E, W_U, tied} of a checkpoint directory, float32 [vocab_size, d] (W_U is W_E when tied).

    Read straight from the safetensors files where they hold the matrices (a weight-only analysis
    needs nothing else); otherwise (e.g. pytorch_model.bin only) the model is loaded and read
    through :class:`Internals`. An architecture the internals layer does not know stops here.
    """
    import json
    from pathlib import Path

    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    arch = cfg.get("model_type")
    if arch not in SUPPORTED_ARCHS:
        raise UserError(
            f"architecture {arch!r} of {path} is not supported by the internals layer; "
            f"supported: {', '.join(SUPPORTED_ARCHS)}"
        )
    tied = bool(cfg.get("tie_word_embeddings", arch != "gpt_neox"))
    found = {}
    files = sorted(path.glob("*.safetensors"))
    if files:
        from safetensors import safe_open

        for f in files:
            with safe_open(str(f), framework="pt") as st:
                for key in st.keys():
                    if key in EMBED_KEYS and "W_E" not in found:
                        found["W_E"] = st.get_tensor(key)
                    elif key in UNTIED_KEYS and not tied and "W_U" not in found:
                        found["W_U"] = st.get_tensor(key)
    if "W_E" in found and (tied or "W_U" in found):
        W_E = found["W_E"].float()
        W_U = W_E if tied else found["W_U"].float()
        for what, rows in (("input embedding", W_E.shape[0]), ("output", W_U.shape[0])):
            if rows < vocab_size:
                raise UserError(
                    f"{path}: {rows} {what} rows but the tokenizer has {vocab_size} tokens"
                )
        return {"arch": arch, "W_E": W_E[:vocab_size], "W_U": W_U[:vocab_size], "tied": tied}
    from lmdyn.core.checkpoints import load_model

    ix = Internals(load_model(path), vocab_size)
    return {"arch": arch, "W_E": ix.W_E, "W_U": ix.W_U, "tied": ix.tied}
