"""The weekly retraining loop: what a new fit takes from a previous one.

- Warm start: a group's new study first runs Prophet's defaults and the previous study's
  best parameter sets (scored again on the new folds); then, when the group's search space is
  unchanged and the previous best's lead over the defaults held on the new folds
  (:func:`lead_holds`), the previous study's finished trials join the study as prior knowledge
  for the sampler, their losses (measured on the previous folds) scaled to the new folds' level
  (:class:`WarmStart`); they guide the sampler and are never chosen.
- Champion-challenger: the champion's parameters are scored on the same validation folds as
  the new search; the new best replaces them only when it is better by ``min_improvement``.

The driver builds one :class:`GroupPrior` per group from the previous fitted tuner
(:func:`priors`); the worker that tunes the group uses it (:func:`start_study`,
:func:`challenge`).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .keys import key_to_json, plain_value
from .results import error_text
from .search_space import distribution_contains

if TYPE_CHECKING:
    import optuna

    from .tuning import PreparedGroup


@dataclass(frozen=True)
class GroupPrior:
    """What one group's new study takes from the previous fit.

    ``study``: the previous study (:func:`study_record`), for warm start; ``best``: the previous
    best parameters (Prophet's, as ``best_params_`` holds them), enqueued by warm start;
    ``champion``: the champion's parameters, for champion-challenger.
    """

    study: Mapping[str, Any] | None = None
    best: Mapping[str, Any] | None = None
    champion: Mapping[str, Any] | None = None


def study_record(trials: Iterable[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    """A study's finished trials as plain JSON-able data: the distributions of their parameters
    and (parameters, loss) per complete trial."""
    from optuna.distributions import distribution_to_json

    distributions: dict[str, str] = {}
    done = []
    for trial in trials:
        if trial.value is None:
            continue
        for name, dist in trial.distributions.items():
            distributions.setdefault(name, distribution_to_json(dist))
        done.append([{name: plain_value(v) for name, v in trial.params.items()}, float(trial.value)])
    return {"distributions": distributions, "trials": done}


#: User attribute marking a previous fit's trial added to a warm-started study.
PRIOR = "prophet_grouped_prior"
#: How many of the previous study's best parameter sets a warm start scores first.
WARM_TOP = 3


def is_prior(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` is a previous fit's trial (not one of this study's own)."""
    return bool(trial.user_attrs.get(PRIOR))


#: The previous trials guide a warm-started study only while the previous search's lead holds
#: on the new folds: its best set, scored again, must beat Prophet's defaults there by at least
#: this share of the relative margin it had on the previous folds.
KEEP_LEAD = 0.5


def lead_holds(rescored: list[tuple[float, float]], default: tuple[float, float] | None) -> bool:
    """Whether the previous search's best set still leads Prophet's defaults on the new folds.

    ``rescored``: (previous loss, new loss) of the previous best sets scored again; ``default``:
    the same pair for Prophet's defaults (None when the previous study did not score them).
    True when there is nothing to compare; False when the previous search found nothing better
    than the defaults (its trials would only hold the sampler near them).
    """
    if default is None or not rescored:
        return True
    old_best, new_best = min(rescored)  # the set that was best on the previous folds
    old_default, new_default = default
    if not all(math.isfinite(v) for v in (old_best, new_best, old_default, new_default)):
        return True
    if old_default <= 0 or new_default <= 0:
        return True
    old_lead = (old_default - old_best) / old_default
    new_lead = (new_default - new_best) / new_default
    return old_lead > 0 and new_lead >= KEEP_LEAD * old_lead


class WarmStart:
    """Optuna callback that adds a previous study's trials to the new one, once the previous
    best parameter sets have been scored on the new folds, if their lead over Prophet's defaults
    held there (:func:`lead_holds`: where the landscape moved, the previous trials would keep
    the sampler near a stale optimum).

    The previous losses were measured on the previous folds, whose level can differ (another
    season): added as they are, the sampler would take every new trial for a good one and
    every previous one for a bad one. They are scaled by the median ratio of new to previous
    loss of the parameter sets scored on both, so that they rank among the new trials as they
    ranked among themselves.
    """

    def __init__(self, trials: list[tuple[dict[str, Any], float]], distributions: dict[str, Any],
                 rescored: list[tuple[dict[str, Any], float]], first: int,
                 default: dict[str, Any] | None = None) -> None:
        self.trials = trials
        self.distributions = distributions
        self.rescored = rescored
        self.first = first
        self.default = default
        #: Previous trials added to the study so far (0 until the rescored ones have run, and
        #: when the previous lead did not hold).
        self.added = 0
        self.decided = False
        # Parallel trials (Ray's trials mode, n_jobs in optimize) call back from several threads:
        # one decides; without the lock two could both add the previous trials.
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        with self._lock:
            if self.decided:
                return
            self._decide(study)

    def _decide(self, study: optuna.Study) -> None:
        import optuna

        trials = study.get_trials(deepcopy=False)
        # The first trials (the defaults, then the rescored sets: enqueued, so numbered first)
        # must all have run; with parallel trials (Ray's trials mode) others may finish before.
        firsts = [t for t in trials if t.number < self.first]
        if len(firsts) < self.first or not all(t.state.is_finished() for t in firsts):
            return
        self.decided = True
        own = [t for t in trials if not is_prior(t) and t.state.is_finished()]

        def new_loss(params: Mapping[str, Any]) -> float | None:
            found = [t.value for t in own if t.params == params and t.value is not None]
            return found[0] if found else None

        pairs = [(old, new) for old, new in ((old, new_loss(p)) for p, old in self.rescored) if new is not None]
        default = None
        if self.default is not None:
            old_default = [value for params, value in self.trials if params == self.default]
            new_default = new_loss(self.default)
            if old_default and new_default is not None:
                default = (old_default[0], new_default)
        if not lead_holds(pairs, default):
            return
        ratios = [new / old for old, new in pairs if old > 0 and math.isfinite(new)]
        scale = float(sorted(ratios)[len(ratios) // 2]) if ratios else 1.0
        study.add_trials([
            optuna.trial.create_trial(params=params, distributions={n: self.distributions[n] for n in params},
                                      value=value * scale, user_attrs={PRIOR: True})
            for params, value in self.trials
        ])
        self.added = len(self.trials)


def same_fixed(fixed: Mapping[str, Any], previous_best: Mapping[str, Any] | None) -> bool:
    """Whether the previous fit's best parameters carry the same values of the space's fixed
    parameters (a name the previous best lacks counts as the same: fits saved before the fixed
    part was stored)."""
    if not previous_best:
        return True
    return all(previous_best[name] == value for name, value in fixed.items() if name in previous_best)


def start_study(study: optuna.Study, group: PreparedGroup, prior: GroupPrior | None) -> WarmStart | None:
    """Set up a new (empty) study of ``group``: the first trials to run, and for a warm start
    the callback that adds the previous trials (None for a cold start or when they can't be
    used).

    The first trials: Prophet's default configuration when the space can express it
    (:meth:`~prophet_grouped.search_space.SearchSpace.first_trials`), then,
    warm-started, the previous study's ``WARM_TOP`` best parameter sets (or the previous best
    alone when the previous trials can't be reused) when they lie in the current space. The
    previous trials are reused only when the group's space has the same distributions and the
    same fixed parameters as the previous study's (not after a change of space, such as the
    yearly seasonality a history gains at two years, nor for a callable space).
    """
    default_trial = group.space.default_trial()
    firsts = group.space.first_trials()
    for params in firsts:
        study.enqueue_trial(params)
    if prior is None:
        return None
    from optuna.distributions import distribution_to_json, json_to_distribution

    space = group.space.distributions
    if space is None:
        return None
    stored = prior.study or {}
    # The same space: the same distributions, and the same fixed part (the "auto" space's
    # seasonalities: a history that reached two years gains a yearly seasonality, and trials of
    # the model without it say little about the model with it).
    same_space = (stored.get("distributions") == {name: distribution_to_json(dist) for name, dist in space.items()}
                  and same_fixed(group.space.fixed, prior.best))
    previous = [(dict(p), float(v)) for p, v in stored.get("trials", [])] if same_space else []
    ranked = sorted(previous, key=lambda pv: pv[1])
    if ranked:
        candidates = []
        for params, value in ranked:
            if params not in [c for c, _ in candidates]:
                candidates.append((params, value))
            if len(candidates) == WARM_TOP:
                break
    elif prior.best:
        candidates = [({name: prior.best[name] for name in space if name in prior.best}, float("nan"))]
    else:
        candidates = []
    first = len(firsts)
    for params, _ in candidates:
        in_space = len(params) == len(space) and all(distribution_contains(space[n], v) for n, v in params.items())
        if in_space and params not in firsts:  # scored again, on the new folds
            study.enqueue_trial(params)
            first += 1
    if not previous:
        return None
    dists = {name: json_to_distribution(text) for name, text in stored["distributions"].items()}
    return WarmStart(previous, dists, candidates, first, default_trial)


def challenge(prior: GroupPrior | None, best_params: dict[str, Any], best_score: float, group: PreparedGroup,
              trial: Callable[[Mapping[str, Any]], float], min_improvement: float, errors: list[str],
              scored: Iterable[tuple[Mapping[str, Any], float | None]] = ()) -> tuple[dict[str, Any], float, float, bool]:
    """Champion-challenger for one group: (parameters, loss) to keep, the champion's loss on the
    same folds (NaN without a champion) and whether the new best was promoted.

    ``trial``: the study's own trial (parameters -> loss on its folds), which scores the
    champion's parameters; ``scored``: the study's (parameters, loss) on these folds; when the
    champion's parameters were one of its trials (a warm start runs the previous best first),
    that loss is the champion's, and they are not fitted again.

    The new best replaces the champion only when its loss is below the champion's by the
    relative margin ``min_improvement``; a group without a champion, or whose champion
    can no longer be fitted, is promoted. A parameter this fit fixes in ``prophet_params`` keeps
    its fixed value: the champion's value of it is left out.
    """
    champion = None if prior is None else prior.champion
    if champion is None:
        return best_params, best_score, float("nan"), True
    # What this fit fixes in prophet_params stands: the champion brings the rest.
    champion = {name: value for name, value in champion.items() if name not in group.drivers.prophet_params}
    known = [loss for params, loss in scored if loss is not None and dict(params) == dict(champion)]
    try:
        champion_score = float(known[0]) if known else float(trial(dict(champion)))
    except Exception as exc:
        errors.append(f"the champion's parameters: {error_text(exc)}")
        return best_params, best_score, float("nan"), True
    if not math.isfinite(champion_score) or best_score < champion_score * (1.0 - min_improvement):
        return best_params, best_score, champion_score, True
    return dict(champion), champion_score, champion_score, False


def studies_to_lines(studies: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> Iterable[str]:
    """``studies_`` as JSON lines (what a saved folder's ``studies.jsonl`` holds)."""
    for key, study in studies.items():
        yield json.dumps({"key": key_to_json(key), "study": study}) + "\n"
