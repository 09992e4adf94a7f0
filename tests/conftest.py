"""Shared fixtures: small generated data and a standard tuner configuration."""

from __future__ import annotations

import pytest

from prophet_grouped import make_retail_sales


@pytest.fixture(scope="session")
def sales8():
    """8 store x item groups of 730 days."""
    return make_retail_sales(n_stores=2, n_items=4, periods=730, seed=0)


@pytest.fixture(scope="session")
def sales6():
    """The cross-backend scenario: 6 groups of 400 days."""
    return make_retail_sales(n_stores=2, n_items=3, periods=400, seed=1)


#: Settings of the cross-backend scenario, shared by every backend's test.
CROSS_BACKEND = dict(
    group_cols=["store", "item"], n_trials=6, early_stopping_rounds=None, horizon=30, random_state=42,
)
