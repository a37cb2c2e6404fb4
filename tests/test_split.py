"""distnet.nn.split: the 16-bit parts of the first layer are exact (bf16) or within their stated bound (fp16),
and the products are exact products accumulated in float32. On CPU the 16-bit products are computed in float32,
so these tests check the arithmetic; the speed is an accelerator matter (benchmarks/throughput.py)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet.nn import split

from helpers import needs_float16, U32, raw_pixels, record_margin


def as_f64(a):
    return np.asarray(jnp.asarray(a).astype(jnp.float32), np.float64)


@pytest.mark.parametrize("scale", [1e-20, 1e-8, 0.03, 1.0, 1e20])
def test_three_parts_sum_exactly_and_two_parts_to_2_pow_minus_16(scale):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((300, 40)) * scale).astype(np.float32)
    three = split.bf16_parts(jnp.asarray(w), 3)
    assert all(p.dtype == jnp.bfloat16 for p in three)
    np.testing.assert_array_equal(sum(as_f64(p) for p in three), w.astype(np.float64))
    two = sum(as_f64(p) for p in split.bf16_parts(jnp.asarray(w), 2))
    rel = np.abs(two - w) / np.abs(w)
    assert rel.max() <= 2.0 ** -16
    assert rel.max() > 2.0 ** -24       # two parts do not carry all 24 bits: the test can tell 2 from 3


def test_a_plain_float32_round_trip_would_not_split():
    """The mask, not a float32 -> bfloat16 -> float32 round trip, makes the head: check it keeps 8 bits."""
    w = jnp.float32(1.0 + 2.0 ** -10 + 2.0 ** -20)
    hi, mid, lo = (float(as_f64(p)) for p in split.bf16_parts(w, 3))
    assert (hi, mid, lo) == (1.0, 2.0 ** -10, 2.0 ** -20)


# Every product of a bfloat16 input and a bfloat16 part is exact in float32, so the split matmul's only rounding is in
# its sums of parts * K terms: within sqrt(parts * K) u sum|x||w| (u = 2^-24), the probabilistic bound of Higham & Mary
# (2019) with lambda = 1, whatever the summation order or FMA (largest error measured, 25 orders x 3 ISA levels:
# 9 u sum|x||w| at K = 3 x 784, against the bound's 48 u). Two parts also drop bits 17-24 of w (or g): up to 2^-16 more.
@pytest.mark.parametrize("parts", [3, 2])
def test_split_matmul_and_weight_gradient_match_float64(parts):
    rng = np.random.default_rng(1)
    x = raw_pixels(400, 784)
    w = rng.uniform(-1 / 28, 1 / 28, (784, 64)).astype(np.float32)
    g = (rng.standard_normal((400, 64)) * 1e-5).astype(np.float32)
    s = split.split_input(x, parts)
    y, vjp = jax.vjp(lambda w: split.matmul(s, w), jnp.asarray(w))
    (dw,) = vjp(jnp.asarray(g))
    x64 = x.astype(np.float64)
    for got, want, scale, n in ((y, x64 @ w, x64 @ np.abs(w), parts * 784), (dw, x64.T @ g, x64.T @ np.abs(g), parts * 400)):
        bound = (np.sqrt(n) * U32 + (2.0 ** -16 if parts == 2 else 0.0)) * scale
        err = np.abs(np.asarray(got, np.float64) - want)
        record_margin("largest error / its bound", np.max(err / bound), 1.0)
        assert np.all(err <= bound), np.max(err / bound)


def test_three_parts_carry_all_24_bits_of_the_weights_and_of_the_gradient():
    """One feature, one example: every output of x @ w and of x^T g is a sum of `parts` exact products of one sign,
    so with three parts float32 is within gamma_2 = 2u/(1-2u) of float64 on any machine (any order, FMA or not), while
    two parts miss bits 17-24 of w or g: errors up to 2^-16, 2^-17 typical, which the 2u bound is 60x below."""
    rng = np.random.default_rng(7)
    x = np.array([[201.0]], np.float32)                                    # (N=1, D=1), a bfloat16 number
    w = rng.uniform(-1, 1, (1, 4096)).astype(np.float32)
    g = rng.uniform(-1, 1, (1, 4096)).astype(np.float32)
    for parts in (3, 2):
        s = split.split_input(x, parts)
        y, vjp = jax.vjp(lambda w: split.matmul(s, w), jnp.asarray(w))
        (dw,) = vjp(jnp.asarray(g))
        for got, want in ((y, 201.0 * w.astype(np.float64)), (dw, 201.0 * g.astype(np.float64))):
            rel = np.max(np.abs(np.asarray(got, np.float64) - want) / np.abs(want))
            if parts == 3:
                record_margin("three parts: largest relative error", rel, 2 * U32 / (1 - 2 * U32))
                assert rel <= 2 * U32 / (1 - 2 * U32), rel
            else:
                assert 2.0 ** -18 < rel <= 2.0 ** -16 + 2 * U32, rel


def test_split_input_refuses_values_that_are_not_bfloat16():
    with pytest.raises(ValueError, match="exact in bfloat16"):
        split.split_input(np.full((2, 3), 0.1, np.float32), 3)
    s = split.split_input(raw_pixels(5, 7), 3)
    assert s.x.dtype == jnp.bfloat16 and s.x_cat.shape == (5, 21) and s.parts == 3


def fp16_sum(a):
    scale, unscale = split.column_scale(jnp.asarray(a))
    head, low = split.fp16_parts(jnp.asarray(a) * scale)
    return (as_f64(head) + as_f64(low)) * as_f64(unscale), as_f64(head) * as_f64(unscale), as_f64(scale)


@needs_float16
@pytest.mark.parametrize("scale", [1e-30, 1e-8, 0.03, 1.0, 1e30])
def test_fp16_parts_carry_each_entry_to_2_pow_minus_23(scale):
    """head = the entry rounded to 11 bits, so |low| <= 2^-12 |entry| needs 12 bits and float16 keeps 11: the
    error is at most 2^-23 of the entry. Columns of very different sizes each get their own power of two."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((300, 40)) * scale * np.logspace(-3, 3, 40)).astype(np.float32)
    both, head_only, s = fp16_sum(w)
    col_max = np.abs(w).max(axis=0) * s[0]
    assert ((2.0 ** 14 <= col_max) & (col_max < 2.0 ** 15)).all()   # scaled maxima: far from float16's 65504
    rel = np.abs(both - w) / np.abs(w)
    assert rel.max() <= 2.0 ** -23
    assert (np.abs(head_only - w) / np.abs(w)).max() > 2.0 ** -13   # the head alone is 11 bits: the low part counts


@needs_float16
def test_fp16_entries_far_below_their_column_maximum_lose_only_absolute_precision():
    """Entries below 2^-28 of the column maximum reach float16 subnormals: absolute error <= 2^-38 of it."""
    w = np.array([[1.0], [3e-9], [-7e-12], [0.0]], np.float32)
    both, _, _ = fp16_sum(w)
    assert np.abs(both - w).max() <= 2.0 ** -38 * 1.0
    assert both[0, 0] == 1.0 and both[3, 0] == 0.0


def gamma(k_terms):
    """Higham's gamma_K = K u / (1 - K u), u = 2^-24: float32 accumulation of K exact products, in any order,
    is within gamma_K * sum |products| of the exact sum."""
    u = 2.0 ** -24
    return k_terms * u / (1 - k_terms * u)


@needs_float16
def test_fp16_split_matmul_and_weight_gradient_are_exact_products_accumulated_in_float32():
    """The split result is the float64 product of the parts (which carry w and g to 2^-23, tested above) up to
    float32 accumulation of 2K exact products: a wrong scale, a lost part or a misplaced slice breaks it."""
    rng = np.random.default_rng(1)
    x = raw_pixels(400, 784)
    w = rng.uniform(-1 / 28, 1 / 28, (784, 64)).astype(np.float32)
    g = (rng.standard_normal((400, 64)) * 1e-5).astype(np.float32)
    s = split.split_input(x, 2, "fp16")
    y, vjp = jax.vjp(lambda w: split.matmul(s, w), jnp.asarray(w))
    (dw,) = vjp(jnp.asarray(g))
    x64 = x.astype(np.float64)
    for got, a, b in ((y, x64, w), (dw, x64.T, g)):
        b_parts = fp16_sum(b)[0]
        err = np.abs(np.asarray(got, np.float64) - a @ b_parts)
        bound = gamma(2 * a.shape[1]) * (np.abs(a) @ np.abs(b_parts))
        record_margin("largest error / gamma_2K bound", np.max(err / bound), 1.0)
        assert (err <= bound).all()


@needs_float16
def test_fp16_split_input_refuses_values_that_are_not_float16():
    with pytest.raises(ValueError, match="exact in float16"):
        split.split_input(np.full((2, 3), 0.1, np.float32), 2, "fp16")
    with pytest.raises(ValueError, match="takes 2 parts"):
        split.split_input(raw_pixels(5, 7), 3, "fp16")
    s = split.split_input(raw_pixels(5, 7), 2, "fp16")
    assert s.x.dtype == jnp.float16 and s.x_cat.shape == (5, 14) and s.kind == "fp16" and s.parts == 2
