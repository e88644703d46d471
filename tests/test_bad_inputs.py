"""Bad input gives one line (the project's own, naming the key, file or checkpoint and what to do)
before any job where the config settles it; failed jobs' lines come last on the screen."""

import errno
import json
import re
import types
from pathlib import Path

import pytest
import yaml
from test_reliability import save_checkpoint, tok_dir  # noqa: F401  (tok_dir: a fixture)
from test_workflow import make_corpus, one_line_error, snakemake, tiny_config

from lmdyn.core import configcheck, inputcheck, runner
from lmdyn.core.errors import UserError, failed_job_logs, failure_lines
from lmdyn.neurons.promptcheck import check_prompts, prompt_ids, target_ids


def edited(tmp, edit) -> Path:
    """The tiny workflow config (corpus made here) after ``edit(config dict)``."""
    make_corpus(tmp / "corpus.jsonl", n_docs=10)
    cfg = tiny_config(tmp)
    c = yaml.safe_load(cfg.read_text())
    edit(c)
    cfg.write_text(yaml.safe_dump(c))
    return cfg


def dry_run_ok(tmp, cfg, *args):
    res = snakemake(tmp, cfg, "-n", *args, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def test_nested_config_values_on_the_command_line_are_typed(tmp_path):
    cfg = edited(tmp_path, lambda c: None)
    dry_run_ok(tmp_path, cfg, "--config", 'figures={"dpi": 100}', 'geometry={"lengths": [2, 4]}')
    assert inputcheck.typed_overrides(['figures={"dpi": 100}', "x=3", "y={bad"]) == {
        "figures": {"dpi": 100}
    }
    # a value out of range is still named, with the typed value
    res = snakemake(tmp_path, cfg, "-n", "--config", 'figures={"dpi": 10}', check=False)
    assert res.returncode != 0
    assert "lmdyn: invalid config at 'figures.dpi': 10 is less than the minimum of 50" in res.stderr


def set_in(c, path, value):
    *head, last = path.split(".")
    d = c
    for k in head:
        d = d[int(k)] if isinstance(d, list) else d[k]
    d[last] = value


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("neurons.prompts.0.clean", "", r"'neurons\.prompts\.0\.clean': '' should be non-empty"),
        ("neurons.targets", [" the", " the"], r"'neurons\.targets'.*non-unique"),
        ("geometry.transfer.path", None, r"geometry\.transfer\.path is not set; set the path"),
        ("geometry.transfer.path", "/no/such.txt", r"'/no/such\.txt' does not exist; fix the path"),
        ("geometry.n_tokens", 33, r"geometry\.n_tokens 33 is more than a window holds.*32"),
        (
            "geometry.n_windows",
            13,
            r"geometry\.n_windows 13 is more than the at most 12 evaluation",
        ),
        (
            "geometry.transfer.n_docs",
            3,
            r"geometry\.n_windows 8 is more than the at most 6 windows of the transfer corpus",
        ),
        ("neurons.n_windows", 20, r"neurons\.n_windows 20 is more than the at most 12 evaluation"),
        (
            "neurons.patch_layers",
            [0, 3],
            r"neurons\.patch_layers \[3\] are outside model x?s of suite micro",
        ),
        ("neurons.patch_layers", [], r"'neurons\.patch_layers': \[\] should be non-empty"),
        (
            "neurons.activation_pairs",
            30,
            r"neurons\.activation_pairs 30 is more than the neurons\.top_pairs 20",
        ),
    ],
)
def test_bad_family_option_gives_one_line_before_any_job(tmp_path, key, value, expected):
    cfg = edited(tmp_path, lambda c: set_in(c, key, value))
    one_line_error(tmp_path, cfg, expected)


def test_duplicate_prompt_names_and_switched_off_families(tmp_path):
    def twice(c):
        c["neurons"]["prompts"] *= 2

    one_line_error(
        tmp_path, edited(tmp_path, twice), r"neurons\.prompts: the name 'farmer' is used"
    )

    def off(c):  # a family switched off: its options are not checked
        c["geometry"]["n_tokens"] = 99
        c["families"] = {"geometry": False}

    dry_run_ok(tmp_path, edited(tmp_path, off))


def local_suite(tmp, steps=(0, 1), seeds=(0,)):
    def edit(c):
        c["suites"] = {
            "real": {
                "kind": "local",
                "path_pattern": str(tmp / "ck" / "seed{seed}" / "step{step}"),
                "seeds": list(seeds),
                "models": ["tiny"],
                "steps": list(steps),
            }
        }
        c["neurons"]["prompts"] = [
            {"name": "farmer", "clean": "The farmer builds", "corrupted": "The nation builds"}
        ]

    return edit


def test_local_checkpoint_without_weights_stops_before_any_job(tmp_path, tok_dir):  # noqa: F811
    for step in (0, 1):
        save_checkpoint(tmp_path / "ck" / "seed0" / f"step{step}", tok_dir)
    (tmp_path / "ck/seed0/step1/model.safetensors").unlink()
    one_line_error(
        tmp_path,
        edited(tmp_path, local_suite(tmp_path)),
        r"^lmdyn: suites\.real: checkpoint .*seed0/step1 has a config\.json but no weights",
    )


def test_local_first_checkpoint_missing_stops_before_any_job(tmp_path, tok_dir):  # noqa: F811
    save_checkpoint(tmp_path / "ck" / "seed0" / "step1", tok_dir)
    one_line_error(
        tmp_path,
        edited(tmp_path, local_suite(tmp_path)),
        r"suites\.real: the first checkpoint .*step0 has no config\.json",
    )


def test_local_seeds_with_other_tokenizers_are_refused(tmp_path, tok_dir):  # noqa: F811
    from lmdyn.data.tokens import save_hf_tokenizer, train_bpe

    save_checkpoint(tmp_path / "ck" / "seed0" / "step0", tok_dir)
    other = tmp_path / "other_tok"
    save_hf_tokenizer(train_bpe(["a b c d e f g"] * 20, 280), str(other))
    save_checkpoint(tmp_path / "ck" / "seed1" / "step0", other)
    one_line_error(
        tmp_path,
        edited(tmp_path, local_suite(tmp_path, steps=[0], seeds=[0, 1])),
        r"suites\.real: model tiny seed 1 .* has another tokenizer than model tiny seed 0",
    )
    # the same tokenizer saved twice is one tokenizer
    save_checkpoint(tmp_path / "ck" / "seed1" / "step0", tok_dir)
    dry_run_ok(tmp_path, edited(tmp_path, local_suite(tmp_path, steps=[0], seeds=[0, 1])))


@pytest.mark.parametrize(
    "neurons, expected",
    [
        (
            {"targets": [" the", " nation farmer"]},
            r"suites\.real: neurons: target ' nation farmer' .* not a single token",
        ),
        (
            {"prompts": [{"name": "p", "clean": "The farmer", "corrupted": "The farmer builds"}]},
            r"suites\.real: neurons: prompt 'p': clean and corrupted prompts have 5 and 10 tokens",
        ),
        ({"patch_layers": [5]}, r"neurons\.patch_layers \[5\] are outside suite real's models"),
    ],
)
def test_local_suite_prompts_are_checked_on_its_tokenizer(tmp_path, tok_dir, neurons, expected):  # noqa: F811
    save_checkpoint(tmp_path / "ck" / "seed0" / "step0", tok_dir)

    def edit(c):
        local_suite(tmp_path, steps=[0])(c)
        c["neurons"].update(neurons)

    one_line_error(tmp_path, edited(tmp_path, edit), expected)


def test_config_time_tokenizer_agrees_with_transformers(tmp_path, tok_dir):  # noqa: F811
    from lmdyn.data.tokens import load_tokenizer

    save_checkpoint(tmp_path / "ck", tok_dir)
    ours, theirs = inputcheck.LocalTokenizer(tmp_path / "ck"), load_tokenizer(str(tmp_path / "ck"))
    for text in (
        "The farmer builds",
        " the",
        "  two  spaces",
        "Hello World! 1984",
        "\u00e9t\u00e9",
    ):
        ids = theirs.encode(text, add_special_tokens=False)
        assert ours.encode(text) == ids
        assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
    assert ours.bos_token_id == theirs.bos_token_id is not None


def test_prompt_checks_on_a_tokenizer(tokenizer):
    spec = {
        "prompts": [{"name": "p", "clean": "t5 t6", "corrupted": "t5 t7"}],
        "prepend_bos": False,
    }
    check_prompts(tokenizer, {**spec, "targets": ["t7", "t8"]})
    assert prompt_ids(tokenizer, "p", "t5 t6", "t5 t7", True) == ([0, 5, 6], [0, 5, 7])
    with pytest.raises(UserError, match=r"the clean text of prompt 'p' has no tokens"):
        prompt_ids(tokenizer, "p", " ", "t5", False)
    # two spellings of one token (t1 is also the unknown token): the metric would be 0
    with pytest.raises(UserError, match=r"neurons\.targets \['t1', 'zz'\] are the same token"):
        target_ids(tokenizer, "p", ["t1", "zz"])


def test_results_folder_that_cannot_be_written_or_is_full(tmp_path, monkeypatch):
    inputcheck.check_results_dir(tmp_path)
    (tmp_path / "results").write_text("")
    with pytest.raises(UserError, match=r"results is a file, where the workflow writes a folder"):
        inputcheck.check_results_dir(tmp_path)
    (tmp_path / "results").unlink()
    with pytest.raises(UserError, match=r"only \d+ MB free under .*results \(at least"):
        inputcheck.check_results_dir(tmp_path, min_free_mb=1e15)
    (tmp_path / "results").mkdir()
    monkeypatch.setattr(inputcheck.os, "access", lambda p, mode: Path(p).name != "results")
    with pytest.raises(UserError, match=r"results cannot be written; fix its permissions"):
        inputcheck.check_results_dir(tmp_path)


def fake_job(tmp, main):
    """runner.run on a job with a log and one output: (exit code, stderr, the log's text)."""
    sm = types.SimpleNamespace(
        rule="demo", log=[str(tmp / "demo.log")], output=[str(tmp / "out/x.csv")], threads=1
    )
    with pytest.raises(SystemExit) as e:
        runner.run(main, sm)
    return e.value.code, (tmp / "demo.log").read_text()


def test_full_disk_names_the_path_and_the_free_space(tmp_path, capsys):
    def main(sm, log):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out/x.csv"))

    code, log = fake_job(tmp_path, main)
    line = capsys.readouterr().err.strip()
    assert code == 1
    assert re.fullmatch(
        r"lmdyn error in rule demo: cannot write .*out/x\.csv: No space left on device "
        r"\(\d+ MB free there\); free some space there .*",
        line,
    ), line
    assert failure_lines([tmp_path / "demo.log"]) == [line] and line in log


def test_failed_jobs_lines_are_found_from_snakemakes_log(tmp_path, capsys):
    def main(sm, log):
        raise UserError("bad thing; do this")

    fake_job(tmp_path, main)
    capsys.readouterr()
    smk_log = tmp_path / "run.snakemake.log"
    smk_log.write_text(
        "Error in rule demo:\n    jobid: 3\n"
        f"    log: {tmp_path / 'demo.log'} (check log file(s) for error details)\n"
        "Error in rule other:\n    jobid: 4\n"  # a job without a log
    )
    assert failed_job_logs([smk_log]) == [str(tmp_path / "demo.log")]
    assert failure_lines(failed_job_logs(str(smk_log))) == [
        "lmdyn error in rule demo: bad thing; do this"
    ]


@pytest.mark.workflow
def test_failed_job_line_comes_last_on_the_screen(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"text": w}) for w in ["Hi"] * 10) + "\n"
    )
    cfg = tiny_config(tmp_path)
    res = snakemake(tmp_path, cfg, "--until", "tokenize_eval", check=False)
    assert res.returncode != 0
    tail = [ln for ln in res.stderr.splitlines() if ln.strip()][-2:]
    assert res.stderr.rindex(tail[-1]) > res.stderr.index("did not complete successfully")
    assert tail == [
        "lmdyn: the failed jobs said",
        "lmdyn error in rule tokenize_eval: no evaluation document is long enough to predict a "
        "token (need at least 2 tokens)",
    ], res.stderr[-2000:]


def test_default_config_passes_the_new_checks():
    cfg = yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())
    cfg["families"] = {"geometry": True, "neurons": True}
    assert configcheck.geometry_problems(cfg) == [] and configcheck.neurons_problems(cfg) == []


def test_short_samples_warn_and_a_test_size_without_training_documents_stops(capsys):
    import numpy as np

    from lmdyn.core.engine import Run
    from lmdyn.geometry.samples import check_samples
    from lmdyn.geometry.task import Geometry, LayerStates

    run = Run(windows=[np.arange(8), np.arange(3), np.arange(8)], docs=np.array([0, 1, 2]))
    layers = LayerStates({"n_windows": 5, "n_tokens": 6, "seed": 0}, {})
    layers.setup(run)
    geometry = Geometry({"test_size": 0.2})
    check_samples([layers, geometry])
    assert capsys.readouterr().err == (
        "lmdyn warning: geometry.n_windows is 5 but only 2 evaluation windows have "
        "geometry.n_tokens (6) tokens: using those 2; lower geometry.n_windows (or "
        "geometry.n_tokens) to silence this\n"
    )
    with pytest.raises(
        UserError, match=r"geometry\.test_size 0\.6 leaves no document to train on \(2 "
    ):
        check_samples([layers, Geometry({"test_size": 0.6})])
    check_samples([layers, Geometry({"test_size": 0.5})])  # one document each side
    capsys.readouterr()
    layers = LayerStates({"n_windows": 2, "n_tokens": 6, "seed": 0}, {})
    layers.setup(run)
    check_samples([layers, geometry])
    assert capsys.readouterr().err == ""
    # scikit-learn draws the same line: 2 documents split at test_size 0.5, not at 0.6
    from sklearn.model_selection import GroupShuffleSplit

    next(GroupShuffleSplit(test_size=0.5).split(np.zeros(4), groups=[0, 0, 1, 1]))
    with pytest.raises(ValueError):
        next(GroupShuffleSplit(test_size=0.6).split(np.zeros(4), groups=[0, 0, 1, 1]))


def test_transfer_corpus_with_fewer_documents_than_asked_warns(tmp_path, tok_dir, capsys):  # noqa: F811
    import runpy

    import pandas as pd

    make_corpus(tmp_path / "transfer.jsonl", n_docs=3)
    params = types.SimpleNamespace(
        source="local",
        path=str(tmp_path / "transfer.jsonl"),
        n_docs=5,
        seed=0,
        context_length=16,
        windows_per_doc=1,
        cache=str(tmp_path),
    )
    sm = types.SimpleNamespace(
        rule="transfer_tokens",
        params=params,
        input=types.SimpleNamespace(tokenizer=str(tok_dir)),
        output=[str(tmp_path / "results/geometry/s/transfer_tokens.parquet")],
        log=[str(tmp_path / "t.log")],
        threads=1,
    )
    script = Path(__file__).parents[1] / "scripts" / "transfer_tokens.py"
    (tmp_path / "results/geometry/s").mkdir(parents=True)  # as Snakemake does
    runpy.run_path(str(script), init_globals={"snakemake": sm})
    assert capsys.readouterr().err == (
        f"lmdyn warning: geometry.transfer.n_docs is 5 but {tmp_path / 'transfer.jsonl'} has 3 "
        "documents with text: using all 3; lower geometry.transfer.n_docs\n"
    )
    out = tmp_path / "results/geometry/s/transfer_tokens.parquet"
    assert pd.read_parquet(out).doc_id.nunique() == 3


def test_changed_prompts_are_checked_on_the_tokenizer_of_an_earlier_run(tmp_path, tok_dir):  # noqa: F811
    import shutil

    def edit(c):
        c["neurons"]["prompts"] = [{"name": "p", "clean": "The farmer", "corrupted": "a"}]

    cfg = edited(tmp_path, edit)
    dry_run_ok(tmp_path, cfg)  # no tokenizer yet: the run job checks them when it starts
    shutil.copytree(tok_dir, tmp_path / "results/tokenizer/trained/micro")
    res = snakemake(tmp_path, cfg, "-n", check=False)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("lmdyn")]
    assert res.returncode != 0 and lines == [
        "lmdyn: suites.micro: neurons: prompt 'p': clean and corrupted prompts have 5 and 1 "
        "tokens; patching needs equal lengths"
    ], res.stderr[-2000:]
