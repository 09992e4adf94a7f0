"""prophet-batch's MAP solves, for one series at a time.

prophet-batch solves many series at once: every step works on batched arrays with masks for
the series still running. A trial solves one series, where that bookkeeping costs more than the
arithmetic (measured: a 730-day multiplicative trial's solve takes about 21 outer iterations,
32 inner MAP solves and 250 feature-sign steps, 80 ms, mostly numpy calls on tiny arrays). This
module runs the same algorithms on one series' plain vectors and matrices: the same hybrid of
alternating block solves and damped Gauss-Newton steps (multiplicative), the same feature-sign
search with the same step rules, the same closed-form sigma, the same stopping rules.

Multiplicative: the same optimum as ``prophet_batch.batch._solve_multiplicative`` (the same
log posterior to about 1e-15 relative, measured over 192 trials of 400-2,330 days; 2.0x
faster). Where the posterior is flat the two may stop at slightly different points of it
(validation forecasts up to about 5e-4 relative apart in one of those trials, 1e-9 typically).
One departure: after 20 damped steps, a step tries Newton's curvature (Gauss-Newton's plus the
model's bilinear cross terms) first and Gauss-Newton's only when Newton's finds no better point.
Where the trend level and multiplicative regressors trade off (Rossmann's stores with Promo),
Gauss-Newton crawls to the 1,000-iteration cap and fails the KKT check (then Stan fits the
trial); with Newton's steps the solve converges within about 90 iterations, to a log posterior at
least as high. Solves that end within 20 damped steps (most) are prophet-batch's bit for bit.
prophet-batch's set-up (``_MultiplicativeBatch``: the block KKT check with its tolerance, the
unpacking into Prophet's parameters) is done for one series without its padded arrays, with the
trend columns a fold cache computes once (:func:`trend_columns`).

Additive: ``_solve_additive``'s problem from statistics a fold cache computes once per feature
configuration (``ZᵀZ``, ``Zᵀy``, ``yᵀy``) instead of every trial.

``tests/test_engines.py`` compares both with prophet-batch's solves on sampled trials.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np


def _singular(err: str, flag: int) -> None:
    raise np.linalg.LinAlgError("Singular matrix")


def _linear_solver() -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], Callable[[], Any]]:
    """``np.linalg.solve`` of a float64 matrix and vector as its gufunc, without the checks and
    the ``errstate`` it enters on every call (half its time on the small systems solved here, a
    few thousand per trial); the context to enter once instead, which turns a singular matrix
    into ``LinAlgError`` as ``np.linalg.solve`` does. The same gufunc, so the same numbers.
    ``np.linalg.solve`` itself where numpy doesn't have it."""
    try:
        from numpy.linalg import _umath_linalg

        gufunc = _umath_linalg.solve1
        gufunc(np.eye(2), np.ones(2), signature="dd->d")
    except Exception:  # noqa: BLE001  (another numpy: the public function)
        return np.linalg.solve, contextlib.nullcontext

    def solve(H: np.ndarray, c: np.ndarray) -> np.ndarray:
        return gufunc(H, c, signature="dd->d")

    def errstate() -> Any:
        return np.errstate(call=_singular, invalid="call", over="ignore", divide="ignore", under="ignore")

    return solve, errstate


_solve, _solve_errstate = _linear_solver()


def _feature_sign(H: np.ndarray, c: np.ndarray, lam: float, l1: np.ndarray, w: np.ndarray, act: np.ndarray,
                  s: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """min 0.5 wᵀHw − cᵀw + lam Σ_{j in l1} |w_j| from the warm start (w, act, s):
    prophet-batch's feature-sign search for one series."""
    p = c.size
    need_step = True
    for _ in range(max_iter):
        g = None
        if not need_step:
            g = H @ w - c
            viol = l1 & ~act & (np.abs(g) > lam * (1 + tol))
            if not viol.any():
                break
            worst = int(np.argmax(np.where(viol, np.abs(g), -np.inf)))
            s[worst] = -np.sign(g[worst])
            act[worst] = True
        # Exact minimizer of the sign-fixed quadratic on the active set.
        if act.all():
            w_new = _solve(H, c - lam * s)
        else:
            idx = np.flatnonzero(act)
            w_new = np.zeros(p)
            w_new[idx] = _solve(H[idx][:, idx], c[idx] - lam * s[idx])
        dw = w_new - w
        # Discrete line search on the true objective: the full step, or a point where a
        # nonzero L1 coordinate changes sign (without one, the full step is the only point).
        crossing = np.flatnonzero((w * w_new < 0) & l1)  # (w * w_new < 0 implies w != 0)
        k, t = 0, 1.0
        if crossing.size:
            if g is None:
                g = H @ w - c
            a = g @ dw
            b = dw @ H @ dw
            t_cand = np.append(w[crossing] / (w[crossing] - w_new[crossing]), 1.0)
            pts = w[None, :] + t_cand[:, None] * dw[None, :]
            phi = a * t_cand + 0.5 * b * t_cand ** 2 + lam * np.abs(pts[:, l1]).sum(axis=1)
            k = int(np.argmin(phi))
            t = t_cand[k]
        w = w + t * dw
        if k < crossing.size:
            w[crossing[k]] = 0.0
        # Zero L1 coefficients leave the active set; signs follow the coefficients.
        act = act & ~(l1 & (w == 0))
        s = np.where(l1 & act, np.sign(w), 0.0)
        need_step = not t >= 1.0
    return w, act, s


def _solve_map(G: np.ndarray, C: np.ndarray, yy: float, T: float, ridge: np.ndarray, l1: np.ndarray, tau: float,
               w0: np.ndarray, sigma0: float, max_outer: int = 200, tol: float = 1e-12,
               max_inner: int = 500, min_sigma: float | None = None) -> tuple[np.ndarray, float]:
    """prophet-batch's ``solve_map`` for one series: w given sigma, sigma given w, until sigma
    settles (relative change below ``tol``). ``min_sigma``: prophet-batch's ``_MIN_SIGMA``
    (looked up when not given)."""
    if min_sigma is None:
        from prophet_batch.batch import _MIN_SIGMA as min_sigma

    w = np.array(w0, dtype=float)
    act = ~l1 | (w != 0)
    s = np.where(l1 & act, np.sign(w), 0.0)
    sigma2 = sigma0 ** 2
    diag = np.arange(C.size)
    with _solve_errstate():
        for _ in range(max_outer):
            H = G.copy()
            H[diag, diag] += sigma2 * ridge
            w, act, s = _feature_sign(H, C, sigma2 / tau, l1, w, act, s, 1e-9, max_inner)
            rss = max(yy - 2 * (C @ w) + w @ G @ w, 0.0)
            s2_new = max((-T + np.sqrt(T * T + 16 * rss)) / 8, min_sigma ** 2)
            converged = abs(s2_new - sigma2) / sigma2 < tol
            sigma2 = s2_new
            if converged:
                break
    return w, float(np.sqrt(sigma2))


def _gram(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    return Z.T @ Z, Z.T @ y, float(y @ y)


def _trend_priors(delta_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge and L1 layout of the trend block [k, m, delta] (prophet-batch's): k and m under
    the Gaussian prior, the changepoints of ``delta_mask`` under the L1 prior."""
    from prophet_batch.batch import _KM_PRIOR_VAR

    return (np.concatenate([np.full(2, 1 / _KM_PRIOR_VAR), np.where(delta_mask, 0.0, 1.0)]),
            np.concatenate([np.zeros(2, bool), delta_mask]))


def solve_multiplicative(ZT: np.ndarray, Xa: np.ndarray, Xm: np.ndarray, y: np.ndarray, T: float,
                         delta_mask: np.ndarray, ridge_a: np.ndarray, ridge_m: np.ndarray, tau: float,
                         max_iter: int = 1000, switch_after: int = 10, newton_after: int = 20) -> tuple[Any, ...]:
    """prophet-batch's ``solve_map_multiplicative`` (method ``"hybrid"``, ``tol=0``) for one
    series: ``switch_after`` alternating block iterations, then Levenberg-Marquardt damped
    Gauss-Newton steps with backtracking, until a step no longer improves the log posterior;
    after ``newton_after`` of those, each tries Newton's step first (prophet-batch doesn't).

    Returns theta, beta_a, beta_m, sigma, log posterior, iterations (unbatched)."""
    from prophet_batch.batch import _KM_PRIOR_VAR, _MIN_SIGMA, _MULT_LM_LAM0

    P, Ka, Km = ZT.shape[1], Xa.shape[1], Xm.shape[1]
    ridge_T, l1_T = _trend_priors(delta_mask)
    ridge_A, l1_A = np.concatenate([ridge_T, ridge_a]), np.concatenate([l1_T, np.zeros(Ka, bool)])
    ridge_B, l1_B = np.concatenate([ridge_m, ridge_a]), np.zeros(Km + Ka, bool)
    ridge_J = np.concatenate([ridge_T, ridge_a, ridge_m])
    l1_J = np.concatenate([l1_T, np.zeros(Ka + Km, bool)])

    def log_posterior(th: np.ndarray, a: np.ndarray, m: np.ndarray, sg: float, rss: float | None = None) -> float:
        if rss is None:
            rss = np.sum((y - ((ZT @ th) * (1 + Xm @ m) + Xa @ a)) ** 2)
        return float(-(th[0] ** 2 + th[1] ** 2) / (2 * _KM_PRIOR_VAR) - np.sum(np.abs(th[2:]) * delta_mask) / tau
                     - 0.5 * np.sum(ridge_a * a ** 2) - 0.5 * np.sum(ridge_m * m ** 2)
                     - sg ** 2 / (2 * 0.5 ** 2) - T * np.log(sg) - rss / (2 * sg ** 2))

    # The block and Jacobian design matrices, filled in place each iteration (the constant Xa
    # columns once): the matrices np.concatenate would build, without the allocations and copies.
    n = y.size
    ZA, ZB, J = np.empty((n, P + Ka)), np.empty((n, Km + Ka)), np.empty((n, P + Ka + Km))
    ZA[:, P:], ZB[:, Km:], J[:, P:P + Ka] = Xa, Xa, Xa
    theta, ba, bm, sigma = np.zeros(P), np.zeros(Ka), np.zeros(Km), 1.0
    lp, lam = -np.inf, np.nan
    it = 0
    for it in range(1, max_iter + 1):
        if it <= switch_after:
            np.multiply((1 + Xm @ bm)[:, None], ZT, out=ZA[:, :P])
            wA, sigma = _solve_map(*_gram(ZA, y), T, ridge_A, l1_A, tau, np.concatenate([theta, ba]), sigma,
                                   min_sigma=_MIN_SIGMA)
            theta, ba = wA[:P], wA[P:]
            trend = ZT @ theta
            np.multiply(trend[:, None], Xm, out=ZB[:, :Km])
            wB, sigma = _solve_map(*_gram(ZB, y - trend), T, ridge_B, l1_B, tau, np.concatenate([bm, ba]), sigma,
                                   min_sigma=_MIN_SIGMA)
            bm, ba = wB[:Km], wB[Km:]
            lp_new = log_posterior(theta, ba, bm, sigma)
        else:
            # Linearize yhat around p = [θ, β_a, β_m]: yhat(p') ≈ yhat(p) + J (p' − p).
            trend = ZT @ theta
            mult = 1 + Xm @ bm
            np.multiply(mult[:, None], ZT, out=J[:, :P])
            np.multiply(trend[:, None], Xm, out=J[:, P + Ka:])
            p_cur = np.concatenate([theta, ba, bm])
            resid = y - (trend * mult + Xa @ ba)
            y_lin = resid + J @ p_cur
            G, C, yy = _gram(J, y_lin)
            damping = _MULT_LM_LAM0 * np.diag(G).max() if np.isnan(lam) else lam
            lp_cur = lp if it > 1 else -np.inf
            # After ``newton_after`` damped steps, Newton's curvature first, Gauss-Newton's if its
            # step finds no better point. yhat is bilinear in θ and β_m, so the residual sum of
            # squares has second-order cross terms -Σ rᵢ ZTᵢ Xmᵢᵀ that Gauss-Newton leaves out:
            # where the trend level and multiplicative regressors trade off (Rossmann's Promo),
            # Gauss-Newton's steps crawl along the valley (to the 1,000-iteration cap, then Stan);
            # Newton's converge within about 70 more. Its model can be indefinite, hence the
            # Gauss-Newton step (always an ascent direction) behind it. The quadratic model's
            # gradient stays -Jᵀr: C loses the cross terms times p_cur. Most solves end before
            # ``newton_after`` (prophet-batch's steps, bit for bit, at no extra cost).
            steps: list[tuple[bool, np.ndarray, np.ndarray]] = [(False, G, C)]
            if it > switch_after + newton_after:
                cross = ZT.T @ (resid[:, None] * Xm)
                G_newton, C_newton = G.copy(), C.copy()
                G_newton[:P, P + Ka:] -= cross
                G_newton[P + Ka:, :P] -= cross.T
                C_newton[:P] -= cross @ bm
                C_newton[P + Ka:] -= cross.T @ theta
                steps.insert(0, (True, G_newton, C_newton))
            for newton, G_step, C_step in steps:
                p_new, _ = _solve_map(G_step + damping * np.eye(G.shape[0]), C_step + damping * p_cur,
                                      yy + damping * (p_cur @ p_cur), T, ridge_J, l1_J, tau, p_cur, sigma,
                                      max_outer=1, min_sigma=_MIN_SIGMA)
                # Backtrack until the true log posterior doesn't decrease; sigma in closed form.
                step = 1.0
                accepted = False
                p_acc, s_acc, lp_acc = p_cur, sigma, lp_cur
                for _ in range(30):
                    trial = p_cur + step * (p_new - p_cur)
                    th, a, m = trial[:P], trial[P:P + Ka], trial[P + Ka:]
                    yh = (ZT @ th) * (1 + Xm @ m) + Xa @ a
                    rss = np.sum((y - yh) ** 2)
                    sg = float(np.sqrt(max((-T + np.sqrt(T ** 2 + 16 * rss)) / 8, _MIN_SIGMA ** 2)))
                    lp_try = log_posterior(th, a, m, sg, rss)
                    # Newton's step must improve; whether the solve has converged is Gauss-Newton's
                    # call, as in prophet-batch (no better point along an ascent direction).
                    if lp_try > lp_cur or (lp_try == lp_cur and not newton):
                        p_acc, s_acc, lp_acc, accepted = trial, sg, lp_try, True
                        break
                    step /= 2
                if accepted:
                    break
            lam = damping / 10 if accepted and step == 1.0 else (damping if accepted else damping * 10)
            theta, ba, bm = p_acc[:P], p_acc[P:P + Ka], p_acc[P + Ka:]
            sigma, lp_new = s_acc, lp_acc
        done = abs(lp_new - lp) <= 0.0
        lp = lp_new
        if done:
            break
    return theta, ba, bm, sigma, lp, it


def trend_columns(inputs: Any) -> np.ndarray:
    """The trend columns of prophet-batch's design matrix for ``inputs`` (t, 1, the changepoint
    hinges; zeroed for flat growth): ``design_matrix`` given no features. They depend only on a
    fold's dates and changepoints, so a fold cache computes them once for all trials."""
    import dataclasses

    from prophet_batch.batch import design_matrix

    T = len(np.asarray(inputs.t))
    return design_matrix(dataclasses.replace(inputs, K=0, X=np.zeros((T, 0)), s_a=[], s_m=[]))


def solve_one(inputs: Any, ZT: np.ndarray | None = None) -> tuple[float, float, np.ndarray, np.ndarray, float, float] | str:
    """``prophet_batch.batch._solve_multiplicative([inputs])[0]`` with the one-series solver:
    (k, m, delta, beta, sigma_obs, lp), or why the solve is refused (then the trial takes the
    ordinary path). ``ZT``: :func:`trend_columns` of ``inputs``, when the caller has them.

    The set-up, the acceptance check and the unpacking are ``_MultiplicativeBatch``'s for one
    series, without its padded batch arrays (built every trial, with the whole design matrix,
    to take its trend columns): the features split by mode, ridges 1/sigma², every changepoint
    under the L1 prior, the block KKT check with prophet-batch's ``kkt_violation`` and the same
    tolerance. ``tests/test_engines.py`` compares the results with prophet-batch's own."""
    from prophet_batch.batch import (
        _MIN_SIGMA,
        _MULT_KKT_TOL,
        _PERFECT_FIT,
        kkt_violation,
    )

    if ZT is None:
        ZT = trend_columns(inputs)
    X = np.asarray(inputs.X, dtype=float)
    mult = np.asarray(inputs.s_m, dtype=float) != 0
    sig = np.asarray(inputs.sigmas, dtype=float)
    ia, im = np.flatnonzero(~mult), np.flatnonzero(mult)
    # Row-major, as prophet-batch's padded arrays are (BLAS sums in another order for another
    # layout: the solution would move in its last bits).
    Xa, Xm = np.ascontiguousarray(X[:, ~mult]), np.ascontiguousarray(X[:, mult])
    y = np.asarray(inputs.y, dtype=float)
    S = len(np.atleast_1d(inputs.t_change))
    delta_mask = np.ones(S, bool)
    ridge_a, ridge_m = 1 / sig[ia] ** 2, 1 / sig[im] ** 2
    tau = float(inputs.tau)
    try:
        theta, ba, bm, sigma, lp, _ = solve_multiplicative(ZT, Xa, Xm, y, float(len(y)), delta_mask, ridge_a,
                                                           ridge_m, tau)
    except np.linalg.LinAlgError as exc:
        return f"multiplicative solver failed: {exc}"
    # _MultiplicativeBatch.kkt for one series: both blocks the solver alternates must hold.
    ridge_t, l1_t = _trend_priors(delta_mask)
    sig_b, tau_b = np.array([sigma]), np.array([tau])
    G, C, _ = _gram(np.concatenate([(1 + Xm @ bm)[:, None] * ZT, Xa], axis=1), y)
    k_a = kkt_violation(G[None], C[None], np.concatenate([theta, ba])[None], sig_b,
                        np.concatenate([ridge_t, ridge_a])[None],
                        np.concatenate([l1_t, np.zeros(len(ia), bool)])[None], tau_b)
    trend = ZT @ theta
    G, C, _ = _gram(np.concatenate([trend[:, None] * Xm, Xa], axis=1), y - trend)
    ridge_b = np.concatenate([ridge_m, ridge_a])
    k_b = kkt_violation(G[None], C[None], np.concatenate([bm, ba])[None], sig_b, ridge_b[None],
                        np.zeros((1, ridge_b.size), bool), tau_b)
    kkt = float(np.maximum(k_a, k_b)[0])
    if not kkt <= _MULT_KKT_TOL:  # also rejects NaN
        return f"multiplicative solver did not converge (block KKT {kkt:.1e})"
    if sigma <= _MIN_SIGMA:
        return _PERFECT_FIT
    beta = np.zeros(len(sig))
    beta[ia], beta[im] = ba, bm
    return float(theta[0]), float(theta[1]), theta[2:2 + S].copy(), beta, float(sigma), float(lp)


def additive_statistics(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """What an additive trial's solve needs of the fold's data, the same for every trial of a
    feature configuration: ZᵀZ, Zᵀy, yᵀy (computed as prophet-batch's ``stack_problems`` does)."""
    return _gram(Z, np.asarray(y, dtype=float))


def solve_additive_one(stats: tuple[np.ndarray, np.ndarray, float], T: int, sigmas: np.ndarray,
                       tau: float) -> tuple[float, float, np.ndarray, np.ndarray, float, float] | str:
    """``prophet_batch.batch._solve_additive([(Z, y, sigmas, tau)])[0]`` for one series, from
    :func:`additive_statistics` of (Z, y): the same problem (``stack_problems``' ridge and L1
    layout, no padding), prophet-batch's ``solve_map`` algorithm from its starting point
    (w = 0, sigma = 1), the same acceptance rules. (k, m, delta, beta, sigma_obs, lp), or why
    the solve is refused."""
    from prophet_batch.batch import _KM_PRIOR_VAR, _MIN_SIGMA, _PERFECT_FIT

    G, C, yy = stats
    K = len(sigmas)
    S = C.size - 2 - K
    ridge = np.concatenate([[1 / _KM_PRIOR_VAR, 1 / _KM_PRIOR_VAR], np.zeros(S),
                            1 / np.asarray(sigmas, dtype=float) ** 2])
    l1 = np.zeros(C.size, bool)
    l1[2:2 + S] = True
    try:
        w, sigma = _solve_map(G, C, yy, float(T), ridge, l1, float(tau), np.zeros(C.size), 1.0)
    except np.linalg.LinAlgError as exc:
        return f"additive solver failed: {exc}"
    rss = yy - 2 * (C @ w) + w @ (w @ G)
    lp = float(-0.5 * np.sum(ridge * w ** 2) - np.sum(np.abs(w) * l1) / tau - sigma ** 2 / (2 * 0.5 ** 2)
               - T * np.log(sigma) - rss / (2 * sigma ** 2))
    if not (np.isfinite(sigma) and np.isfinite(lp) and np.isfinite(w).all()):
        return "additive solver returned a non-finite solution"
    if sigma <= _MIN_SIGMA:
        return _PERFECT_FIT
    return float(w[0]), float(w[1]), w[2:2 + S].copy(), w[2 + S:].copy(), float(sigma), lp
