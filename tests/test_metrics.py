import numpy as np
import pytest

from prophet_grouped.metrics import mae, mape, resolve_metric, rmse, smape, wape


def test_metric_values():
    y, p = np.array([1.0, 2.0, 0.0]), np.array([2.0, 2.0, 0.0])
    assert mae(y, p) == pytest.approx(1 / 3)
    assert rmse(y, p) == pytest.approx(np.sqrt(1 / 3))
    assert mape(y, p) == pytest.approx(0.5)  # zero actuals are left out
    assert smape(y, p) == pytest.approx((2 / 3) / 3)  # 0/0 counts as perfect
    assert wape(y, p) == pytest.approx(1 / 3)
    assert wape(np.zeros(2), np.ones(2)) == pytest.approx(1.0)


def test_resolve_metric():
    assert resolve_metric("smape") is smape
    custom = lambda a, b: 0.0  # noqa: E731
    assert resolve_metric(custom) is custom
    with pytest.raises(ValueError, match=r"Unknown metric 'r2'; expected one of \['mae', 'mape', 'rmse', 'smape', 'wape'\]"):
        resolve_metric("r2")
