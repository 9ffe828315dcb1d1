r"""Threshold integration ("density method"): propagate the membrane density on a grid.

The general predictor and the reference for the others (theory.md section 4.5). The membrane
density :math:`p_t(V)` of a neuron with per-step input law :math:`x\sim F` evolves as

.. math::

    h_t(H) = \int p_{t-1}(V)\, f\!\left(\frac{H - \beta V - c}{g}\right)\frac{dV}{g}, \qquad
    r_t = \int_{H>\theta} h_t(H)\,dH, \qquad
    p_t = \operatorname{reset}(h_t)

on a uniform grid whose edges include :math:`\theta`; cell-to-cell transition probabilities are
exact integrals of the input law (Gaussian, or the Binomial-Gaussian shot-noise mixture of
:class:`~snninit_plugins.inputs.SynapticInput`) over each target cell. The finite-window rate is
:math:`\frac1T\sum_{t=1}^T r_t` from :math:`p_0=\delta(V-V_0)`; the stationary rate comes from the
stationary vector of the cell transition matrix. With a synaptic filter the state is
:math:`(I, V)` on a 2-D grid. Everything is averaged over the quenched spread of drifts
(Gauss-Hermite) and over per-neuron parameter groups.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from scipy import sparse, special, stats
from scipy.sparse.linalg import spsolve

from .._threads import single_blas_thread
from ..inputs import (
    MaxPooledLaw,
    MixtureLaw,
    SampledLaw,
    SynapticInput,
    noise_factor,
    window_offset_variance,
)
from ..neuron import CanonicalNeuron
from ._result import MembraneDistribution, RatePrediction, Surrogate

_SIGMAS = 7.0  # grid half-widths in standard deviations
_TABLE_REFINE = 4  # CDF table points per grid cell
_I_CELLS = 0.3  # synaptic-current cells per membrane cell (filtered neurons)
_FILTER_CELLS = 0.625  # membrane cells of a filtered neuron per n_cells (its state is 2-D)
_NODE_WEIGHT_FLOOR = 1e-5  # quadrature nodes of smaller weight are left out of the quenched average


def _law_range(law: MixtureLaw) -> tuple[float, float]:
    """The law's mean +- SIGMAS std (components further out carry negligible mass)."""
    return law.mean - _SIGMAS * law.std, law.mean + _SIGMAS * law.std


def _support(law: MixtureLaw | MaxPooledLaw | SampledLaw) -> tuple[float, float]:
    """Where the law has mass: every non-negligible component's mean +- 9 std (a sample's range)."""
    if isinstance(law, SampledLaw):
        return float(law.samples[0]), float(law.samples[-1])
    if isinstance(law, MaxPooledLaw):
        return min(law.mean, law.drift) - 12 * law.std, max(law.mean, law.drift) + 12 * law.std
    live = law.weights > 1e-15
    return float(np.min((law.means - 9 * law.stds)[live])), float(np.max((law.means + 9 * law.stds)[live]))


#: a component's CDF is taken as 0 or 1 where its weight times its distance from 0 or 1 is below this
_NEGLIGIBLE = 1e-17


def _reach(weights: np.ndarray) -> np.ndarray:
    """How many stds from its mean each component's CDF differs from 0 and 1 by more than
    :data:`_NEGLIGIBLE` over its weight (9 at most)."""
    return np.clip(-special.ndtri(np.minimum(_NEGLIGIBLE / np.maximum(weights, 1e-300), 0.5)), 0.0, 9.0)


def _cdf_table(law: MixtureLaw | MaxPooledLaw, u: np.ndarray, strict: bool,
               residues: tuple[int, ...] | None = None, stride: int = 1) -> np.ndarray:
    """P(x <= u) (strict test) or P(x < u) on a uniform table ``u``; with ``residues``, only at the points i with
    i % stride in residues (the others are left incomplete).

    Each Gaussian component is evaluated only where it is not yet 0 or 1 to double precision: |z| < 9, or less
    for a light component (its weight times the normal tail beyond |z| below 1e-17: a shot-noise law's 40-50
    components are mostly light; at weight 1e-6, |z| < 6.4), all components in one array (a loop over the
    20-60 components of a shot-noise law cost a tenth of a T = 100 evaluation). Each point sums the same terms
    in the same order whichever points are asked for.
    """
    if isinstance(law, MaxPooledLaw | SampledLaw):
        return law.cdf(u, left=not strict)
    u0, du, n = float(u[0]), float(u[1] - u[0]), len(u)
    steps = np.zeros(n + 1)  # each component's full weight from where its CDF is 1 on: summed once at the end
    w, m, sd = law.weights, law.means, law.stds
    smooth = sd > 0
    if not smooth.all():
        for weight, mean in zip(w[~smooth].tolist(), m[~smooth].tolist()):
            steps[int(np.searchsorted(u, mean, side="left" if strict else "right"))] += weight
        w, m, sd = w[smooth], m[smooth], sd[smooth]
    reach = _reach(w) * sd
    lo = np.clip(np.floor((m - reach - u0) / du), 0, n).astype(int)
    hi = np.clip(np.ceil((m + reach - u0) / du) + 1, 0, n).astype(int)
    np.add.at(steps, hi, w)
    if len(w) == 1 and residues is None:  # one Gaussian (the search's law): its span is a slice, no index arrays
        table, (a,), (b,) = np.cumsum(steps[:n]), lo, hi
        table[a:b] = w[0] * special.ndtr((u[a:b] - m[0]) * (1.0 / sd)[0]) + table[a:b]
        return table
    # all components at once, each over its own span only (the normal CDF is most of the cost)
    if residues is None:
        index = lo[:, None] + np.arange(int((hi - lo).max(initial=0)))
        inside = index < hi[:, None]
    else:  # for each residue r, the points r + stride * k within the span [lo, hi)
        r = np.array(residues)[:, None, None]
        first = (lo[:, None] - r + stride - 1) // stride
        offsets = np.arange(int(((hi[:, None] - r + stride - 1) // stride - first).max(initial=0)))
        index = r + stride * (first + offsets)
        inside = index < hi[:, None]
    if index.size == 0:
        return np.cumsum(steps[:n])
    component = np.broadcast_to(np.arange(len(w))[:, None], index.shape)[inside]
    index = index[inside]
    values = w[component] * special.ndtr((u[index] - m[component]) * (1.0 / sd)[component])
    return np.bincount(index, weights=values, minlength=n) + np.cumsum(steps[:n])


class _Grid:
    """Uniform grid of cells with theta on an edge; cells at and above index ``fire_from`` fire."""

    def __init__(self, lo: float, hi: float, theta: float, n_cells: int) -> None:
        below = min(max(math.ceil((theta - lo) / (hi - lo) * n_cells), 2), n_cells - 2)
        above = n_cells - below
        dv = max((theta - lo) / below, (hi - theta) / above)
        self.dv = dv
        self.lo = theta - below * dv
        self.n = below + above
        self.fire_from = below
        self.edges = self.lo + dv * np.arange(self.n + 1)
        self.centres = self.edges[:-1] + 0.5 * dv

    def split(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Linear split of point masses at ``values`` between the two nearest cell centres."""
        pos = np.clip((np.asarray(values, dtype=np.float64) - self.centres[0]) / self.dv, 0.0, self.n - 1.0)
        left = np.minimum(np.floor(pos).astype(int), self.n - 2)
        frac = pos - left
        return left, left + 1, frac


@functools.lru_cache(maxsize=64)
def _window_sums(beta: float, n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """beta^t, sum_{s<t} beta^s and sqrt(sum_{s<t} beta^2s) for t = 0..n_steps (the free membrane over a window).

    Remembered: :func:`_bounds` needs them for every quadrature node of every evaluation (a tenth of the cost
    of a T = 100 evaluation when recomputed)."""
    t = np.arange(n_steps + 1)
    geo = np.cumsum(np.concatenate([[0.0], beta ** t[:-1]]))
    geo2 = np.cumsum(np.concatenate([[0.0], beta ** (2 * t[:-1])]))
    for a in (decay := beta**t, geo, root := np.sqrt(geo2)):
        a.flags.writeable = False
    return decay, geo, root


def _bounds(neuron: CanonicalNeuron, laws: list[MixtureLaw], n_steps: int | None) -> tuple[float, float]:
    """Membrane range that holds all but a negligible part of the mass."""
    beta, g, c = neuron.beta, neuron.gain, neuron.drive
    theta, v0 = neuron.threshold, neuron.v0
    means = [law.mean for law in laws]
    stds = [law.std for law in laws]
    x_hi = max(m + _SIGMAS * sd for m, sd in zip(means, stds))  # as _law_range
    d_lo, d_hi, s = min(means), max(means), max(stds)
    jump_hi = g * x_hi + c
    reset_level = neuron.reset_level
    # low side: free membrane (no threshold) mean - SIGMAS std, within the window if finite
    if n_steps is None:
        if beta < 1:
            free_lo = (g * d_lo + c) / (1 - beta) - _SIGMAS * g * s / math.sqrt(1 - beta * beta)
        else:
            free_lo = -math.inf
    else:
        decay, geo, root_geo2 = _window_sums(float(beta), int(n_steps))
        free_lo = float(np.min(v0 * decay + (g * d_lo + c) * geo - _SIGMAS * g * s * root_geo2))
    span = max(theta - reset_level, g * s, 1e-12)
    # below the reset level the membrane only wanders as far as the noise takes it against the drift
    drift_up = max(g * d_hi + c - (1 - beta) * reset_level, 1e-3 * span)
    wander = _SIGMAS * g * s + 2.0 * (_SIGMAS * g * s) ** 2 / drift_up
    lo = min(v0, reset_level, theta - span, max(free_lo, reset_level - wander))
    lo = max(lo, theta - 200 * span)
    if neuron.reset == "none":
        if n_steps is None and beta < 1:
            hi_v = (g * d_hi + c) / (1 - beta) + _SIGMAS * g * s / math.sqrt(1 - beta * beta)
        else:
            steps = n_steps or 1000
            hi_v = v0 + steps * max(jump_hi, 0.0)
        hi = max(theta, hi_v) + max(jump_hi, 0.0)
        return lo, max(hi, theta + span)
    # one step from at most theta, and one more from what a subtract reset can leave above theta;
    # mass beyond is lumped into the top cell (it fires either way)
    hi = theta + max(jump_hi, 0.0)
    hi = max(hi, beta * (hi - (theta - reset_level)) + max(jump_hi, 0.0))
    return lo, max(hi, theta + 0.05 * span)


def _reset_targets(neuron: CanonicalNeuron, grid: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each firing cell (from ``grid.fire_from`` up) is reset to: (left, right, frac) of
    :meth:`_Grid.split` at v_reset (value reset) or the cell centre less the subtracted amount."""
    fired = np.arange(grid.fire_from, grid.n)
    if neuron.reset == "value":
        targets = np.full(fired.shape, neuron.v_reset, dtype=np.float64)
    else:
        targets = grid.centres[fired] - neuron.subtract_amount
    return grid.split(targets)


def _reset_entries(neuron: CanonicalNeuron, grid: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) of the cell map H -> V: identity below theta, the reset above (rows sum to one)."""
    n, j0 = grid.n, grid.fire_from
    fired = np.arange(j0, n)
    stay = np.arange(j0)
    left, right, frac = _reset_targets(neuron, grid)
    rows = np.concatenate([stay, fired, fired])
    cols = np.concatenate([stay, left, right])
    vals = np.concatenate([np.ones(j0), 1.0 - frac, frac])
    return rows, cols, vals


def _reset_matrix(neuron: CanonicalNeuron, grid: _Grid) -> sparse.csr_matrix:
    """Sparse cell map H -> V: identity below theta, the reset above (rows sum to one)."""
    if neuron.reset == "none":
        return sparse.identity(grid.n, format="csr")
    rows, cols, vals = _reset_entries(neuron, grid)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(grid.n, grid.n))


class _Fired:
    """The rows of :func:`_reset_matrix` from ``grid.fire_from`` on (below, R is the identity): fired cell j
    goes to cells left_j and left_j + 1 with weights 1 - frac_j and frac_j, left_j non-decreasing in j. Applied
    by sums over the runs of equal left_j, so that it costs little even where most of a grid lies above theta
    (a fast input's high drifts: a dense product took a fifth of an evaluation)."""

    def __init__(self, neuron: CanonicalNeuron, grid: _Grid) -> None:
        self.j0 = grid.fire_from
        self.frac: np.ndarray | None = None  # no reset: each fired cell stays where it is
        if neuron.reset == "value":  # every fired cell to v_reset: one run (the same numbers as its split)
            (left,), _, (frac,) = grid.split(np.array([neuron.v_reset], dtype=np.float64))
            self.left, self.frac = np.full(grid.n - self.j0, left), np.full(grid.n - self.j0, frac)
            self.runs, self.cells, self.block = np.zeros(1, int), self.left[:1], None
            return
        if neuron.reset == "none":
            self.left = np.arange(self.j0, grid.n)
        else:
            self.left, _, self.frac = _reset_targets(neuron, grid)
        self.runs = np.flatnonzero(np.concatenate([[True], np.diff(self.left) != 0]))
        self.cells = self.left[self.runs]
        # every fired cell to its own cell, in order (a subtract reset): a slice of columns, no sums
        first = int(self.cells[0]) if len(self.cells) else 0
        self.block = (slice(first, first + len(self.left))
                      if len(self.runs) == len(self.left) and np.all(np.diff(self.left) == 1) else None)

    def apply(self, h: np.ndarray) -> np.ndarray:
        """h R for masses ``h`` (last axis: the grid's cells)."""
        out = h.copy()
        out[..., self.j0:] = 0.0
        self.add(h[..., self.j0:], out)
        return out

    def add(self, fired: np.ndarray, out: np.ndarray) -> None:
        """Adds to ``out`` where the masses ``fired`` (last axis: the fired cells) are reset to."""
        if self.frac is None:
            out[..., self.cells] += fired
            return
        if self.block is not None:
            left, right = self.block, slice(self.block.start + 1, self.block.stop + 1)
            out[..., left] += fired * (1.0 - self.frac)
            out[..., right] += fired * self.frac
            return
        out[..., self.cells] += np.add.reduceat(fired * (1.0 - self.frac), self.runs, axis=-1)
        out[..., self.cells + 1] += np.add.reduceat(fired * self.frac, self.runs, axis=-1)


def _step_matrix(kernel: np.ndarray, fired: _Fired, out: np.ndarray) -> np.ndarray:
    """K R, one step of the chain (transition, then reset), into ``out``: R is the identity below theta, so
    only the firing cells' columns of K are mixed by it."""
    j0 = fired.j0
    out[...] = kernel
    out[:, j0:] = 0.0
    fired.add(kernel[:, j0:], out)
    return out


def _transition(neuron: CanonicalNeuron, law: MixtureLaw, grid: _Grid, source: np.ndarray,
                out: np.ndarray | None = None, extra_source: float | None = None,
                extra_out: np.ndarray | None = None) -> np.ndarray:
    """P(H in cell j | source state i), shape (len(source), cells), where H = source_i + g*x.

    ``source`` holds ``beta*V + c`` per source state. Gaussian components are integrated exactly over
    each target cell (their CDF tabulated finely and interpolated); mass beyond the grid is lumped into
    the end cells. Point masses (no active input) are split linearly between the two nearest cell
    centres on their side of the threshold, so that a sub-cell leak still moves them. Written into
    ``out`` (zeroed first) when given. ``extra_source``: one more source, whose row is written into ``extra_out``
    (read from the same table where it lies among ``source``: V0's row for the window's first step costs no
    table of its own).

    The table's step is a whole fraction (1/refine) of a cell, and the edges are a cell apart: along a
    row, each edge lies ``refine`` table points after the one before, at the same fraction between two
    points. A row's CDF at the edges is therefore two strided slices of the table mixed by one fraction
    (the same interpolation as per entry, to rounding; a third of the cost of an evaluation at T = 100
    went into interpolating entry by entry).

    Where the sources lie a whole number w of table steps apart (beta * refine whole: a perfect integrator,
    or beta 0.5), every row is the last one moved by w steps per row, at one fraction: the kernel is then a
    strided view of one interpolated row, and a perfect integrator reads only two of the four residues of
    its table (the others are not computed). Measured on the 25 nodes of a beta 1, T = 100 evaluation: 10.3 ms
    against 13.8 ms, entries within 1.7e-14 and rates within 5e-15 of the entry-by-entry interpolation.
    """
    g = neuron.gain
    atoms = law.stds == 0
    any_atoms = bool(atoms.any())
    if out is None:
        out = np.empty((len(source), grid.n))
    extra = None if extra_source is None else extra_out.reshape(1, grid.n)
    if extra is not None and not float(source.min()) <= extra_source <= float(source.max()):
        _transition(neuron, law, grid, np.array([extra_source]), out=extra)  # outside the table: a table of its own
        extra = None
    smooth_weight = float(law.weights[~atoms].sum() if any_atoms else law.weights.sum())
    if not smooth_weight > 0:
        out[...] = 0.0
        if extra is not None:
            extra[...] = 0.0
    else:
        smooth = law if isinstance(law, MaxPooledLaw | SampledLaw) or not any_atoms else MixtureLaw(
            law.weights[~atoms], law.means[~atoms], law.stds[~atoms])
        # x needed to land below each edge: (edges_j - source_i) / g, increasing along a row
        first = (grid.edges[0] - source) / g
        last = (grid.edges[-1] - source) / g
        u_lo, u_hi = float(min(first.min(), last.min())), float(max(first.max(), last.max()))
        # the CDF is interpolated linearly: a few table points per cell, fewer when every component is wide
        refine = 2 if float(smooth.stds.min()) * g > 2 * grid.dv else _TABLE_REFINE
        du = grid.dv / g / refine
        n_edges = grid.n + 1
        n_tab = max(math.ceil((u_hi - u_lo) / du) + 2, refine * (n_edges - 1) + 2)
        pos = (first - u_lo) / du  # each row's first edge, in table steps
        last_i0 = n_tab - 2 - refine * (n_edges - 1)
        u = u_lo + du * np.arange(n_tab)
        # rows a whole number of table steps apart (checked on the ends first: cheap where they are not)
        span = float(pos[0] - pos[-1])
        whole = round(span / (len(pos) - 1)) if len(pos) > 1 else 0
        base = max(math.floor(pos[-1]), 0)
        if (whole >= 1 and abs(span - whole * (len(pos) - 1)) < 1e-6 and base + whole * (len(pos) - 1) <= last_i0
                and np.all(np.abs(pos[:-1] - pos[1:] - whole) < 1e-6)):
            # every row is the last one's, moved by ``whole`` table steps per row, at one fraction (the same to
            # rounding); the rows read the table at residues base + whole q and one on, modulo refine
            frac = pos[-1] - base
            i0 = base + whole * np.arange(len(pos) - 1, -1, -1)
            residues = np.unique(np.concatenate([i0 % refine, (i0 + 1) % refine]))
            tab = _cdf_table(smooth, u, neuron.strict,
                             tuple(residues.tolist()) if len(residues) < refine and extra is None else None, refine)
            gaps = tab[refine:] - tab[:-refine]
            cells = gaps[:-1] * (1 - frac) + gaps[1:] * frac  # a cell's mass from each table point on
            out[...] = np.lib.stride_tricks.as_strided(
                cells[base:], shape=(len(pos), n_edges - 1), strides=(whole * cells.strides[0],
                                                                      refine * cells.strides[0]), writeable=False)[::-1]
            cdf = tab[:-1] * (1 - frac) + tab[1:] * frac
            out[:, 0] = cdf[i0 + refine]
            out[:, -1] = smooth_weight - cdf[i0 + refine * (n_edges - 2)]
        else:
            tab = _cdf_table(smooth, u, neuron.strict)
            _interpolated_rows(tab, pos, refine, last_i0, smooth_weight, out)
        if extra is not None:
            _interpolated_rows(tab, np.array([(grid.edges[0] - extra_source) / g - u_lo]) / du, refine, last_i0,
                               smooth_weight, extra)
    if not any_atoms:
        return out
    _add_atoms(neuron, law, grid, source, out)
    if extra is not None:
        _add_atoms(neuron, law, grid, np.array([extra_source]), extra)
    return out


def _interpolated_rows(tab: np.ndarray, pos: np.ndarray, refine: int, last_i0: int, smooth_weight: float,
                       out: np.ndarray) -> None:
    """:func:`_transition`'s rows from the CDF table ``tab`` (``refine`` points a cell), each row's first edge at
    table position ``pos``, interpolated linearly; the end cells hold everything beyond the grid."""
    n_edges = out.shape[1] + 1
    i0 = np.clip(np.floor(pos).astype(int), 0, last_i0)
    frac = (pos - i0)[:, None]
    # rows of ``strided``: the table at i, i + refine, i + 2 refine, ... (one per edge)
    strided = np.lib.stride_tricks.as_strided(
        tab, shape=(len(tab) - refine * (n_edges - 1), n_edges),
        strides=(tab.strides[0], refine * tab.strides[0]), writeable=False)
    # the mass in each cell: the table's differences over a cell, interpolated alike
    gaps = tab[refine:] - tab[:-refine]
    cells = np.lib.stride_tricks.as_strided(
        gaps, shape=(len(gaps) - refine * (n_edges - 2), n_edges - 1),
        strides=(gaps.strides[0], refine * gaps.strides[0]), writeable=False)
    np.multiply(cells[i0], 1 - frac, out=out)
    out += cells[i0 + 1] * frac
    cdf_first = strided[i0, 1] * (1 - frac[:, 0]) + strided[i0 + 1, 1] * frac[:, 0]
    cdf_last = strided[i0, -2] * (1 - frac[:, 0]) + strided[i0 + 1, -2] * frac[:, 0]
    out[:, 0] = cdf_first
    out[:, -1] = smooth_weight - cdf_last


def _add_atoms(neuron: CanonicalNeuron, law: MixtureLaw, grid: _Grid, source: np.ndarray, out: np.ndarray) -> None:
    """Adds :func:`_transition`'s point masses (no active input) to its rows ``out``: each split linearly between
    the two nearest cell centres on its side of the threshold."""
    g = neuron.gain
    atoms = law.stds == 0
    rows = np.arange(len(source))
    for w, m in zip(law.weights[atoms], law.means[atoms]):
        h = source + g * m
        fires = h > neuron.threshold if neuron.strict else h >= neuron.threshold
        pos = (h - grid.centres[0]) / grid.dv
        pos = np.where(fires, np.clip(pos, grid.fire_from, grid.n - 1), np.clip(pos, 0, grid.fire_from - 1))
        left = np.minimum(np.floor(pos).astype(int), grid.n - 2)
        frac = pos - left
        np.add.at(out, (rows, left), w * (1 - frac))
        np.add.at(out, (rows, left + 1), w * frac)


def _source_row(neuron: CanonicalNeuron, law: MixtureLaw | MaxPooledLaw | SampledLaw, grid: _Grid,
                source: float) -> np.ndarray:
    """:func:`_transition`'s row (1, cells) for one source ``beta * V + c``, a Gaussian mixture's smooth part from
    its CDF at the cell edges themselves (no table: a fifth of the cost of one, and exact)."""
    if not isinstance(law, MixtureLaw):
        return _transition(neuron, law, grid, np.array([source]))
    smooth = law.stds > 0
    w, m, sd = law.weights[smooth], law.means[smooth], law.stds[smooth]
    u = (grid.edges[1:-1] - source) / neuron.gain  # the interior edges
    cdf = w @ special.ndtr((u[None, :] - m[:, None]) / sd[:, None])
    out = np.empty((1, grid.n))
    out[0, 0], out[0, 1:-1], out[0, -1] = cdf[0], np.diff(cdf), w.sum() - cdf[-1]
    if not smooth.all():
        _add_atoms(neuron, law, grid, np.array([source]), out)
    return out


def _stationary(a: np.ndarray) -> np.ndarray:
    """Stationary row vector pi = pi A of a row-stochastic matrix A."""
    n = a.shape[0]
    lhs = a.T - np.eye(n)
    lhs[-1, :] = 1.0
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    try:
        pi = np.linalg.solve(lhs, rhs)
    except np.linalg.LinAlgError:  # several closed classes (e.g. no noise): iterate instead
        pi = np.full(n, 1.0 / n)
        for _ in range(20000):
            nxt = pi @ a
            if np.max(np.abs(nxt - pi)) < 1e-13:
                break
            pi = nxt
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _start(grid: _Grid, value: float) -> np.ndarray:
    """Unit mass at ``value``, split as :meth:`_Grid.split` does (in scalars: the same numbers, 6 us against 38)."""
    pos = min(max((float(value) - float(grid.centres[0])) / grid.dv, 0.0), grid.n - 1.0)
    left = min(math.floor(pos), grid.n - 2)
    p = np.zeros(grid.n)
    p[left] += 1 - (pos - left)
    p[left + 1] += pos - left
    return p


_NodeResult = tuple[float, "_Grid | None", "np.ndarray | None", "np.ndarray | None"]


def _autocovariance_starts(n_steps: int) -> list[int]:
    """The start times of a window's autocovariance: eight sample the window well enough."""
    return list(range(0, n_steps, max(1, n_steps // 8)))


def _spike_autocovariance(kernels: np.ndarray, resets: list[sparse.csr_matrix], fire_from: list[int],
                          pres: np.ndarray, rates: np.ndarray, starts: list[int], n_lags: int) -> np.ndarray:
    """Cov(s_t, s_{t+d}) for d = 1..n_lags from the membrane chain of every node, averaged over start times t.

    Per node k (leading axes): ``pres[k]`` holds the pre-reset distribution at each start time t in
    ``starts`` (one row, t = 0: stationary), ``rates[k]`` the firing probability r_t of every step of the
    window (one entry: stationary). From the mass in the firing cells at t (the event s_t = 1), reset, and
    step the chain H = K(V), V = R(H): the mass in the firing cells d steps later is
    P(s_t = 1, s_{t+d} = 1); minus r_t r_{t+d}. Over a window from V0 the rate's deterministic rise is taken
    out this way: only fluctuations remain. All nodes and start times are stepped together (one batched
    product with R K per lag). Returns shape (nodes, n_lags).
    """
    firing = np.zeros(kernels.shape[:2])
    for k, j0 in enumerate(fire_from):
        firing[k, j0:] = 1.0
    h = pres * firing[:, None, :]
    step = np.stack([np.asarray(reset @ kernel) for reset, kernel in zip(resets, kernels)])
    starts_at = np.asarray(starts)
    covariance = np.zeros((len(kernels), n_lags))
    # P(s_t = 1, s_{t+d} = 1) = h_t (R K)^d 1_fire: the firing indicator stepped backwards, one product per lag
    # for all start times (8 times fewer operations than stepping each start's masses forwards)
    later_fires = firing[:, :, None]
    for d in range(n_lags):
        later_fires = step @ later_fires
        joint = np.einsum("ksc,kc->ks", h, later_fires[:, :, 0])
        if rates.shape[1] == 1:
            covariance[:, d] = joint[:, 0] - rates[:, 0] ** 2
            continue
        later = starts_at + d + 1
        valid = later < rates.shape[1]
        if not valid.any():
            break
        covariance[:, d] = np.mean(joint[:, valid] - rates[:, starts_at[valid]] * rates[:, later[valid]], axis=1)
    return covariance


#: A node whose masses move by less than this (L1) in a step has stopped: the window's remaining steps repeat it
_SETTLED = 1e-11


def _window_total(p: np.ndarray, step: np.ndarray, n_steps: int, firing: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum_{t<T} p_t, p_T, r) for p_t = p_{t-1} S, every node (leading axis) at once; ``p``: (nodes, 1, cells);
    r[k, t] = p_t f_k, the per-step firing probabilities, with ``firing`` f (nodes, cells, 1) the probability of
    firing in a step from each cell.

    Stepped in single precision (the products stream S through memory at every step: half the bytes; 100
    steps of 37 nodes of 160 cells took 9 ms against 19 ms in double precision); each step's masses carry a
    relative rounding error of about 1e-7, so a window's rate moves by about T * 1e-7 of itself at most.
    Returned in double precision, renormalised to unit mass per step.

    Nodes that have settled are no longer stepped: a node whose masses move by e <= _SETTLED (L1) in a step
    moves by at most e per step from then on (a stochastic matrix does not lengthen a row vector's L1 norm),
    so repeating its last masses for the rest of the window is off by less than T^2 e / 2 in the sum, T e / 2
    in the window's mean masses (5e-10 at T = 100). Only nodes at the low end of the drifts are left out
    (they settle first: the silent ones sink into the bottom cell), so the rest stays a view. Measured on a
    50-layer stack (beta 1, subtract reset, target 0.1, T = 100): from layer 3 on, the lower half of the
    drift nodes is silent and settles within 10-70 steps, about 40% of the node-steps.
    """
    p = p.astype(np.float32)
    step = step.astype(np.float32, copy=False)
    firing = firing.astype(np.float32, copy=False)
    total = np.zeros_like(p)
    rates = np.empty((len(p), n_steps), dtype=np.float32)
    last = p.copy()
    done = 0  # nodes [0, done) have settled
    for t in range(n_steps):
        total[done:] += p
        rates[done:, t] = (p @ firing[done:])[:, 0, 0]
        nxt = p @ step[done:]
        settled = 0
        if t % 4 == 3:  # checked every few steps: the check costs a third of a step of few, small nodes
            moved = np.abs(nxt - p).sum(axis=-1)[:, 0]
            while settled < len(moved) and moved[settled] <= _SETTLED:
                settled += 1
        if settled:
            rest = n_steps - t - 1  # p_{t+1} .. p_{T-1}, each nxt
            total[done:done + settled] += rest * nxt[:settled]
            last[done:done + settled] = nxt[:settled]
            rates[done:done + settled, t + 1:] = (nxt[:settled] @ firing[done:done + settled])[:, 0]
            done += settled
            nxt = nxt[settled:]
        p = nxt
        if done == len(total):
            break
    last[done:] = p
    # rounding leaves each step's mass 1 to about 1e-7: renormalised, so that the masses sum to one exactly
    total, last = total.astype(np.float64), last.astype(np.float64)
    total *= n_steps / total.sum(axis=-1, keepdims=True)
    last /= last.sum(axis=-1, keepdims=True)
    return total, last, rates.astype(np.float64)


def _firing_probabilities(kernels: np.ndarray, fired: list[_Fired]) -> np.ndarray:
    """Each node's probability of firing in a step from each cell (nodes, cells, 1): its kernel's mass at and
    above theta."""
    return np.stack([kern[:, f.j0:].sum(axis=1) for kern, f in zip(kernels, fired)])[:, :, None]


def _rise_phase(neuron: CanonicalNeuron, grids: list[_Grid], fired: list[_Fired],
                rise: tuple[list[list], list[int]] | None, live: list[int], from_v0: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The window's first steps from V0 at the levels of ``rise`` (laws per level, per node; each step's level),
    every live node at once.

    Returns the sums of their pre- and post-reset masses, their firing probabilities (nodes, steps) and the
    masses after them (without steps: zeros, no steps and the masses at V0). The first step is taken from V0
    itself, by its own kernel row (:func:`_source_row`). V0 split between the two nearest cell centres moved
    part of the mass half a cell towards theta, and the first steps of a sparse neuron fire from the tail of its
    input law: the rise they give came out too fast, by a grid-dependent amount (at beta 0.99, subtract reset,
    target 0.05, T = 25 the plan carried 8.4, 9.7 and 11.9 missing steps at layer 50 with 120, 160 and 240
    cells; from V0 exactly 12.2, 12.6 and 13.1; the stack measures 15.7). Later steps use each level's kernel,
    built once. ``from_v0``: the first step's rows (nodes, 1, cells), when they were read off the steady
    kernels' tables (:func:`_transition`'s ``extra_source``)."""
    nodes, cells = len(grids), grids[0].n
    p = np.stack([_start(grid, neuron.v0) for grid in grids])[:, None, :]  # (nodes, 1, cells): batched matmul
    if not rise or not rise[1]:
        return np.zeros((nodes, cells)), np.zeros((nodes, cells)), np.zeros((nodes, 0)), p
    level_laws, schedule = rise
    kernels: dict[int, np.ndarray] = {}
    pre = np.zeros((nodes, 1, cells))
    post = np.zeros((nodes, 1, cells))
    rates = np.empty((nodes, len(schedule)))
    start = neuron.beta * float(neuron.v0) + float(neuron.drive)
    for t, j in enumerate(schedule):
        # the pre-reset masses h = p K; the post-reset ones are h R (R per node: its own grid)
        if t == 0:
            h = from_v0 if from_v0 is not None else np.stack(
                [_source_row(neuron, level_laws[j][k], grid, start) for k, grid in zip(live, grids)])
        else:
            if j not in kernels:  # the level's K, per node on its own grid
                kernels[j] = np.empty((nodes, cells, cells))
                for row, (k, grid) in enumerate(zip(live, grids)):
                    _transition(neuron, level_laws[j][k], grid, neuron.beta * grid.centres + neuron.drive,
                                out=kernels[j][row])
            h = p @ kernels[j]
        pre += h
        rates[:, t] = [h[row, 0, f.j0:].sum() for row, f in enumerate(fired)]
        p = np.stack([f.apply(h[row]) for row, f in enumerate(fired)])
        post += p
    return pre[:, 0, :], post[:, 0, :], rates, p


#: Lags of the output autocorrelation carried to the next layer.
AUTOCORRELATION_LAGS = 24


def _plain_nodes(neuron: CanonicalNeuron, laws: list[MixtureLaw], n_steps: int | None, n_cells: int,
                 autocovariance: list | None = None, repeats: list | None = None,
                 given: list | None = None, profiles: list | None = None,
                 rise: tuple[list[list], list[int]] | None = None) -> list[_NodeResult]:
    """Rate, grid and mean pre-/post-reset masses of one scalar neuron at each drift's law, no filter.

    Each law gets its own grid (same number of cells), and the window is stepped for all at once. When
    ``autocovariance`` is a list, each node's output spike autocovariance (:func:`_spike_autocovariance`)
    is appended to it (zeros for silent nodes); when ``repeats`` is a list, each node's repeat kernel
    (:func:`_repeat_kernels`); when ``given`` is a list, each node's firing probability given the active-input
    count (:func:`_rate_given_count`; None for silent nodes); when ``profiles`` is a list (over a window), each
    node's firing probability at each step of the window (zeros for silent nodes). ``rise``: (laws per level,
    per node; each first step's level) for input whose window starts at other levels: those steps are stepped
    with their level's kernels, on the grids of ``laws`` (the steady part's), before the steady part; the
    autocovariance is then that of the steady part.
    """
    results: list[_NodeResult] = [(0.0, None, None, None)] * len(laws)
    live = [
        k for k, law in enumerate(laws)
        # a non-leaky neuron without positive drift is transient: its long-run rate is 0
        if not (n_steps is None and neuron.beta >= 1.0 and neuron.gain * law.mean + neuron.drive <= 0)
    ]
    if not live:
        return results
    grids = [_Grid(*_bounds(neuron, [laws[k]], n_steps), neuron.threshold, n_cells) for k in live]
    kernels = np.empty((len(live), n_cells, n_cells))
    # over a window whose first step is at the steady laws, that step's rows from V0 (_rise_phase), on the way
    from_v0 = np.empty((len(live), 1, n_cells)) if n_steps is not None and n_steps > 1 and not (rise and rise[1]) else None
    for row, (k, grid) in enumerate(zip(live, grids)):
        _transition(neuron, laws[k], grid, neuron.beta * grid.centres + neuron.drive, out=kernels[row],
                    extra_source=None if from_v0 is None else neuron.beta * float(neuron.v0) + neuron.drive,
                    extra_out=None if from_v0 is None else from_v0[row])
    sparse_resets = ([_reset_matrix(neuron, grid) for grid in grids]
                     if n_steps is None or autocovariance is not None else None)
    fired = [_Fired(neuron, grid) for grid in grids]
    # K R per node: the window's step, and the repeat kernels' (one product per lag instead of two). Over a
    # window without autocovariance, K R replaces K in place, and K's firing columns are kept aside: half the
    # memory, which the window's products stream through at every step
    step = fired_columns = step32 = None
    if n_steps is not None and autocovariance is None:
        fired_columns = [kern[:, f.j0:].copy() for kern, f in zip(kernels, fired)]
        step = kernels
        for row, (kern, f) in enumerate(zip(fired_columns, fired)):
            step[row, :, f.j0:] = 0.0
            f.add(kern, step[row])
        kernels = None
    elif repeats is not None or n_steps is not None:  # K R alongside K
        step = np.empty_like(kernels)
        for row, (kern, f) in enumerate(zip(kernels, fired)):
            _step_matrix(kern, f, step[row])
    if n_steps is None:
        post = np.stack([_stationary(np.asarray((res.T @ kern.T).T)) for kern, res in zip(kernels, sparse_resets)])
        pre = np.einsum("ki,kij->kj", post, kernels)
    else:
        if from_v0 is not None:  # the first step from V0 exactly (_rise_phase), at the steady laws
            rise = ([laws], [0])
        rise_pre, rise_post, rise_rates, p = _rise_phase(neuron, grids, fired, rise, live, from_v0)
        n_steps -= rise_rates.shape[1]  # the steady part's
        if autocovariance is None:
            # p_t = p_{t-1} K R and h_t = p_{t-1} K: by linearity the window's sums need one product per step,
            # sum_t h_t = (sum_{t<T} p_t) K and sum_t p_t = sum_{t<T} p_t - p_0 + p_T
            # in single precision, shared with the repeat kernels (one conversion)
            step32 = step.astype(np.float32)
            firing = np.stack([kern.sum(axis=1) for kern in fired_columns])[:, :, None]
            total, last, rates = _window_total(p, step32, n_steps, firing)
            # sum_t h_t = (sum p_t) K: K R less the reset of K's firing columns, and those columns themselves
            pre = (total @ step)[:, 0, :]
            for row, (kern, f) in enumerate(zip(fired_columns, fired)):
                firing = total[row, 0] @ kern
                reset = np.zeros(n_cells)
                f.add(firing, reset)
                pre[row] -= reset
                pre[row, f.j0:] = firing
            post = (total - p + last)[:, 0, :]
        else:
            # the same sums, stepped with K R; kept for the autocovariance: every step's firing mass, and the
            # pre-reset masses at its start times
            # (single precision, as in _window_total)
            starts = _autocovariance_starts(n_steps)
            firing = _firing_probabilities(kernels, fired)
            masses = np.empty((n_steps, len(live), n_cells), dtype=np.float32)
            last = p.astype(np.float32)
            step32 = step.astype(np.float32)
            for t in range(n_steps):
                masses[t] = last[:, 0, :]
                last = last @ step32
            masses = masses.transpose(1, 0, 2).astype(np.float64)  # (nodes, steps, cells)
            rates = (masses @ firing)[:, :, 0]
            at_starts = list((masses[:, starts] @ kernels).transpose(1, 0, 2))
            total = masses.sum(axis=1, keepdims=True)
            last = last.astype(np.float64)
            pre = (total @ kernels)[:, 0, :]
            post = (total - p + last)[:, 0, :]
        # the window's mean masses, over the rise's steps and the steady part's
        window = n_steps + rise_rates.shape[1]
        pre, post = (pre + rise_pre) / window, (post + rise_post) / window
        window_rates = np.concatenate([rise_rates, rates], axis=1)  # (the autocovariance's are the steady part's)
        n_steps = window
    for row, (k, grid) in enumerate(zip(live, grids)):
        results[k] = (float(pre[row, grid.fire_from:].sum()), grid, pre[row], post[row])
    live_laws = [laws[k] for k in live]
    crossings = (_crossings(neuron, live_laws, grids)
                 if (repeats is not None or given is not None) and isinstance(live_laws[0], MixtureLaw)
                 and all(isinstance(law, MixtureLaw) and len(law.weights) == len(live_laws[0].weights)
                         for law in live_laws) else None)
    rows = {k: row for row, k in enumerate(live)}
    if repeats is not None:
        lags = REPEAT_LAGS if n_steps is None else max(0, min(n_steps - 1, REPEAT_LAGS))
        found = _repeat_kernels(neuron, live_laws, grids, step if step32 is None else step32, fired, pre, lags,
                                crossings)
        repeats.extend(found[rows[k]] if k in rows else np.zeros(lags) for k in range(len(laws)))
    if given is not None:
        by_node = (np.einsum("kcn,kn->kc", _normal_cdf(crossings[0]), post) if crossings is not None else
                   [_rate_given_count(neuron, law, grid, mass) for law, grid, mass in zip(live_laws, grids, post)])
        given.extend(by_node[rows[k]] if k in rows else None for k in range(len(laws)))
    if autocovariance is not None:
        if n_steps is None:
            at_starts, starts = [pre], [0]
            rates = np.array([[results[k][0]] for k in live])
        found = _spike_autocovariance(kernels, sparse_resets, [grid.fire_from for grid in grids],
                                      np.stack(at_starts, axis=1), rates, starts, AUTOCORRELATION_LAGS)
        autocovariance.extend(found[rows[k]] if k in rows else np.zeros(AUTOCORRELATION_LAGS)
                              for k in range(len(laws)))
    if profiles is not None and n_steps is not None:
        profiles.extend(window_rates[rows[k]] if k in rows else np.zeros(n_steps) for k in range(len(laws)))
    return results


def _refractory_node(neuron: CanonicalNeuron, law: MixtureLaw, n_steps: int | None, n_cells: int) -> _NodeResult:
    """As :func:`_plain_nodes` for a neuron held at v_reset for ``refractory`` steps after each spike.

    The state is the membrane cells plus a chain of refractory states R_1..R_r: fired mass enters R_1,
    moves down the chain one step at a time ignoring the input (its H is v_reset, no spike), and leaves
    R_r for the cell of v_reset.
    """
    if n_steps is None and neuron.beta >= 1.0 and neuron.gain * law.mean + neuron.drive <= 0:
        return 0.0, None, None, None
    grid = _Grid(*_bounds(neuron, [law], n_steps), neuron.threshold, n_cells)
    kernel = _transition(neuron, law, grid, neuron.beta * grid.centres + neuron.drive)
    m, r, j0 = grid.n, neuron.refractory, grid.fire_from
    left, right, frac = grid.split(np.array([neuron.v_reset]))
    at_reset = np.zeros(m)
    at_reset[left[0]] += 1 - frac[0]
    at_reset[right[0]] += frac[0]
    # post-state transition A over cells + R_1..R_r, and each state's firing probability
    full = np.zeros((m + r, m + r))
    full[:m, :j0] = kernel[:, :j0]
    full[:m, m] = kernel[:, j0:].sum(axis=1)
    for k in range(r - 1):
        full[m + k, m + k + 1] = 1.0
    full[m + r - 1, :m] = at_reset
    fire = np.concatenate([kernel[:, j0:].sum(axis=1), np.zeros(r)])

    def pre_of(p: np.ndarray) -> np.ndarray:
        return p[:m] @ kernel + p[m:].sum() * at_reset

    if n_steps is None:
        post = _stationary(full)
        return float(post @ fire), grid, pre_of(post), post[:m] + post[m:].sum() * at_reset
    p = np.concatenate([_start(grid, neuron.v0), np.zeros(r)])
    rate, pre, post = 0.0, np.zeros(m), np.zeros(m)
    for _ in range(n_steps):
        rate += float(p @ fire)
        pre += pre_of(p)
        p = p @ full
        post += p[:m] + p[m:].sum() * at_reset
    return rate / n_steps, grid, pre / n_steps, post / n_steps


def _filtered_node(neuron: CanonicalNeuron, law: MixtureLaw, n_steps: int | None, n_cells: int) -> _NodeResult:
    """As :func:`_plain_nodes` with a synaptic filter: the state (I, V) lives on a 2-D grid.

    From a source cell (I, V) the new current is I' = alpha I + x and the membrane H = beta V + c + g I':
    both move with the same x, so the probability of each target pair (I' cell, H cell) is the input law's
    mass on the intersection of two intervals of x, integrated exactly (no binning of I' inside H).
    The stationary state solves the sparse linear system of the full cell transition.
    """
    alpha, g, beta = neuron.alpha, neuron.gain, neuron.beta
    i_std = law.std / math.sqrt(1 - alpha * alpha)
    i_mean = law.mean / (1 - alpha)
    i_lo = min(0.0, i_mean - _SIGMAS * i_std, _law_range(law)[0])
    i_hi = max(0.0, i_mean + _SIGMAS * i_std, _law_range(law)[1])
    n_i = max(16, int(n_cells * _I_CELLS))
    # the current starts at 0: 0 is a cell centre, so that the start is exact (a start half a coarse cell off
    # is a current that drives the membrane through the window's onset: -5.5% on a Norse conv layer at T = 25)
    d_i = (i_hi - i_lo) / (n_i - 2)
    i_edges = d_i * (math.floor(i_lo / d_i) - 0.5 + np.arange(n_i + 1))
    i_centres = 0.5 * (i_edges[1:] + i_edges[:-1])
    # the membrane sees g*I, coloured: size its grid with the free membrane of the filtered kernel
    s1, s2 = neuron.kernel_sums(None if n_steps is None else n_steps)
    v_std = law.std * math.sqrt(s2)
    equiv = MixtureLaw(np.array([1.0]), np.array([law.mean * s1 * (1 - beta) / g]),
                       np.array([v_std * math.sqrt(1 - beta * beta) / g]))
    v_grid = _Grid(*_bounds(neuron.replace(alpha=None), [equiv], n_steps), neuron.threshold, n_cells)
    n_v = v_grid.n
    a = np.repeat(alpha * i_centres, n_v)  # per source state (I major, V minor)
    b = np.tile(beta * v_grid.centres + neuron.drive, n_i)
    # breakpoints in I' for every source: the I' cell edges and the pre-images of the H cell edges, those
    # the input can reach (a window of fixed width per source: I' in a + [x_lo, x_hi]; the law's mass beyond
    # is lumped into the window's end pieces, as mass beyond the grid is into its end cells)
    x_lo, x_hi = _support(law)
    width_i = math.ceil((x_hi - x_lo) / d_i) + 2
    first_i = np.floor((a + x_lo - i_edges[0]) / d_i).astype(np.intp)
    cut_i = i_edges[np.clip(first_i[:, None] + np.arange(width_i), 0, n_i)]
    width_v = math.ceil(g * (x_hi - x_lo) / v_grid.dv) + 2
    first_v = np.floor((b + g * (a + x_lo) - v_grid.edges[0]) / v_grid.dv).astype(np.intp)
    cut_v = (v_grid.edges[np.clip(first_v[:, None] + np.arange(width_v), 0, n_v)] - b[:, None]) / g
    cuts = np.concatenate([cut_i, cut_v], axis=1)
    cuts.sort(axis=1)
    x_at = cuts - a[:, None]
    lo, hi = float(x_at.min()), float(x_at.max())
    du = min(d_i, v_grid.dv / g) / 8
    table_u = lo + du * np.arange(math.ceil((hi - lo) / du) + 2)
    table = _cdf_table(law, table_u, True)
    # linear interpolation in the uniform tables: the cell index by arithmetic, once for both tables
    at = np.clip((x_at - lo) / du, 0.0, len(table_u) - 1.0)
    i0 = np.minimum(at.astype(np.intp), len(table_u) - 2)
    f1 = at - i0
    cdf = table[i0] + f1 * (table[i0 + 1] - table[i0])
    cdf[:, 0] = 0.0
    cdf[:, -1] = 1.0
    mass = np.diff(cdf, axis=1)
    mid = 0.5 * (cuts[:, 1:] + cuts[:, :-1])
    k = np.clip(np.floor((g * mid + b[:, None] - v_grid.edges[0]) / v_grid.dv).astype(int), 0, n_v - 1)
    n_states = n_i * n_v
    rows = np.broadcast_to(np.arange(n_states)[:, None], mass.shape)
    keep = mass > 0
    # each piece's new current is placed at its mean, E[I' | piece] = a + E[x | piece] (from the law's partial
    # first moment), split linearly between the two nearest current cells: binning it to the cell centre
    # instead biases a coarse current grid (+2.6% on that layer, +0.7% split)
    first = np.concatenate([[0.0], np.cumsum(0.5 * (table_u[1:] + table_u[:-1]) * np.diff(table))])
    moment = np.diff(first[i0] + f1 * (first[i0 + 1] - first[i0]), axis=1)
    i_mean = np.clip(a[:, None] + moment / np.where(keep, mass, 1.0), cuts[:, :-1], cuts[:, 1:])
    pos = np.clip((i_mean - i_centres[0]) / d_i, 0.0, n_i - 1.0)
    left = np.minimum(np.floor(pos).astype(int), n_i - 2)
    frac = pos - left
    cols = np.concatenate([(left * n_v + k)[keep], ((left + 1) * n_v + k)[keep]])
    vals = np.concatenate([(mass * (1 - frac))[keep], (mass * frac)[keep]])
    to_pre = sparse.csr_matrix((vals, (np.concatenate([rows[keep]] * 2), cols)), shape=(n_states, n_states))
    reset = sparse.kron(sparse.identity(n_i), _reset_matrix(neuron, v_grid), format="csr")
    fire = np.tile((np.arange(n_v) >= v_grid.fire_from).astype(float), n_i)
    if n_steps is None:
        full = (to_pre @ reset).T.tocsr() - sparse.identity(n_states, format="csr")
        full = sparse.vstack([full[:-1], sparse.csr_matrix(np.ones((1, n_states)))]).tocsc()
        rhs = np.zeros(n_states)
        rhs[-1] = 1.0
        pi = np.clip(spsolve(full, rhs), 0.0, None)
        pi /= pi.sum()
        h = to_pre.T @ pi
        return float(h @ fire), v_grid, h.reshape(n_i, n_v).sum(0), pi.reshape(n_i, n_v).sum(0)
    p = np.zeros(n_states)
    i0 = int(np.clip(np.searchsorted(i_edges, 0.0, side="right") - 1, 0, n_i - 1))
    p[i0 * n_v:(i0 + 1) * n_v] = _start(v_grid, neuron.v0)
    # with p_t = M p_{t-1} (M: input step, then reset) and h_t = K p_{t-1}, linearity gives the window's
    # sums from the post-reset masses alone: sum_t h_t = K sum_{t<T} p_t, sum_t p_t = sum_{t<T} p_t - p_0 + p_T
    step = (to_pre @ reset).T.tocsr()
    start, total = p.copy(), p.copy()
    for _ in range(n_steps - 1):
        p = step @ p
        total += p
    h_sum = to_pre.T @ total
    post_sum = total - start + step @ p
    return (float(h_sum @ fire) / n_steps, v_grid, h_sum.reshape(n_i, n_v).sum(0) / n_steps,
            post_sum.reshape(n_i, n_v).sum(0) / n_steps)


def _cell_mean_square(surrogate: Surrogate, grid: _Grid, theta: float, samples: int = 32) -> np.ndarray:
    """The mean of f'(H - theta)^2 over each cell (surrogates can be narrower than a cell)."""
    offsets = (np.arange(samples) + 0.5) / samples * grid.dv
    h = grid.edges[:-1, None] + offsets[None, :]
    return np.mean(surrogate(h - theta) ** 2, axis=1)


def _on_common_grid(parts: list[tuple[float, _Grid, np.ndarray, np.ndarray]], n_cells: int) -> MembraneDistribution:
    """Average per-node masses, each on its own grid, on one grid spanning them all.

    The cumulative mass is piecewise linear in V: interpolated at the common edges, for all nodes at once where
    their grids have the same number of cells (one np.interp per node and mass cost 0.6 ms of a 7 ms evaluation
    at 80 cells and 5 nodes (the sigma_w search then), on a loaded machine; the masses agree to 1.4e-15)."""
    lo = min(grid.edges[0] for _, grid, _, _ in parts)
    hi = max(grid.edges[-1] for _, grid, _, _ in parts)
    edges = np.linspace(lo, hi, n_cells + 1)
    if len({grid.n for _, grid, _, _ in parts}) > 1:
        pre = np.zeros(n_cells)
        post = np.zeros(n_cells)
        for weight, grid, p_pre, p_post in parts:
            for acc, mass in ((pre, p_pre), (post, p_post)):
                cum = np.interp(edges, grid.edges, np.concatenate([[0.0], np.cumsum(mass)]))
                acc += weight * np.diff(cum)
        return MembraneDistribution(0.5 * (edges[1:] + edges[:-1]), pre, post)
    n = parts[0][1].n
    masses = np.stack([np.stack([p_pre for _, _, p_pre, _ in parts]), np.stack([p_post for _, _, _, p_post in parts])])
    cum = np.concatenate([np.zeros(masses.shape[:2] + (1,)), np.cumsum(masses, axis=-1)], axis=-1)
    pos = (edges - np.array([[grid.edges[0]] for _, grid, _, _ in parts])) / np.array([[grid.dv] for _, grid, _, _
                                                                                           in parts])
    left = np.clip(np.floor(pos), 0, n - 1).astype(int)
    frac = np.clip(pos - left, 0.0, 1.0)  # beyond a grid's ends: its end values, as np.interp
    rows = np.arange(len(parts))[:, None]
    at = cum[:, rows, left] * (1 - frac) + cum[:, rows, left + 1] * frac
    pre, post = np.array([w for w, _, _, _ in parts]) @ np.diff(at, axis=-1)
    return MembraneDistribution(0.5 * (edges[1:] + edges[:-1]), pre, post)


def _rate_given_count(neuron: CanonicalNeuron, law: MixtureLaw, grid: _Grid, post: np.ndarray) -> np.ndarray:
    """Firing probability in one step given each component of the shot-noise law (one per active-input count K).

    The membrane before the step has the window's mean post-reset law ``post`` on ``grid`` (spread uniformly
    over each cell); component K gives x ~ N(m_K, s_K^2), and the neuron fires where beta V + c + g x > theta.
    """
    return _normal_cdf(_crossings(neuron, [law], [grid])[0][0]) @ post


#: |z| from which the normal law is saturated: Phi(z) rounds to 1 above 8.3, Phi(-9) = 1.1e-19, and the density
#: at 9 is 2.6e-18 of its peak
_SATURATED_Z = 9.0


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Phi(z), the normal CDF, evaluated only where |z| < 9: 1 above (what it rounds to), 0 below (at most 1.1e-19
    less than it).

    Three quarters of a shot-noise law's crossings (:func:`_crossings`) lie beyond 9 (measured: 25 nodes x 59
    components x 160 cells, beta 1, value reset, target 0.2, T = 100): on them the CDF took 5.3 ms of a 45 ms
    evaluation, 2.5 ms on the band, and the repeat kernels' density (exp) 4.2 ms. Rates are unchanged to the bit."""
    out = (z >= _SATURATED_Z).astype(np.float64)
    band = np.abs(z) < _SATURATED_Z
    out[band] = special.ndtr(z[band])
    return out


def _crossings(neuron: CanonicalNeuron, laws: list[MixtureLaw], grids: list[_Grid]) -> tuple[np.ndarray, np.ndarray]:
    """(z, scale), shape (nodes, components, cells): component k of a node's step law, x ~ N(m_k, s_k^2), takes
    a membrane in cell V over the threshold where z = (beta V + c + g m_k - theta) / scale > N(0, 1), with
    scale^2 = g^2 s_k^2 + (beta dv)^2 / 12 (the membrane spread uniformly over its cell).

    The nodes' laws must have the same number of components (shot-noise laws: one per active-input count).
    Shared by the firing probability given the count (:func:`_rate_given_count`) and the repeat kernels'
    slopes, for all nodes in one go (a loop over the nodes cost a sixth of a T = 100 evaluation)."""
    g, beta = neuron.gain, neuron.beta
    h = beta * np.stack([grid.centres for grid in grids]) + neuron.drive  # the membrane's start of the step
    cell = beta * np.array([grid.dv for grid in grids]) / math.sqrt(12.0)  # std of a uniform spread over a cell
    scale = np.sqrt((g * np.stack([law.stds for law in laws]))[:, :, None] ** 2 + (cell * cell)[:, None, None])
    z = (h[:, None, :] + g * np.stack([law.means for law in laws])[:, :, None] - neuron.threshold)
    return z / np.maximum(scale, 1e-12), scale


#: Lags of the repeat kernel (a unit active now and tau steps earlier)
REPEAT_LAGS = 24


def _repeat_kernels(neuron: CanonicalNeuron, laws: list[MixtureLaw], grids: list[_Grid], steps: np.ndarray,
                    fired: list[_Fired], pre: np.ndarray, n_lags: int,
                    crossings: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    r"""D(tau), tau = 1..n_lags, per node (rows): the mixed second derivative of a neuron's firing probability
    at step t with respect to its input at step t - tau and at step t.

    A shift of the input at t - tau shifts the pre-reset density there, :math:`\delta h = -g\,\partial_H h`
    (from the window's mean pre-reset masses ``pre``, the density at each cell edge the mean of its two cells);
    it is reset (``fired``: the reset's rows from the threshold up, per node) and stepped with the mean
    transition (``steps``: K R per node, dense) to the post-reset density before step t, where a shift of the input changes the firing probability by
    :math:`w(V) = g\,f_x(\theta - \beta V - c)` per unit (the step law's density at the crossing, each cell
    spread uniformly as in :func:`_rate_given_count`): :math:`D(\tau) = \delta h\,R\,(K R)^{\tau - 1}\cdot w`.
    All nodes are stepped at once; ``crossings``: :func:`_crossings` of the nodes, when they have the same components.
    Over a window ``steps`` is the window's single-precision copy (:func:`_window_total`): the 24 lags' products
    took 3.5 ms of a 45 ms evaluation (25 nodes of 160 cells) in double precision, 1.3 ms in single; the
    synchrony they give moves by 5e-7 of itself at most (measured on 5 configurations' evaluations).
    """
    g = neuron.gain
    out = np.zeros((len(grids), n_lags))
    if n_lags == 0 or not grids:
        return out
    def slopes_of(z: np.ndarray, scale: np.ndarray, weights: np.ndarray) -> np.ndarray:
        # the step law's density at the crossing, where it is not below 2.6e-18 of its peak (|z| < 9, as in
        # _normal_cdf); a point mass on a memoryless neuron's zero-width cells: none
        band = (np.abs(z) < _SATURATED_Z) & (scale > 0)
        at = np.zeros(z.shape)
        near = z[band]
        at[band] = np.exp(-0.5 * near * near) * (g / math.sqrt(2 * math.pi)) / np.broadcast_to(
            np.maximum(scale, 1e-12), z.shape)[band]
        return np.einsum("kc,kcn->kn", weights, at)

    if crossings is not None:
        slopes = slopes_of(*crossings, np.stack([law.weights for law in laws]))
    else:
        slopes = np.concatenate([slopes_of(*_crossings(neuron, [law], [grid]), law.weights[None])
                                 for law, grid in zip(laws, grids)])
    dv = np.array([grid.dv for grid in grids])[:, None]
    zeros = np.zeros((len(grids), 1))
    at_edges = np.concatenate([zeros, 0.5 * (pre[:, 1:] + pre[:, :-1]), zeros], axis=1) / dv
    shifted = -g * np.diff(at_edges, axis=1)
    state = np.stack([f.apply(row) for row, f in zip(shifted, fired)])
    state = state[:, None, :].astype(steps.dtype)  # (nodes, 1, cells): batched products
    for tau in range(n_lags):
        out[:, tau] = np.matmul(state, slopes[:, :, None])[:, 0, 0]
        state = np.matmul(state, steps)
    return out


def _repeat_variance(kernel: np.ndarray, drive: SynapticInput) -> float:
    r"""Variance of the population rate from the units active both now and tau steps earlier.

    Beyond the count K_t, which of the units are active matters: a unit j active at t - tau and at t brings the
    same weight :math:`W_{ij}` twice into every neuron i's membrane, and over the neurons :math:`E[W^2]
    = \sigma_w^2 + \mu_w^2 > 0`, so every neuron's membrane widens together. To second order the population rate
    moves by :math:`E[W^2] \sum_\tau \bar D(\tau) \sum_j (a_{j,t} a_{j,t-\tau} - p_j^2)` (:math:`\bar D`: the
    population's :func:`_repeat_kernels`); for units independent in time the products are independent, of
    variance :math:`p_j^2 (1 - p_j^2)`, summed over units :math:`N (m^2 + u^2)(1 - m^2 - u^2)`:

    .. math:: \mathrm{Var} = E[W^2]^2\, N (m^2 + u^2)(1 - m^2 - u^2) \sum_\tau \bar D(\tau)^2.

    Measured (beta 0.9, value reset, target 0.05, fan-in 256, stationary): the population rate's common variance
    is 9.12e-5, the part explained by K_t 8.04e-5 (predicted 7.88e-5); the rest, 1.08e-5, is what the units'
    repeats explain (a regression on sum_j a_j,t sum_tau beta^tau a_j,t-tau: 99.9% of the common variance with
    the counts), predicted 1.14e-5.
    """
    second = drive.moments.mean ** 2 + drive.moments.unit_spread ** 2
    units = drive.fan_in * second * max(1.0 - second, 0.0)
    squared = (drive.weight_std ** 2 + drive.weight_mean ** 2) ** 2
    return squared * units * float(kernel @ kernel)


#: Equally likely values that describe the shape of the common fluctuation carried to the next layer
COMMON_LAW_POINTS = 8


def _common_law(given_count: np.ndarray, pmf: np.ndarray, rate: float,
                points: int = COMMON_LAW_POINTS) -> tuple[float, ...]:
    """The law of the population rate given the active-input count, r(K) / E r, as ``points`` equally likely values.

    Every neuron sees the same count K, so the layer's population rate moves with r(K) (its common fluctuation,
    whose variance makes ``correlation``); its law, not only its variance, shapes the next layer's count law
    (:meth:`~snninit_plugins.inputs.SynapticInput.active_count_law`). Sorted by value, the law's probability is
    cut into ``points`` equal parts and each part's mean is kept (an atom straddling a cut is split).
    """
    if rate <= 0:
        return ()
    order = np.argsort(given_count)
    values, probs = given_count[order] / rate, pmf[order] / pmf.sum()
    edges = np.concatenate([[0.0], np.cumsum(probs)])
    cuts = np.linspace(0.0, 1.0, points + 1)
    # probability of each atom inside each part: overlap of [edges_i, edges_i+1] with [cuts_q, cuts_q+1]
    overlap = np.clip(np.minimum(edges[1:, None], cuts[None, 1:]) - np.maximum(edges[:-1, None], cuts[None, :-1]),
                      0.0, None)
    return tuple(float(x) for x in (values @ overlap) / np.maximum(overlap.sum(axis=0), 1e-300))


#: drift nodes further than this many drift spreads from the mean are lumped into one node per side
_LUMP_BEYOND = 3.0


def _lump_tails(nodes: np.ndarray, weights: np.ndarray, mean: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """The quadrature rule with the nodes beyond :data:`_LUMP_BEYOND` drift spreads on each side replaced by one
    node at their weighted mean, of their total weight (exact for integrands linear over each tail).

    The rate's knee lies where the target's share of neurons is above it, within 2.3 spreads for targets
    down to 0.01 spikes/step, so the tails are smooth there; a 151-node rule keeps 33 nodes above the weight
    floor, 10 of them beyond 3 spreads. Measured against the 301-node rule (``benchmarks/quadrature.py``): the
    lumped rule's rates, spreads and synchrony stay as close to it as the full one's."""
    if len(nodes) < 2 or spread <= 0:
        return nodes, weights
    x = (nodes - mean) / spread
    inner = np.abs(x) <= _LUMP_BEYOND
    if (~inner).sum() <= 2:
        return nodes, weights
    kept_nodes, kept_weights = [nodes[inner]], [weights[inner]]
    for side in (x < -_LUMP_BEYOND, x > _LUMP_BEYOND):
        if side.any():
            total = weights[side].sum()
            kept_nodes.append(np.array([float(weights[side] @ nodes[side]) / total]))
            kept_weights.append(np.array([total]))
    nodes, weights = np.concatenate(kept_nodes), np.concatenate(kept_weights)
    order = np.argsort(nodes)
    return nodes[order], weights[order]


#: the most Gauss-Hermite nodes of the quenched average (33 above the weight floor, 25 once the tails are lumped)
MAX_QUADRATURE_NODES = 151
#: the most where a window offset joins the quenched spread (15 stepped)
MAX_OFFSET_NODES = 41


def quadrature_nodes(neuron: CanonicalNeuron, drive: SynapticInput, n_steps: int | None,
                     spread: float | None = None) -> int:
    r"""Gauss-Hermite nodes needed for the quenched average: 7, more when the drift spread dominates.

    The rate is a smooth function of a neuron's drift on the scale of its membrane noise; when the
    spread of free-membrane means across neurons, :math:`\mathrm{spread}\sum\kappa`, is R times the
    membrane noise :math:`s\sqrt{\sum\kappa^2}`, the integrand has a knee R times narrower than the
    spread. Gauss-Hermite nodes near the centre lie about :math:`\pi/\sqrt{2n}` apart, so resolving the knee
    takes a number of nodes that grows like :math:`R^2`: :math:`5 + 3R + R^2/2`, capped at
    :data:`MAX_QUADRATURE_NODES`.

    Measured against a 301-node rule over layers 2, 8 and 20 of the 48 plans of benchmarks/depth.py
    (``benchmarks/quadrature.py``): the former :math:`5 + 3R` capped at 41 was off by up to 2.1% in rate, 4.1%
    in the spread of rates and 43 times in the predicted synchrony where R >= 8 (near-perfect integrators with a
    subtract reset over T = 100, R up to 27: a neuron's rate rises from 0 to 1 spike/step over a third of the
    drift spread), 0.76% in rate where 4 <= R < 8; this rule (tails lumped, :func:`drift_nodes`) by at most
    0.42%, 0.41% and 0.4 times (R = 2: 13 nodes against 11; R = 5: 33 against 20).

    ``spread``: the std of the drifts averaged over, when it is not the quenched spread alone (the window's
    input offset added, :func:`density`). Then at most :data:`MAX_OFFSET_NODES`: against a 301-node rule
    over layers 2, 8 and 20 of the 24 subtract-reset plans of benchmarks/depth.py, where the offset is, the
    rule (up to 151 nodes, 25 stepped) was off by at most 0.70% in rate and 0.54% in the spread of rates, 41
    nodes (15 stepped) by 1.24% and 0.68%, 31 by 2.7% and 1.9%; 41 take 30-45% less time where the rule
    asks for more than 80.
    """
    offset = spread is not None and spread > drive.drift_spread
    if (drive.drift_spread if spread is None else spread) == 0.0:
        return 1
    ratio = spread_ratio(neuron, drive, n_steps, spread)
    most = MAX_OFFSET_NODES if offset else MAX_QUADRATURE_NODES
    if not math.isfinite(ratio):
        return most
    return int(min(most, max(7, math.ceil(5 + 3 * ratio + 0.5 * ratio * ratio))))


def spread_ratio(neuron: CanonicalNeuron, drive: SynapticInput, n_steps: int | None,
                 spread: float | None = None) -> float:
    r"""R of :func:`quadrature_nodes`: the spread of free-membrane means across neurons over the membrane noise,
    :math:`\mathrm{spread}\,|\sum\kappa| / (s\sqrt{\sum\kappa^2})`, the largest over the neuron's parameter
    groups; infinite without per-step noise, or for a stationary perfect integrator. ``spread``: as for
    :func:`quadrature_nodes`."""
    spread = drive.drift_spread if spread is None else spread
    ratios = []
    for group, _ in neuron.groups():
        if n_steps is None and group.beta >= 1.0:
            return math.inf
        s1, s2 = group.kernel_sums(n_steps)
        noise = math.sqrt(drive.noise_variance * s2)
        ratios.append(math.inf if noise == 0 else spread * abs(s1) / noise)
    return max(ratios)


def averaged_spread(drive: SynapticInput, n_steps: int | None) -> float:
    """Std of the drifts the density method averages over: the quenched spread across neurons and, for
    bursty input over a window, the offset that stays put over it (:func:`~snninit_plugins.inputs.window_offset_variance`)."""
    return math.sqrt(drive.drift_spread**2 + window_offset_variance(drive, n_steps))


def _spread_over_offsets(nodes: np.ndarray, weights: np.ndarray, node_rates: np.ndarray, drive: SynapticInput,
                         offset: float) -> tuple[float, float, float]:
    r"""The window offset's part in a layer's output: (spread, within, passed on).

    ``node_rates`` are the rates f at the drift nodes ``nodes`` (``weights``) of the normal law of the drift
    x = m + o, std :math:`S = \sqrt{q^2 + \sigma_o^2}`, that averages the quenched drift m (spread q) and
    the window's offset o together. A neuron of quenched drift m has the mean rate
    :math:`g(m) = E_o f(m + o)`. In the normalised Hermite polynomials :math:`h_n` of
    :math:`z = (x - \bar x)/S`, :math:`f = \sum_n a_n h_n(z)`, :math:`a_n = E[f\,h_n(z)]` (the nodes'
    quadrature), and averaging over o maps :math:`h_n(z)` to :math:`c^{n/2} h_n(u)`, :math:`u = (m - \bar x)/q`,
    :math:`c = q^2/S^2` (Mehler). Returned:

    * spread: :math:`\mathrm{Var}_m g = \sum_{n \ge 1} c^n a_n^2`, the variance of the neurons' own rates;
    * within: :math:`E_m \mathrm{Var}_o f = \sum_{n \ge 1} (1 - c^n) a_n^2`, of a neuron's rate from sample
      to sample;
    * passed on: :math:`E_m[g'(m)^2]\,\sigma_o^2 = \sum_{n \ge 1} n c^{n-1}(1 - c)\,a_n^2`, the variance of a
      neuron's window rate that its input's window mean moves (the linear response of the smooth g).

    The sums run to the rule's degree; exact where f is a polynomial of that degree, with no interpolation
    between the nodes (linear interpolation of f was 2-5% off in the spread with the 7-18 nodes of
    short-memory or short-window layers, and needed 31 for 1%).

    The output trains' autocovariance carries the third at every lag of the window. Measured on the real
    stack of beta 0.99, subtract reset, target 0.05 (each layer fed its real input's measured rate, spread and
    autocorrelation): the window-rate variance this gives is 5% over to 15% under the real one at layers 2-12
    (T = 100; T = 25: 6-12% under). The second, 1.4-1.5 times larger where f bends (a neuron silent in one
    sample bursts in another), let the planned offset grow from layer to layer (4%, 15%, 32%, 47% of the
    input variance at layers 2-5, where the real stack measures 5%, 16%, 33% and then 27% at layer 9).
    """
    total = math.sqrt(drive.drift_spread**2 + offset)
    c = drive.drift_spread**2 / total**2
    z = (nodes - drive.mean) / total
    # a_n = E[f h_n(z)], h_{n+1} = (z h_n - sqrt(n) h_{n-1}) / sqrt(n + 1), up to the degree the rule integrates
    # exactly for f times h_n (and no higher than the damping c^n leaves any weight: 1e-12)
    degree = min(len(nodes) - 1, 60)
    coefficients = np.zeros(degree + 1)
    h_prev, h = np.zeros_like(z), np.ones_like(z)
    for n in range(degree + 1):
        coefficients[n] = float(weights @ (node_rates * h))
        h_prev, h = h, (z * h - math.sqrt(n) * h_prev) / math.sqrt(n + 1)
    n = np.arange(1, degree + 1)
    a2 = coefficients[1:] ** 2
    damping = c**n
    spread = float(damping @ a2)
    within = float((1 - damping) @ a2)
    passed = float((n * c ** (n - 1) * (1 - c)) @ a2)
    return spread, within, passed


def _non_leaky_without_drift(neuron: CanonicalNeuron, drive: SynapticInput) -> float:
    """Fraction of neurons that are perfect integrators with non-positive mean drift."""
    frac = 0.0
    for group, w in neuron.groups():
        if group.beta >= 1.0:
            net = group.gain * drive.mean + group.drive
            spread = group.gain * drive.drift_spread
            frac += w * (float(stats.norm.cdf(-net / spread)) if spread > 0 else float(net <= 0))
    return frac


def drift_nodes(drive: SynapticInput, n_nodes: int, spread: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The drift nodes and weights of the quenched average: ``n_nodes`` Gauss-Hermite nodes
    (:meth:`~snninit_plugins.inputs.SynapticInput.quenched_nodes`), those of weight below the floor left out,
    the tails lumped (:func:`_lump_tails`).

    The outer Gauss-Hermite nodes of a large rule carry negligible weight (41 nodes: 24 below 1e-5, 2e-5 of
    the mass in all): a rate lies in [0, 1], so leaving them out (the rest renormalised) moves the rate by at
    most 2e-5 (0.04% of a 0.05 rate; the plans' tolerance is 0.1%). Over the 48 stacks of
    benchmarks/planning_time.py the plans' rates moved by at most 0.034% of target and their weight means by
    6e-4 weight std, and planning took 12% less CPU (median) than with the floor at 1e-7 (4 more nodes).
    ``spread``: as for :func:`quadrature_nodes`.
    """
    spread = drive.drift_spread if spread is None else spread
    nodes, weights = drive.quenched_nodes(n_nodes, spread)
    keep = weights > _NODE_WEIGHT_FLOOR
    if not keep.all():
        nodes, weights = nodes[keep], weights[keep] / weights[keep].sum()
    return _lump_tails(nodes, weights, drive.mean, spread)


@single_blas_thread
def density(
    neuron: CanonicalNeuron,
    drive: SynapticInput,
    *,
    n_steps: int | None = None,
    surrogate: Surrogate | None = None,
    n_cells: int = 160,
    n_nodes: int | None = None,
    autocorrelation: bool = False,
) -> RatePrediction:
    """Predict a layer's rate by threshold integration of the membrane density.

    Args:
        neuron: the canonical neuron (scalars or per-neuron arrays).
        drive: the per-step synaptic input (weights times presynaptic moments).
        n_steps: window T from V0 (finite-window mean rate), or ``None`` for the stationary rate.
        surrogate: a surrogate derivative f'(u), u = H - theta, to report E[f'(H - theta)^2].
        n_cells: membrane grid cells per quadrature node; a filtered neuron's 2-D grid has
            0.625 n_cells membrane cells times 0.3 as many current cells (about 1-2% accuracy).
        n_nodes: Gauss-Hermite nodes for the drifts' spread (default: :func:`quadrature_nodes`).
        autocorrelation: also predict the output spike trains' autocorrelation (plain neurons only): the
            chain's own, 24 lags, and with a window offset its linear response at every lag of the window.

    Bursty input (``drive.moments.autocorrelation``) over a window without centred rows: a per-sample offset
    of the input that stays put over the window (:func:`~snninit_plugins.inputs.window_offset_variance`) is
    averaged over with the quenched drifts (:func:`averaged_spread`), and the steps keep the rest of the
    per-step variance; the spread of rates across neurons is over the quenched drifts alone
    (:func:`_spread_over_offsets`). With centred rows the steps are dilated by the noise factor instead.

    Input that starts late in the window (``drive.moments.rise``, plain neurons): its silent first steps are
    left out and its next ones stepped at their own levels (:func:`_after_rise`); the prediction's
    ``rate_profile`` gives the output's own rise (:func:`rise_of`).

    Returns:
        :class:`RatePrediction` with the membrane distribution with threshold. Flagged out of
        regime only when a grid cannot resolve the per-step input (std below a tenth of a cell).
    """
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps must be >= 1 or None, got {n_steps}")
    if n_steps is None and neuron.reset == "none" and np.any(np.asarray(neuron.beta) >= 1):
        raise ValueError("a non-leaky neuron without reset has no stationary state; give n_steps")
    if drive.moments.rise_delay:
        drive = drive.with_moments(drive.moments.undelayed())
    if n_steps is not None and drive.moments.rise and neuron.is_plain:
        return _after_rise(neuron, drive, n_steps, surrogate=surrogate, n_cells=n_cells, n_nodes=n_nodes,
                           autocorrelation=autocorrelation)
    if drive.moments.rise:  # a filtered or refractory neuron: its input taken as steady at the window's mean
        drive = drive.with_moments(dataclasses.replace(drive.moments, rise=()))
    return _density(neuron, drive, n_steps, surrogate, n_cells, n_nodes, autocorrelation)


def _density(neuron: CanonicalNeuron, drive: SynapticInput, n_steps: int | None, surrogate: Surrogate | None,
             n_cells: int, n_nodes: int | None, autocorrelation: bool, rise: tuple[float, ...] = ()
             ) -> RatePrediction:
    """:func:`density` for steady input (``drive``: its steady part); ``rise``: the first steps' activity relative
    to it (plain neurons, over a window), stepped with laws of their own (:func:`_plain_nodes`)."""
    # bursty input trains (non-centred rows, a window): each neuron's input sits higher or lower for the whole
    # window, differently in every sample; that offset joins the drifts averaged over, the steps keep the rest
    offset = window_offset_variance(drive, n_steps)
    spread = averaged_spread(drive, n_steps)
    if n_nodes is None:
        n_nodes = quadrature_nodes(neuron, drive, n_steps, spread)
    nodes, weights = drift_nodes(drive, n_nodes, spread)
    node_rates = np.zeros(len(nodes))
    rate = second = moment = 0.0
    parts = []
    resolved = True
    step_std = math.sqrt(drive.noise_variance)
    autocovariance = np.zeros(AUTOCORRELATION_LAGS)
    variance = 0.0
    profile = np.zeros(n_steps) if n_steps is not None else None  # the population's per-step firing probability
    # output synchrony: every neuron of the layer sees the same active-input count K in a step, so the
    # population rate moves with K (shot-noise law only: its components are the counts)
    by_count = drive.uses_shot_noise and drive.pool == 1
    common = repeat = None
    # The steps dilated by the noise factor F: with centred rows only (and so behind a BatchNorm), where it takes
    # a 20-layer BatchNorm stack from drifting up to 0.17 to 0.086-0.102 (target 0.1; snnTorch Leaky, T = 25,
    # fan-in 256). Without centring, the window offset above is used instead: fed a real stack's layer inputs
    # (beta 0.99, subtract reset, target 0.05), white steps dilated by F fire 3-12 times the real rate
    # (F 5-22 at T = 100), steps plus an offset of the window mean's variance within 0-20% of it.
    correlated = bool(drive.moments.autocorrelation) and drive.centred_rows
    for group, gw in neuron.groups():
        dilation = 1.0
        if offset > 0:
            dilation = math.sqrt(1.0 - offset / drive.noise_variance)
        elif correlated:  # bursty input trains: the independent steps carry F times the per-step variance
            dilation = math.sqrt(noise_factor(float(group.beta), group.alpha, drive.moments.autocorrelation,
                                              horizon=n_steps))
        laws = [_dilated(drive.step_law(d), dilation) for d in nodes]
        if group.alpha is not None and group.refractory:
            raise ValueError("the density method does not combine a synaptic filter with a refractory period")
        rising = None
        if rise:
            # each level's laws: the input l times as active, each neuron's own mean weight the same
            levels = sorted(set(rise))
            rising = ([[_dilated(drive.with_moments(drive.moments.scaled(level)).step_law(
                (d - drive.bias) * level + drive.bias), dilation) for d in nodes] for level in levels],
                [levels.index(level) for level in rise])
        if group.refractory:
            results = [_refractory_node(group, law, n_steps, n_cells) for law in laws]
        elif group.alpha is None:
            covariances: list[np.ndarray] | None = [] if autocorrelation else None
            repeats: list[np.ndarray] | None = [] if by_count else None
            given: list[np.ndarray | None] | None = [] if by_count else None
            profiles: list[np.ndarray] | None = [] if n_steps is not None else None
            results = _plain_nodes(group, laws, n_steps, n_cells, covariances, repeats, given, profiles, rising)
            for w, r in zip(weights, profiles or []):
                profile += gw * w * r
            for w, d in zip(weights, repeats or []):
                repeat = gw * w * d if repeat is None else repeat + gw * w * d
            for w, (r, *_), c in zip(weights, results, covariances or []):
                autocovariance += gw * w * c
                variance += gw * w * (r - r * r)
            if by_count:
                for w, rates in zip(weights, given):
                    if rates is not None:
                        part = gw * w * rates
                        common = part if common is None else common + part
        else:
            cells = max(60, int(n_cells * _FILTER_CELLS))
            results = [_filtered_node(group, law, n_steps, cells) for law in laws]
        if not group.is_plain:
            profile = None  # no per-step rates
        for k, (w, (r, grid, pre, post)) in enumerate(zip(weights, results)):
            node_rates[k] += gw * r
            rate += gw * w * r
            second += gw * w * r * r
            if grid is None:
                continue
            resolved &= step_std == 0.0 or group.gain * step_std >= 0.1 * grid.dv
            parts.append((gw * w, grid, pre, post))
            if surrogate is not None:
                moment += gw * w * float(pre @ _cell_mean_square(surrogate, grid, group.threshold))
    spread_sq = max(second - rate * rate, 0.0)
    if offset > 0:
        # the spread of the neurons' own rates is over their drifts alone (each one's rate averaged over the
        # offsets); the input's window mean moves each neuron's window rate: the output trains' autocovariance
        # at every lag of the window, passed on to the next layer's offset
        spread_sq, within, passed = _spread_over_offsets(nodes, weights, node_rates, drive, offset)
        if autocorrelation and n_steps is not None and n_steps > 1 and variance > 0:
            autocovariance = np.pad(autocovariance, (0, max(n_steps - 1 - len(autocovariance), 0)))
            autocovariance[:n_steps - 1] += passed
            # per-step variance of a neuron's train about its own mean rate g: g (1 - g) = E f (1 - f) + Var_o f
            variance += within
    correlation, shape = 0.0, ()
    if common is not None:
        pmf = laws[0].weights
        own = rate - second  # the neurons' own per-step variances r_i (1 - r_i), averaged
        if own > 0:
            by_repeats = _repeat_variance(repeat, drive) if repeat is not None else 0.0
            correlation = min((float(pmf @ (common - float(pmf @ common)) ** 2) + by_repeats) / own, 1.0)
            shape = _common_law(common, pmf, float(pmf @ common))
    notes = [] if resolved else ["per-step input std is below a tenth of a grid cell: increase n_cells"]
    silent_walkers = _non_leaky_without_drift(neuron, drive) if n_steps is None else 0.0
    if silent_walkers > 0.01:
        notes.append(
            f"{silent_walkers:.0%} of the neurons are non-leaky without positive drift: their rate decays like "
            "1/sqrt(t) and has no stationary value; give a window n_steps"
        )
    return RatePrediction(
        rate=rate,
        rate_spread=math.sqrt(spread_sq),
        method="density",
        n_steps=n_steps,
        in_regime=not notes,
        regime="; ".join(notes) or "grid resolves the per-step input",
        membrane=_on_common_grid(parts, n_cells) if parts else None,
        surrogate_moment=moment if surrogate is not None else None,
        autocorrelation=tuple(np.clip(autocovariance / variance, -1, 1).tolist()) if variance > 0 else (),
        correlation=correlation,
        common_law=shape,
        rate_profile=tuple(profile.tolist()) if profile is not None else (),
    )


def _dilated(law: MixtureLaw | MaxPooledLaw | SampledLaw, factor: float) -> MixtureLaw | MaxPooledLaw | SampledLaw:
    """``law`` with its deviations scaled by ``factor`` (Gaussian mixtures; other laws as they are)."""
    return law.dilated(factor) if factor != 1.0 and isinstance(law, MixtureLaw) else law


def rise_of(profile: np.ndarray | tuple[float, ...], late_steps: int = 5, step: float = 0.1) -> tuple[float, ...]:
    """The rise of a per-step rate profile (:attr:`~snninit_plugins.inputs.InputMoments.rise`): its first steps'
    rate relative to the mean of its last ``late_steps``, up to the first step within 5% of it, to ``step``
    (steps below 5% of it at the start as silent, later ones at ``step`` at least); empty for a silent profile."""
    profile = np.asarray(profile, dtype=np.float64)
    late = float(np.mean(profile[-late_steps:])) if len(profile) else 0.0
    if not late > 0:
        return ()
    relative = profile / late
    end = int(np.argmax(relative >= 0.95)) if np.any(relative >= 0.95) else len(relative)
    rise = []
    for r in relative[:end]:
        if r < 0.05 and all(level == 0.0 for level in rise):
            rise.append(0.0)
        else:
            rise.append(float(min(max(round(r / step) * step, step), 1.0 - step)))
    return tuple(round(level, 6) for level in rise)


def _after_rise(neuron: CanonicalNeuron, drive: SynapticInput, n_steps: int, **options: object) -> RatePrediction:
    r""":func:`density` for input whose window starts with a ``rise`` (``drive.moments.rise``: the first steps'
    activity relative to the steady rest, :meth:`~snninit_plugins.inputs.InputMoments.late`). Its n leading
    silent steps leave the membrane at V0 (exact without bias or constant drive): the chain runs the last
    T - n steps, from V0, its first steps with laws of their own (the input the rise's times as active, each
    neuron's own mean weight the same), then the steady part's. The rate and the spread of the neurons' rates
    scale by (T - n)/T; the surrogate moment counts the silent steps at V0.

    Measured against 512 simulated neurons x 256 samples (beta 0.99, subtract reset, 0.05 spikes/step over
    T = 25): input silent for 5 steps, rate 0.0497 predicted against 0.0495, every step's rate within 0.0021;
    input rising as (0, 0, 0.2, 0.6), 0.0507 against 0.0504, every step within 0.0014. In real 50-layer stacks
    deep layers start late (beta 0.99, subtract reset, target 0.05, T = 25: the input misses 2.8, 7.2, 10.4,
    13.6 and 16.1 steps at layers 10-50), and taking their input as steady over the window gives layers 30-50
    14-42% more than they fire; with a target of 0.1 the input instead starts partly active (about half its
    later rate at the first step).
    """
    surrogate = options["surrogate"]
    quiet = 0.0
    if surrogate is not None:
        for group, gw in neuron.groups():
            quiet += gw * float(np.asarray(surrogate(np.array([float(group.v0) - float(group.threshold)])))[0] ** 2)
    moments = drive.moments
    silent = moments.silent_steps(n_steps)
    if silent >= n_steps:
        return RatePrediction(rate=0.0, rate_spread=0.0, method="density", n_steps=n_steps, in_regime=True,
                              regime=f"the input is silent over the whole {n_steps}-step window",
                              surrogate_moment=quiet if surrogate is not None else None,
                              rate_profile=(0.0,) * n_steps)
    if len(moments.rise) >= n_steps:  # a rise as long as the window: its last step taken as steady (a short
        # window deep in a stack: the same window mean, its last step's level raised to the steady part's)
        moments = dataclasses.replace(moments, rise=moments.rise[:n_steps - 1])
    steps = n_steps - silent
    active = _density(neuron, drive.with_moments(moments.late(n_steps)), steps, surrogate, options["n_cells"],
                      options["n_nodes"], options["autocorrelation"], rise=moments.rise[silent:])
    share = steps / n_steps
    moment = (share * active.surrogate_moment + (1 - share) * quiet) if surrogate is not None else None
    return dataclasses.replace(active, rate=active.rate * share, rate_spread=active.rate_spread * share,
                               n_steps=n_steps, surrogate_moment=moment,
                               rate_profile=(0.0,) * silent + active.rate_profile)
