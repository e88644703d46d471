"""Rule suite_tokenizer: the tokenizer of a published suite, from its first checkpoint (its
tokenizer and config files only: the weights are the run job's to download)."""

from lmdyn.core import registry
from lmdyn.core.runner import run
from lmdyn.data.tokens import load_tokenizer


def main(sm, log):
    ref = sm.params.checkpoint
    path = registry.resolve(registry.as_checkpoint(ref), ref.get("cache_dir"), weights=False)
    tok = load_tokenizer(str(path))
    log.info("tokenizer of %s: %d tokens", registry.as_checkpoint(ref).ref, len(tok))
    tok.save_pretrained(sm.output[0])


run(main, snakemake)  # noqa: F821
