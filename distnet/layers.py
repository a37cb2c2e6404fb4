"""Layers of the study: PyTorch-compatible Linear, Abs, Neg and the OffsetL2 distance layer.

Initialisation follows PyTorch's defaults exactly in distribution, because the protocol trains on raw
0..255 pixels at lr 1e-3 and other common initialisers blow up or die there.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

OFFSETL2_FORMS = ("paper", "code")
# Floor under the squared distance: keeps sqrt and its gradient finite at x == mu (the released code's value).
SQ_FLOOR = 1e-12


def torch_uniform(fan_in: int):
    """Initialiser drawing from Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's nn.Linear default."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Linear(nn.Module):
    """y = x @ kernel (+ bias); kernel is (in, out), both initialised like torch.nn.Linear."""

    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x_BxD):
        fan_in = x_BxD.shape[-1]
        kernel_DxF = self.param("kernel", torch_uniform(fan_in), (fan_in, self.features))
        y_BxF = x_BxD @ kernel_DxF
        if self.use_bias:
            y_BxF = y_BxF + self.param("bias", torch_uniform(fan_in), (self.features,))
        return y_BxF


def abs_act(x):
    """Abs(z) = ReLU(z) + ReLU(-z): an unsigned distance to the unit's hyperplane."""
    return jnp.abs(x)


def neg(x):
    """Neg(y) = -y: turns a distance (small = match) into a logit (large = match)."""
    return -x


def offsetl2_sq(x_BxH, mu_CxH, alpha_CxH, form: str):
    """Squared OffsetL2 distances (B, C) before the floor, in the chosen form.

    paper: sum_k (alpha_ck (x_k - mu_ck))^2   (the published ||alpha_c * (x - mu_c)||_2, squared)
    code:  sum_k  alpha_ck (x_k - mu_ck)^2    (the released code: alpha not squared, may go negative)
    """
    diff_BxCxH = x_BxH[:, None, :] - mu_CxH[None, :, :]
    if form == "paper":
        return jnp.sum(jnp.square(alpha_CxH * diff_BxCxH), axis=-1)
    if form == "code":
        return jnp.sum(alpha_CxH * jnp.square(diff_BxCxH), axis=-1)
    raise ValueError(f"unknown OffsetL2 form {form!r}; choose one of {OFFSETL2_FORMS}")


class OffsetL2(nn.Module):
    """Per output unit c: y_c = ||alpha_c * (x - mu_c)||_2 with a learned centre mu_c and scales alpha_c.

    Both forms take sqrt(max(d^2, 1e-12)), so output and gradient stay finite at x == mu.
    """

    features: int
    form: str = "paper"

    @nn.compact
    def __call__(self, x_BxH):
        hidden = x_BxH.shape[-1]
        mu_CxH = self.param("mu", nn.initializers.normal(stddev=0.1), (self.features, hidden))
        alpha_CxH = self.param("alpha", nn.initializers.ones, (self.features, hidden))
        return jnp.sqrt(jnp.maximum(offsetl2_sq(x_BxH, mu_CxH, alpha_CxH, self.form), SQ_FLOOR))
