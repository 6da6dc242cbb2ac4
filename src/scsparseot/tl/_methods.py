"""Which method uses which argument of :func:`~scsparseot.tl.sparse_ot`, written once, and each method's configuration."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, get_args

import numpy as np

from .._types import MethodName
from ..core import ConditionalConfig, TrainConfig

__all__ = ["BASELINES", "METHOD_ARGS", "check_unused", "resolve_config", "uses"]

#: Every method, in the order error messages list them.
_METHODS: tuple[str, ...] = get_args(MethodName)
#: The baseline maps of :mod:`scsparseot.baselines`: every method but the two that train networks.
BASELINES = tuple(m for m in _METHODS if m not in ("sparse_icnn", "conditional"))

#: The one rule of which method uses which argument: each argument that only some methods use, with
#: its default in :func:`~scsparseot.tl.sparse_ot` and the methods that use it. A method given
#: another value for one it does not use raises, naming the methods that do.
METHOD_ARGS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "penalty": ("stvs", ("sparse_icnn", "conditional")),
    "lam": (None, ("sparse_icnn", "conditional")),
    "max_genes": (None, ("sparse_icnn", "rgd")),
    "min_support": (0.1, ("sparse_icnn", *BASELINES)),
    "n_null": (3, ("sparse_icnn", *BASELINES)),
    "n_runs": (0, ("sparse_icnn",)),
    "n_iters": (None, ("sparse_icnn", "conditional")),
    "batch_size": (None, ("sparse_icnn", "conditional")),
    "config": (None, ("sparse_icnn", "conditional")),
    "anneal": (None, ("sparse_icnn",)),
    "state_key": (None, ("conditional",)),
    "replicate_key": (None, ("conditional",)),
}

_ELASTIC_PENALTY = (
    "the elastic map's penalty is fixed: STVS of strength 1; scsparseot.baselines.elastic_map takes others"
)
#: What a method fixes itself, said when it is given one of these arguments.
_FIXED = {
    ("elastic", "penalty"): _ELASTIC_PENALTY,
    ("elastic", "lam"): _ELASTIC_PENALTY,
    ("conditional", "n_null"): "it tests each gene itself; fdr= sets the level of its calls",
    ("conditional", "min_support"): "it selects genes by its own tests; fdr= sets their level",
}


def uses(method: str, name: str) -> bool:
    """Whether ``method`` uses the argument ``name`` (every argument outside :data:`METHOD_ARGS` is used by all)."""
    return name not in METHOD_ARGS or method in METHOD_ARGS[name][1]


def resolve_config(
    method: str, config: Any, *, n_iters: int | None, batch_size: int | None
) -> TrainConfig | ConditionalConfig:
    """The method's one configuration, with ``n_iters`` and ``batch_size`` applied to its trainer settings.

    ``"conditional"`` takes a :class:`~scsparseot.core.ConditionalConfig` or a
    :class:`~scsparseot.core.TrainConfig` (its state networks' settings); ``"sparse_icnn"`` a
    :class:`~scsparseot.core.TrainConfig`. The baselines have none (their trainer settings are
    recorded as the default's, and unused).
    """
    kinds = (ConditionalConfig, TrainConfig) if method == "conditional" else (TrainConfig,)
    if config is not None and not isinstance(config, kinds):
        names = " or ".join(f"a scsparseot.core.{k.__name__}" for k in kinds)
        msg = f"config must be {names} for method={method!r}, got {type(config).__name__}."
        raise TypeError(msg)
    overrides = {k: v for k, v in (("n_iters", n_iters), ("batch_size", batch_size)) if v is not None}
    if method == "conditional":
        if not isinstance(config, ConditionalConfig):
            config = ConditionalConfig() if config is None else ConditionalConfig(train=config)
        return replace(config, train=replace(config.train, **overrides)) if overrides else config
    config = config or TrainConfig()
    return replace(config, **overrides) if overrides else config


def _is_default(value: Any, default: Any) -> bool:
    if default is None:
        return value is None
    try:
        return not isinstance(value, bool) and bool(value == default)
    except (TypeError, ValueError):  # an array, say: not the default
        return False


def check_unused(method: str, **given: Any) -> None:
    """Raise if ``method`` is given a value other than the default for an argument it does not use (:data:`METHOD_ARGS`)."""
    names = [
        name
        for name, value in given.items()
        if not uses(method, name) and not _is_default(value, METHOD_ARGS[name][0])
    ]
    if not names:
        return
    got = ", ".join(f"{name}={_show(given[name])}" for name in names)
    users = [m for m in _METHODS if all(uses(m, name) for name in names)]
    notes = list(dict.fromkeys(_FIXED[method, name] for name in names if (method, name) in _FIXED))
    note = f" ({'; '.join(notes)})" if notes else ""
    alternative = f", or use {' or '.join(f'method={m!r}' for m in users)}" if users else ""
    msg = f"method={method!r} does not use {got}{note}; leave {'it' if len(names) == 1 else 'them'} unset{alternative}."
    raise ValueError(msg)


def _show(value: Any) -> str:
    """A short repr: configurations by their class name only."""
    if value is None or isinstance(value, str | int | float | np.number):
        return repr(value)
    return f"{type(value).__name__}(...)"
