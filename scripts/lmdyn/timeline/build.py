"""The timeline's key curves, read from the families' suite tables, and its event table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmdyn.timeline import events as ev
from lmdyn.timeline.curves import absent_notes, key_curves
from lmdyn.timeline.tables import CURVES, TIMELINE


@dataclass(frozen=True)
class Rule:
    """One event: its family, the curve it is read from, its definition and how it is found
    (from the run's curves, or from its row of the phase table)."""

    event: str
    family: str
    curve: str
    definition: str
    find: Callable | None = None  # the run's curves {name: frame} -> Event; None: phase table


def _on(curve: str, fn: Callable) -> Callable:
    return lambda c: fn(c[curve].step, c[curve].value)


def _neuron(c: Mapping) -> ev.Event:
    d = c["congruence"].merge(c.get("restored", c["congruence"].iloc[:0]), "left", on="step")
    return ev.emergence(d.step, d.value_x, d.value_y)


PHASE = " (phase table)"
RULES = (
    Rule(
        "uniform_end",
        "divergence",
        "kl_uniform",
        "last step up to which KL to uniform stays within the band of its first value" + PHASE,
    ),
    Rule(
        "unigram_min",
        "divergence",
        "kl_unigram",
        "step of minimum KL to unigram after step 0" + PHASE,
    ),
    Rule(
        "contextual_onset",
        "divergence",
        "nll",
        "first step with cross-entropy below the unigram predictor's" + PHASE,
    ),
    Rule("seed_peak", "divergence", "kl_seeds", "step of maximum seed KL" + PHASE),
    Rule(
        "seed_return",
        "divergence",
        "kl_seeds",
        "first step after the peak with seed KL half way down to its later minimum" + PHASE,
    ),
    Rule(
        "probe_half",
        "probe",
        "kl_u_probe",
        "first step with log KL(u || probe) half way from its first value to its minimum",
        _on("kl_u_probe", ev.half_fall_log),
    ),
    *(
        Rule(
            f"anisotropy_half_{m}",
            "anisotropy",
            f"mean_cos_{m}",
            f"first step with the raw mean cosine of {m} half way from its first value to its "
            "maximum",
            _on(f"mean_cos_{m}", ev.half_rise),
        )
        for m in ("W_E", "W_U")
    ),
    Rule(
        "classifier_peak",
        "geometry",
        "accuracy",
        "step of the highest accuracy of the layer classifier (raw, document split)",
        _on("accuracy", ev.peak),
    ),
    Rule(
        "classifier_half_decline",
        "geometry",
        "accuracy",
        "first step after the peak with the accuracy half way down to its later minimum",
        _on("accuracy", ev.half_decline),
    ),
    Rule(
        "neuron_emergence",
        "neurons",
        "congruence",
        "first step from which the last step's top neuron's congruence with target a, and its "
        "restored fraction where defined, stay above half of their final values",
        _neuron,
    ),
)
NO_CURVE = ev.NO_CURVE


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _phase_reason(event: str, row: Mapping) -> str:
    """Why the phase table has no step for the event."""
    if event == "contextual_onset":
        return "cross-entropy never below the unigram predictor's"
    if event in ("seed_peak", "seed_return") and _missing(row["seed_peak"]):
        return "no seed KL (one seed)"
    if event == "seed_return":
        if row["seed_peak"] == row["last_step"]:
            return "the peak is at the last analysed step"
        return "seed KL never half way down from its peak"
    return NO_CURVE


def _from_phases(rule: Rule, row: Mapping | None, c: Mapping) -> ev.Event:
    if row is None:  # the phase table is empty for a suite with one step
        n = len(c["kl_uniform"]) if "kl_uniform" in c else 0
        return ev.Event.none(ev.ONE_STEP if n == 1 else "no row in the phase table")
    v = row[rule.event]
    if _missing(v):
        return ev.Event.none(_phase_reason(rule.event, row))
    value = row[f"{rule.event}_value"]
    return ev.Event(int(v), None if _missing(value) else float(value))


def run_event(rule: Rule, c: Mapping, phase_row: Mapping | None, note: str | None) -> ev.Event:
    """One run's event: ``c`` its curves ({name: frame of step, value}), ``phase_row`` its row of
    the phase table, ``note`` why its curve is absent (if known)."""
    if rule.find is None:
        return _from_phases(rule, phase_row, c)
    if rule.curve not in c or c[rule.curve].value.notna().sum() == 0:
        return ev.Event.none(note or NO_CURVE)
    return rule.find(c)


def _log_median(steps) -> float:
    # in log2(step + 1), as the phase table's means: steps of a log-spaced grid
    x = np.log2(np.asarray(steps, dtype=float) + 1.0)
    return round(float(np.exp2(np.median(x)) - 1.0), 6)


def medians(one: pd.DataFrame) -> pd.DataFrame:
    """Per model and event: the median step over the seeds that have it, with its range."""
    rows = []
    for _, g in one.groupby(["model", "family", "event"], sort=False):
        has = g[g.at_step.notna()]
        row = g.iloc[0].to_dict() | {"seed": pd.NA, "seeds": "median", "n_runs": len(g)}
        row |= {"n_seeds": len(has), "step_min": np.nan, "step_max": np.nan, "value": np.nan}
        if len(has):
            row |= {"at_step": _log_median(has.at_step), "reason": None}
            row |= {"step_min": has.at_step.min(), "step_max": has.at_step.max()}
            row["value"] = has.value.median()
        else:
            row |= {"at_step": np.nan, "reason": "; ".join(dict.fromkeys(g.reason))}
        rows.append(row)
    return pd.DataFrame(rows, columns=one.columns)


def _row(suite: str, model: str, seed: int, rule: Rule, e: ev.Event) -> dict:
    """One run's row of the event table."""
    return {
        "suite": suite,
        "model": model,
        "seed": seed,
        "seeds": "one",
        "family": rule.family,
        "event": rule.event,
        "curve": rule.curve,
        "definition": rule.definition,
        "at_step": np.nan if e.step is None else float(e.step),
        "step_min": np.nan,
        "step_max": np.nan,
        "value": np.nan if e.value is None else e.value,
        "n_seeds": int(e.step is not None),
        "n_runs": 1,
        "reason": e.reason,
    }


def timeline(suite: str, curves: pd.DataFrame, phases: pd.DataFrame, runs, families, notes=None):
    """The event table: every enabled family's events for each (model, seed) of ``runs``, then
    the medians over seeds. ``notes``: {(model, seed, curve): why the curve is absent}."""
    notes = notes or {}
    per_run = {
        (m, int(s)): dict(tuple(g.groupby("curve")))
        for (m, s), g in curves.groupby(["model", "seed"])
    }
    one = phases[phases.seeds == "one"] if len(phases) else phases
    phase_rows = {(r["model"], int(r["seed"])): r for r in one.to_dict("records")}
    rows = []
    for model, seed in runs:
        c = per_run.get((model, seed), {})
        for rule in (r for r in RULES if r.family in families):
            note = notes.get((model, seed, rule.curve))
            e = run_event(rule, c, phase_rows.get((model, seed)), note)
            rows.append(_row(suite, model, seed, rule, e))
    if not rows:
        return TIMELINE.empty()
    one_rows = pd.DataFrame(rows, columns=TIMELINE.names)
    out = pd.concat([one_rows, medians(one_rows)], ignore_index=True)
    out["seed"] = out["seed"].astype("Int64")
    return out


def build(suite: str, tables: Mapping, families) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The timeline and its curves tables of a suite from the families' suite tables (``tables``:
    name -> frame; see lmdyn.timeline.INPUTS)."""
    curves = key_curves(tables, families)
    runs = list(dict.fromkeys(zip(tables["summary"].model, tables["summary"].seed.astype(int))))
    events = timeline(
        suite, curves, tables["phases"], runs, families, absent_notes(tables, families)
    )
    curves = curves.assign(suite=suite)[CURVES.names] if len(curves) else CURVES.empty()
    return events, curves
