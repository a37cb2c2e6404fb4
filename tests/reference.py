"""An independent numpy (float64) implementation of every variant's forward pass and SGD step.

Written from the paper's formulas, not from distnet's code, so tests can hold distnet to it.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-12


def _act(name, z):
    return np.maximum(z, 0.0) if name == "relu" else np.abs(z)


def _dact(name, z):
    return (z > 0).astype(z.dtype) if name == "relu" else np.sign(z)


def to64(params):
    return {layer: {k: np.asarray(v, np.float64) for k, v in p.items()} for layer, p in params.items()}


def forward(spec, p, x, form="paper"):
    """Returns (logits, cache) for a Spec (act, head, out_act, neg, out_bias) and float64 params."""
    z1 = x @ p["hidden"]["kernel"] + p["hidden"]["bias"]
    h = _act(spec.act, z1)
    if spec.head == "offsetl2":
        mu, alpha = p["output"]["mu"], p["output"]["alpha"]
        diff = h[:, None, :] - mu[None]                      # B x C x H
        s = np.sum((alpha * diff) ** 2 if form == "paper" else alpha * diff ** 2, axis=-1)
        o = np.sqrt(np.maximum(s, EPS))
    elif spec.head == "rbf":                                 # log of exp(-0.5 sum_j p_j (h_j - mu_j)^2)
        diff = h[:, None, :] - p["output"]["mu"][None]
        s = np.sum(np.exp(p["output"]["log_precision"]) * diff ** 2, axis=-1)
        o = -0.5 * s
    elif spec.head == "md":                                  # ||P_c (h - mu_c)||_2
        diff = h[:, None, :] - p["output"]["mu"][None]
        z = np.einsum("crh,bch->bcr", p["output"]["P"], diff)
        s = np.sum(z ** 2, axis=-1)
        o = np.sqrt(np.maximum(s, EPS))
        diff = (diff, z)
    else:
        diff = s = None
        o = h @ p["output"]["kernel"] + (p["output"]["bias"] if spec.out_bias else 0.0)
    post = _act(spec.out_act, o) if spec.out_act else o
    y = -post if spec.neg else post
    return y, dict(z1=z1, h=h, o=o, diff=diff, s=s)


def loss(spec, p, x, labels, form="paper"):
    """Mean softmax cross-entropy of the logits."""
    y = forward(spec, p, x, form)[0]
    z = y - y.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(x)), labels]))


def loss_and_grads(spec, p, x, labels, form="paper"):
    y, c = forward(spec, p, x, form)
    z = y - y.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(x)
    loss = -logp[np.arange(n), labels].mean()
    dy = np.exp(logp)
    dy[np.arange(n), labels] -= 1.0
    dy /= n
    dpost = -dy if spec.neg else dy
    do = dpost * _dact(spec.out_act, c["o"]) if spec.out_act else dpost
    g = {"hidden": {}, "output": {}}
    if spec.head == "offsetl2":
        alpha, diff = p["output"]["alpha"], c["diff"]
        ds = np.where(c["s"] > EPS, do / (2.0 * c["o"]), 0.0)   # B x C
        if form == "paper":
            dh_terms = 2.0 * alpha ** 2 * diff                   # dS/dh, B x C x H
            g["output"]["alpha"] = np.einsum("bc,bch->ch", ds, 2.0 * alpha * diff ** 2)
        else:
            dh_terms = 2.0 * alpha * diff
            g["output"]["alpha"] = np.einsum("bc,bch->ch", ds, diff ** 2)
        g["output"]["mu"] = -np.einsum("bc,bch->ch", ds, dh_terms)
        dh = np.einsum("bc,bch->bh", ds, dh_terms)
    elif spec.head == "rbf":
        prec, diff = np.exp(p["output"]["log_precision"]), c["diff"]
        g["output"]["log_precision"] = -0.5 * np.einsum("bc,bch->ch", do, prec * diff ** 2)   # d p / d log p = p
        g["output"]["mu"] = np.einsum("bc,bch->ch", do, prec * diff)
        dh = -np.einsum("bc,bch->bh", do, prec * diff)
    elif spec.head == "md":
        P, (diff, z) = p["output"]["P"], c["diff"]
        u = np.where(c["s"] > EPS, do / c["o"], 0.0)[:, :, None] * z    # dL/dz, B x C x R
        g["output"]["P"] = np.einsum("bcr,bch->crh", u, diff)
        g["output"]["mu"] = -np.einsum("bcr,crh->ch", u, P)
        dh = np.einsum("bcr,crh->bh", u, P)
    else:
        g["output"]["kernel"] = c["h"].T @ do
        if spec.out_bias:
            g["output"]["bias"] = do.sum(axis=0)
        dh = do @ p["output"]["kernel"].T
    dz1 = dh * _dact(spec.act, c["z1"])
    g["hidden"]["kernel"] = x.T @ dz1
    g["hidden"]["bias"] = dz1.sum(axis=0)
    return loss, y, g


def sgd_step(spec, p, x, labels, lr, form="paper"):
    loss, y, g = loss_and_grads(spec, p, x, labels, form)
    new = {layer: {k: v - lr * g[layer][k] for k, v in layer_p.items()} for layer, layer_p in p.items()}
    return new, loss, float(np.mean(np.argmax(y, axis=1) == labels))


def accuracy(spec, p, x, labels, form="paper"):
    return float(np.mean(np.argmax(forward(spec, p, x, form)[0], axis=1) == labels))
