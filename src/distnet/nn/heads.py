"""Distance output heads beside OffsetL2: the log of an RBF unit and a Mahalanobis (MD) unit, one per class.

The paper compares OffsetL2 on paper with an RBF unit exp(-0.5 * precision * (x - mu)^2) and a Mahalanobis unit
||precision * V (x - mu)||_2, both feeding LogSoftmax. Here they are output layers after the first Linear -> act:

    RBF:  logit_c = -0.5 * sum_j p_cj (h_j - mu_cj)^2      (the log of the RBF unit; never exp then log)
          params["output"]["mu"] (C x H), params["output"]["log_precision"] (C x H); p = exp(log_precision) > 0
    MD:   y_c = ||P_c (h - mu_c)||_2                          (-Neg variants take -y_c as the logit)
          params["output"]["mu"] (C x H), params["output"]["P"] (C x R x H); R = config.md_rank (0 = H, full)

RBF is diagonal like OffsetL2 and reuses its streaming gradient (`layers.offsetl2_sq`, sum_j (alpha_j (h_j -
mu_j))^2 with alpha = sqrt(p)), so no batch x class x hidden tensor exists in either pass. MD's
P_c (h - mu_c) is batch x class x rank by nature: `md_distance` computes it as one matmul h @ P^T minus P mu
(never forming h - mu per class, which is batch x class x hidden) and its backward pass builds nothing larger.

Initialisation (which ones train under the paper's protocol on raw MNIST: benchmarks/head_inits.py, measured rows in
configs/distance_heads.py's docstring), SPREAD the spread of a first-layer activation at PyTorch-default init on
raw 0..255 pixels:
  RBF: mu ~ N(0, SPREAD^2), p = 1 / SPREAD^2. The class-dependent part of the logit is then p h.mu_c, a Linear
       head with weights ~ N(0, (1/SPREAD)^2). OffsetL2's mu ~ N(0, 0.1^2) leaves the first layer almost no
       gradient (dL/dh = sum_c g_c p_c (mu_c - h) = p sum_c g_c mu_c while p is uniform, as sum_c g_c = 0) and
       stalls; p = 1 diverges (d logit / d log p = -0.5 p (h - mu)^2, several hundred per unit at init, moves
       log p by O(0.1) a step, and p grows exponentially).
  MD:  mu ~ N(0, 0.1^2) as in OffsetL2; P_c like a PyTorch Linear from H to R units, U(+-1/sqrt(H)), divided
       by SPREAD, so distances start O(1) (||P_c h|| ~ ||h|| / (sqrt(3) SPREAD)). Unscaled, P trains the first
       layer fast (dh = u P) and fits the training set far sooner but generalises worse; P = I (OffsetL2 with
       alpha = 1) lies between.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from distnet.config import ConfigError
from distnet.nn import layers

def check_rank(rank, hidden: int) -> None:
    """ConfigError naming config.md_rank unless it is an integer in 0..hidden (0 = full rank)."""
    if not (isinstance(rank, int) and not isinstance(rank, bool)) or not 0 <= rank <= hidden:
        raise ConfigError(f"config.md_rank={rank!r} must be an integer in 0..config.hidden={hidden} (0 = full rank)")


# Root mean square of a first-layer pre-activation at PyTorch-default init on raw 0..255 MNIST:
# E[z^2] = E||x||^2 / (3 * 784), and E||x||^2 = 5.71e6 over the training set, so z ~ 49.3 (48.4 measured for one
# drawn layer on 20,000 training images; its ReLU has rms 34, its Abs 48).
SPREAD = 49.0


def rbf_logits(h_BxH, mu_CxH, log_precision_CxH):
    """(B, C) log-RBF logits -0.5 * sum_j exp(log_precision_cj) (h_j - mu_cj)^2, in log space.

    The weighted squared distance is OffsetL2's published form sum_j (alpha_j (h_j - mu_j))^2 with alpha =
    sqrt(p) = exp(log_precision / 2), whose hand-written backward pass never builds a (B, C, H) tensor; exp's
    derivative is applied to the (C, H) gradient by autodiff. (The released-code form with alpha = p is the same
    sum, but XLA:CPU ran it about 10% slower per epoch: 0.71-0.83 s per model-epoch against 0.66-0.73 for this
    form, interleaved, 4 seeds on 10,000 images, 2-core CPU, 2026-11-27.)
    """
    return -0.5 * layers.offsetl2_sq(h_BxH, mu_CxH, jnp.exp(0.5 * log_precision_CxH), "paper")


def _project(h_BxH, mu_CxH, P_CxRxH):
    """z (B, C, R) = P_c (h - mu_c) as h @ P^T - P mu: one matmul, nothing of size B x C x H."""
    C, R, H = P_CxRxH.shape
    z_BxCR = h_BxH @ P_CxRxH.reshape(C * R, H).T
    return z_BxCR.reshape(-1, C, R) - jnp.einsum("crh,ch->cr", P_CxRxH, mu_CxH)


@jax.custom_vjp
def md_distance(h_BxH, mu_CxH, P_CxRxH):
    """(B, C) Mahalanobis distances ||P_c (h - mu_c)||_2, floored like OffsetL2: sqrt(max(d^2, SQ_FLOOR)).

    Backward, with u = g * z / y (B x C x R; zero where the floor holds, the subgradient the floor gives):
        dh = u @ P,   dP_c = u_c^T @ h - (sum_b u_c) mu_c^T,   dmu_c = -P_c^T sum_b u_c
    each a matmul over the batch, so nothing larger than B x C x R is built (autodiff of the same forward would
    be too; the custom rule exists for the floor and to reuse z rather than keep a second copy).
    At h = mu_c the two products h @ P^T and P mu round differently, so d^2 is float32 noise of the size
    eps * |P_c| |h| rather than exactly 0: the output and gradient stay finite and the gradient is bounded by
    |P_c| (tests/test_heads.py states the bound).
    """
    return _md_fwd(h_BxH, mu_CxH, P_CxRxH)[0]


def _md_fwd(h_BxH, mu_CxH, P_CxRxH):
    z_BxCxR = _project(h_BxH, mu_CxH, P_CxRxH)
    sq_BxC = jnp.sum(jnp.square(z_BxCxR), axis=-1)
    y_BxC = jnp.sqrt(jnp.maximum(sq_BxC, layers.SQ_FLOOR))
    return y_BxC, (h_BxH, mu_CxH, P_CxRxH, z_BxCxR, sq_BxC > layers.SQ_FLOOR, y_BxC)


def _md_bwd(res, g_BxC):
    h_BxH, mu_CxH, P_CxRxH, z_BxCxR, above_BxC, y_BxC = res
    C, R, H = P_CxRxH.shape
    s_BxC = jnp.where(above_BxC, g_BxC / y_BxC, 0.0)
    u_BxCR = (z_BxCxR * s_BxC[:, :, None]).reshape(-1, C * R)
    usum_CxR = jnp.sum(u_BxCR, axis=0).reshape(C, R)
    dh_BxH = u_BxCR @ P_CxRxH.reshape(C * R, H)
    dP_CxRxH = (u_BxCR.T @ h_BxH).reshape(C, R, H) - usum_CxR[:, :, None] * mu_CxH[:, None, :]
    dmu_CxH = -jnp.einsum("cr,crh->ch", usum_CxR, P_CxRxH)
    return dh_BxH, dmu_CxH, dP_CxRxH


md_distance.defvjp(_md_fwd, _md_bwd)


@jax.custom_vjp
def md_distance_gram(h_BxH, mu_CxH, P_CxRxH):
    """md_distance through M_c = P_c^T P_c (H x H, symmetric): y_c^2 = (h - mu_c)^T M_c (h - mu_c).

    Two B x H x (C H) matmuls per step instead of md_distance's three B x H x (C R): forward w_c = M_c (h - mu_c)
    = h @ M^T - M mu, y_c^2 = sum_j (h_j - mu_cj) w_cj; backward, with s = g / y (0 under the floor),
        dh = sum_c s_c w_c,   dmu_c = -sum_b s_bc w_bc,   dP_c = P_c G_c,  G_c = sum_b s_bc e_bc e_bc^T (e = h - mu_c)
    where G_c = a_c^T h - (sum_b a_bc) mu_c^T with a = s e is the second matmul. FLOPs: 2 C H^2 per input against
    3 C R H, fewer for R > 2H/3 (full rank: two thirds), but a B x C x H tensor where md_distance keeps B x C x R,
    and one more of them in the backward pass (XLA's temporaries at 20 seeds x 60,000 images: 18.9 GiB against
    12.7). Its rounding of y^2 is relative to |e|^T |M| (|h| + |mu|), not to y^2: y's error is about H eps |P_c| |h|
    as md_distance's, but larger where P_c nearly annihilates e (y << |P_c| |e|); at h = mu_c, e = 0 and y^2 = 0
    exactly (tests/test_heads.py states the bounds). A candidate for accelerators, where the head's float32 matmuls
    dominate its cost; on a CPU it measured slower (benchmarks/RESULTS.md; heads_cost.py --variants
    ReLU,ReLU-MD,ReLU-MD@gram), so the MD head runs md_distance.
    """
    return _gram_fwd(h_BxH, mu_CxH, P_CxRxH)[0]


def _gram_fwd(h_BxH, mu_CxH, P_CxRxH):
    C, R, H = P_CxRxH.shape
    M_CxHxH = jnp.einsum("crh,crk->chk", P_CxRxH, P_CxRxH)
    w_BxCxH = (h_BxH @ M_CxHxH.reshape(C * H, H).T).reshape(-1, C, H) - jnp.einsum("chk,ck->ch", M_CxHxH, mu_CxH)
    sq_BxC = jnp.sum((h_BxH[:, None, :] - mu_CxH) * w_BxCxH, axis=-1)
    y_BxC = jnp.sqrt(jnp.maximum(sq_BxC, layers.SQ_FLOOR))
    return y_BxC, (h_BxH, mu_CxH, P_CxRxH, w_BxCxH, sq_BxC > layers.SQ_FLOOR, y_BxC)


def _gram_bwd(res, g_BxC):
    h_BxH, mu_CxH, P_CxRxH, w_BxCxH, above_BxC, y_BxC = res
    C, R, H = P_CxRxH.shape
    s_BxCx1 = jnp.where(above_BxC, g_BxC / y_BxC, 0.0)[:, :, None]
    sw_BxCxH = s_BxCx1 * w_BxCxH
    a_BxCxH = s_BxCx1 * (h_BxH[:, None, :] - mu_CxH)
    G_CxHxH = ((a_BxCxH.reshape(-1, C * H).T @ h_BxH).reshape(C, H, H)
               - jnp.sum(a_BxCxH, 0)[:, :, None] * mu_CxH[:, None, :])
    dP_CxRxH = jnp.einsum("crh,chk->crk", P_CxRxH, 0.5 * (G_CxHxH + jnp.swapaxes(G_CxHxH, 1, 2)))
    return jnp.sum(sw_BxCxH, axis=1), -jnp.sum(sw_BxCxH, axis=0), dP_CxRxH


md_distance_gram.defvjp(_gram_fwd, _gram_bwd)


def md_distance_direct(h_BxH, mu_CxH, P_CxRxH):
    """md_distance straight from the definition, building h - mu_c (B x C x H): for tests only."""
    z_BxCxR = jnp.einsum("crh,bch->bcr", P_CxRxH, h_BxH[:, None, :] - mu_CxH[None])
    return jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(z_BxCxR), axis=-1), layers.SQ_FLOOR))


class RBF(nn.Module):
    """Per class c: logit_c = -0.5 * sum_j p_cj (h_j - mu_cj)^2, p_cj = exp(log_precision_cj) (see rbf_logits).

    The output (output_post; there is no Neg) is already a similarity, largest at the centre, so statistics that
    read "smallest for its own class" as a distance code (analysis.stats.output_geometry) read it the other way."""

    features: int
    spread: float = SPREAD      # expected spread of h at init: mu ~ N(0, spread^2), p = 1 / spread^2

    @nn.compact
    def __call__(self, h_BxH):
        hidden = h_BxH.shape[-1]
        mu_CxH = self.param("mu", nn.initializers.normal(stddev=self.spread), (self.features, hidden))
        log_p = nn.initializers.constant(-2.0 * math.log(self.spread))
        log_precision_CxH = self.param("log_precision", log_p, (self.features, hidden))
        return rbf_logits(h_BxH, mu_CxH, log_precision_CxH)


class MD(nn.Module):
    """Per class c: y_c = ||P_c (h - mu_c)||_2 with P_c a learned rank x hidden matrix (see md_distance).

    rank 0 means full (rank = hidden). P_c starts like a PyTorch Linear from hidden to rank units, / spread."""

    features: int
    rank: int = 0
    spread: float = SPREAD      # expected spread of h at init: P starts at U(+-1/sqrt(hidden)) / spread

    @nn.compact
    def __call__(self, h_BxH):
        hidden = h_BxH.shape[-1]
        rank = self.rank or hidden
        mu_CxH = self.param("mu", nn.initializers.normal(stddev=0.1), (self.features, hidden))
        bound = 1.0 / (math.sqrt(hidden) * self.spread)
        P_init = lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)
        P_CxRxH = self.param("P", P_init, (self.features, rank, hidden))
        return md_distance(h_BxH, mu_CxH, P_CxRxH)
