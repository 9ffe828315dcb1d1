"""``sample_weight_``: the planned statistics, stratified rows, reproducibility, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from snninit_plugins.errors import InputSpecError
from snninit_plugins.sampling import sample_weight_


def draw(shape: tuple[int, ...], mean: float = 0.01, std: float = 0.1, seed: int = 0, **kwargs) -> torch.Tensor:
    return sample_weight_(torch.empty(shape), mean, std, generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize("law", ["normal", "uniform"])
@pytest.mark.parametrize("rows", ["stratified", "centred"])
def test_every_row_is_a_permutation_of_the_same_values_with_the_planned_std(law: str, rows: str) -> None:
    w = draw((12, 1, 5, 5), law=law, rows=rows).reshape(12, -1).double()
    deviations = w - w.mean(dim=1, keepdim=True)
    sorted_rows = deviations.sort(dim=1).values
    assert torch.allclose(sorted_rows, sorted_rows[:1].expand_as(sorted_rows), atol=1e-6)
    assert deviations.pow(2).mean(dim=1).sqrt() == pytest.approx(torch.full((12,), 0.1, dtype=torch.float64), rel=1e-5)
    assert not torch.equal(deviations[0], deviations[1])  # permuted differently
    if law == "uniform":  # the law's range: mu +- sqrt(3) sigma
        assert deviations.abs().max() < math.sqrt(3) * 0.1


def test_row_sums_centred_or_stratified_at_the_quantiles_of_the_iid_law() -> None:
    centred = draw((64, 256), rows="centred")
    assert centred.double().sum(dim=1) == pytest.approx(torch.full((64,), 2.56, dtype=torch.float64), abs=1e-4)
    sums = draw((64, 256), rows="stratified").double().sum(dim=1)
    assert float(sums.mean()) == pytest.approx(2.56, abs=1e-4)  # the quantiles are symmetric about N mu
    # the std of 64 midpoint quantiles of N(N mu, N sigma^2), a little below sqrt(N) sigma = 1.6
    assert float(sums.std(unbiased=False)) == pytest.approx(1.6, rel=0.03)


def test_iid_rows_keep_iid_entries() -> None:
    w = draw((64, 256), rows="iid").double()
    sorted_rows = (w - w.mean(dim=1, keepdim=True)).sort(dim=1).values
    assert not torch.allclose(sorted_rows[0], sorted_rows[1], atol=1e-3)
    assert float(w.mean()) == pytest.approx(0.01, abs=0.004)  # 5 standard errors (0.1 / 128)
    assert float(w.std()) == pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize("rows", ["iid", "stratified", "centred"])
def test_same_generator_seed_gives_the_same_weights_bit_for_bit(rows: str) -> None:
    assert torch.equal(draw((8, 9), rows=rows, seed=3), draw((8, 9), rows=rows, seed=3))
    assert not torch.equal(draw((8, 9), rows=rows, seed=3), draw((8, 9), rows=rows, seed=4))


def test_fan_in_one_and_zero_std() -> None:
    assert draw((5, 1), rows="centred").flatten().tolist() == pytest.approx([0.01] * 5)
    assert draw((4, 6), std=0.0).flatten().tolist() == pytest.approx([0.01] * 24)


@pytest.mark.parametrize("kwargs, match", [
    ({"rows": "sorted"}, "rows must be"),
    ({"law": "cauchy"}, "law must be"),
    ({"std": -1.0}, "std >= 0"),
])
def test_bad_arguments_raise_input_spec_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(InputSpecError, match=match):
        draw((3, 3), **kwargs)
    with pytest.raises(InputSpecError, match="at least 2 dimensions"):
        sample_weight_(torch.empty(3), 0.0, 1.0)
