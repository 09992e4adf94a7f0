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
    with pytest.raises(ValueError, match=r"Unknown metric 'r2'; expected one of \['mae', 'mape', 'mase', 'rmse', 'rmsse', 'smape', 'wape'\]"):
        resolve_metric("r2")


def test_scaled_metrics_divide_by_the_seasonal_naive_in_sample_error():
    from prophet_grouped.metrics import mase, naive_scale, rmsse, score

    train = np.array([1.0, 5.0, 2.0, 6.0, 3.0, 7.0])  # season 2: in-sample seasonal naive errors 1, 1, 1, 1
    y, p = np.array([4.0, 8.0]), np.array([5.0, 5.0])
    assert naive_scale(train, 2, 1) == pytest.approx(1.0)
    assert mase(y, p, train, 2) == pytest.approx(mae(y, p) / 1.0)
    assert rmsse(y, p, train, 2) == pytest.approx(np.sqrt(np.mean((y - p) ** 2) / 1.0))
    # Lag 1 (the naive forecast): errors 4, 3, 4, 3, 4.
    assert mase(y, p, train, 1) == pytest.approx(2.0 / 3.6)
    # A perfectly periodic history has no seasonal naive error: lag 1 takes over.
    assert naive_scale(np.array([1.0, 2.0, 1.0, 2.0]), 2, 1) == pytest.approx(1.0)
    # score() passes the training values to scaled metrics only.
    assert score(resolve_metric("mase"), y, p, train, 2) == pytest.approx(2.0)
    assert score(resolve_metric("mae"), y, p) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="needs the training values"):
        score(resolve_metric("rmsse"), y, p)
