"""Rule suite_tokenizer: the tokenizer of a published suite, from its first checkpoint (its
tokenizer and config files only: the weights are the run job's to download)."""

import json
from pathlib import Path

from lmdyn.core import registry
from lmdyn.core.runner import run
from lmdyn.data.tokens import load_tokenizer


def main(sm, log):
    ref = sm.params.checkpoint
    # the commit its run's fetch_run resolved (none where that checkpoint is missing)
    commit = json.loads(Path(sm.input.hub).read_text()).get(str(ref["step"]), {}).get("commit")
    ckpt = registry.as_checkpoint(ref)
    path = registry.resolve(ckpt, ref.get("cache_dir"), weights=False, commit=commit)
    tok = load_tokenizer(str(path))
    log.info("tokenizer of %s: %d tokens", ckpt.ref, len(tok))
    tok.save_pretrained(sm.output[0])


run(main, snakemake)  # noqa: F821
