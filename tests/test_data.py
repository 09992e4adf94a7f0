import numpy as np
import pandas as pd
import pytest

from prophet_grouped import make_retail_sales


def test_make_retail_sales_shape_and_content():
    df = make_retail_sales(n_stores=3, n_items=5, periods=800, seed=3, intermittent_share=0.3)
    assert list(df.columns) == ["store", "item", "ds", "y"]
    assert len(df) == 3 * 5 * 800
    assert df.groupby(["store", "item"]).ngroups == 15
    assert (df["y"] >= 0).all() and np.allclose(df["y"], df["y"].round())
    assert pd.api.types.is_datetime64_any_dtype(df["ds"])
    # Weekly seasonality: weekday means differ clearly for the aggregate.
    by_dow = df.groupby(df["ds"].dt.day_of_week)["y"].mean()
    assert by_dow.max() / by_dow.min() > 1.2
    # Some groups are intermittent (mostly zero), some are not.
    zero_share = df.groupby(["store", "item"])["y"].apply(lambda s: (s == 0).mean())
    assert (zero_share > 0.5).any() and (zero_share < 0.1).any()


def test_make_retail_sales_deterministic():
    a = make_retail_sales(n_stores=1, n_items=3, periods=100, seed=7)
    b = make_retail_sales(n_stores=1, n_items=3, periods=100, seed=7)
    c = make_retail_sales(n_stores=1, n_items=3, periods=100, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["y"].equals(c["y"])


def test_make_retail_sales_published_size():
    # The published study's size: 1,416 series x 2,330 days = 3.3 million rows.
    df = make_retail_sales(n_stores=24, n_items=59, periods=2330, seed=0)
    assert len(df) == 1416 * 2330
    assert df.groupby(["store", "item"]).ngroups == 1416


@pytest.mark.parametrize("kwargs, message", [
    ({"n_stores": 0}, "n_stores must be a positive integer, got 0."),
    ({"periods": 1.5}, "periods must be a positive integer, got 1.5."),
    ({"intermittent_share": 2.0}, r"intermittent_share must be in \[0, 1\], got 2.0."),
])
def test_make_retail_sales_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_retail_sales(**kwargs)
