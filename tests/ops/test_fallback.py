"""Without the compiled library (or for dtypes it lacks) the wrappers run the pure-PyTorch twins."""

from __future__ import annotations

import logging

import pytest
import torch

from pyadvman.ops import _dispatch, linf_project, pgd_step, pgd_step_


def _inputs(dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(3, 2, 5, 5, generator=g).to(dtype)
    x_adv = (x0.float() + 0.2 * torch.randn(2, 3, 2, 5, 5, generator=g)).to(dtype)
    return x_adv, x0, torch.randn(x_adv.shape, generator=g).to(dtype)


def test_missing_library_falls_back_with_one_warning(monkeypatch, caplog) -> None:
    x_adv, x0, grad = _inputs()
    compiled_step, compiled_proj = pgd_step(x_adv, x0, grad, 0.1, 0.02), linf_project(x_adv, x0, 0.1)
    monkeypatch.setattr(_dispatch, "LOADED", False)
    _dispatch._warn_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="pyadvman.ops._dispatch"):
        assert torch.equal(pgd_step(x_adv, x0, grad, 0.1, 0.02), compiled_step)
        assert torch.equal(linf_project(x_adv, x0, 0.1), compiled_proj)
        inplace = x_adv.clone()
        assert torch.equal(pgd_step_(inplace, x0, grad, 0.1, 0.02), compiled_step)
    assert len([r for r in caplog.records if "pure-PyTorch reference" in r.getMessage()]) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cpu_half_precision_runs_on_the_reference_and_keeps_the_bound(dtype) -> None:
    x_adv, x0, grad = _inputs(dtype)
    out = pgd_step(x_adv, x0, grad, eps=0.1, alpha=0.02)
    assert out.dtype == dtype
    assert bool(((out - x0).abs() <= 0.1).all()) and bool(((out - x0).abs().double() <= 0.1).all())
    assert bool((out >= 0).all() and (out <= 1).all())
