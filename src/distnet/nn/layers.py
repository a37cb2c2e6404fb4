"""Layers of the study: PyTorch-compatible Linear, Abs, Neg and the OffsetL2 distance layer.

Initialisation follows PyTorch's defaults exactly in distribution, because the protocol trains on raw
0..255 pixels at lr 1e-3 and other common initialisers blow up or die there.
"""
from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from distnet.config import ConfigError
from distnet.nn import split

OFFSETL2_FORMS = ("paper", "code")


def check_form(form: str) -> None:
    """ConfigError naming the valid OffsetL2 forms (config.offsetl2_form) unless `form` is one."""
    if form not in OFFSETL2_FORMS:
        raise ConfigError(f"config.offsetl2_form={form!r}; choose one of {', '.join(OFFSETL2_FORMS)}")

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
        """x_BxD: an array, or a split.SplitInput (first layer, inputs exact in 16 bits; see split.matmul)."""
        fan_in = x_BxD.shape[-1]
        kernel_DxF = self.param("kernel", torch_uniform(fan_in), (fan_in, self.features))
        if isinstance(x_BxD, split.SplitInput):
            y_BxF = split.matmul(x_BxD, kernel_DxF)
        else:
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


def offsetl2_sq_direct(x_BxH, mu_CxH, alpha_CxH, form: str):
    """Squared OffsetL2 distances (B, C) straight from the definition (the reference for the fast path).

    paper: sum_k (alpha_ck (x_k - mu_ck))^2   (the published ||alpha_c * (x - mu_c)||_2, squared)
    code:  sum_k  alpha_ck (x_k - mu_ck)^2    (the released code: alpha not squared, may go negative)
    """
    diff_BxCxH = x_BxH[:, None, :] - mu_CxH[None, :, :]
    if form == "paper":
        return jnp.sum(jnp.square(alpha_CxH * diff_BxCxH), axis=-1)
    check_form(form)
    return jnp.sum(alpha_CxH * jnp.square(diff_BxCxH), axis=-1)   # code


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def offsetl2_sq(x_BxH, mu_CxH, alpha_CxH, form: str):
    """offsetl2_sq_direct with a hand-written backward pass that never builds a (B, C, H) tensor.

    The forward is the direct formula (XLA fuses the broadcast into the reduction, so it is exact and
    streams); autodiff of it would materialise d/d(diff) as B x C x H (6 GB for 20 seeds on MNIST). The
    backward regroups each sum over classes or examples into small matmuls:
        w = alpha^2 (paper) or alpha (code);   g = dL/dS (B x C)
        dx     = 2 (x * (g @ w) - g @ (w * mu))
        dmu    = -2 w * (g^T @ x - mu * sum_b g)
        dalpha = 2 alpha * q (paper) or q (code),  q = g^T @ x^2 - 2 mu * (g^T @ x) + mu^2 * sum_b g
    """
    return offsetl2_sq_direct(x_BxH, mu_CxH, alpha_CxH, form)


def _offsetl2_fwd(x_BxH, mu_CxH, alpha_CxH, form):
    return offsetl2_sq_direct(x_BxH, mu_CxH, alpha_CxH, form), (x_BxH, mu_CxH, alpha_CxH)


def _offsetl2_bwd(form, res, g_BxC):
    x_BxH, mu_CxH, alpha_CxH = res
    w_CxH = jnp.square(alpha_CxH) if form == "paper" else alpha_CxH
    dx_BxH = 2.0 * (x_BxH * (g_BxC @ w_CxH) - g_BxC @ (w_CxH * mu_CxH))
    gx_CxH = g_BxC.T @ x_BxH
    gsum_Cx1 = jnp.sum(g_BxC, axis=0)[:, None]
    dmu_CxH = -2.0 * w_CxH * (gx_CxH - mu_CxH * gsum_Cx1)
    q_CxH = g_BxC.T @ jnp.square(x_BxH) - 2.0 * mu_CxH * gx_CxH + jnp.square(mu_CxH) * gsum_Cx1
    dalpha_CxH = 2.0 * alpha_CxH * q_CxH if form == "paper" else q_CxH
    return dx_BxH, dmu_CxH, dalpha_CxH


offsetl2_sq.defvjp(_offsetl2_fwd, _offsetl2_bwd)


class OffsetL2(nn.Module):
    """Per output unit c: y_c = ||alpha_c * (x - mu_c)||_2 with a learned centre mu_c and scales alpha_c.

    Both forms take sqrt(max(d^2, 1e-12)), so output and gradient stay finite at x == mu.
    """

    features: int
    form: str = "paper"

    def __post_init__(self):
        check_form(self.form)
        super().__post_init__()

    @nn.compact
    def __call__(self, x_BxH):
        hidden = x_BxH.shape[-1]
        mu_CxH = self.param("mu", nn.initializers.normal(stddev=0.1), (self.features, hidden))
        alpha_CxH = self.param("alpha", nn.initializers.ones, (self.features, hidden))
        return jnp.sqrt(jnp.maximum(offsetl2_sq(x_BxH, mu_CxH, alpha_CxH, self.form), SQ_FLOOR))
