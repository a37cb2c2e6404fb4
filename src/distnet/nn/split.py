"""The first layer on 16-bit matmul units, exactly (config.split): raw pixels 0..255 are integers that bfloat16
and float16 both hold exactly, so only the weights (and, for the weight gradient, the output gradient) need
splitting into 16-bit parts; every product of a pixel and a part is exact in float32 and the matmul units
accumulate in float32.

    "bf16": 3 bfloat16 parts at matmul precision "highest" (8+8+8 bits: exact), 2 at "high" (bf16x3's value)
    "fp16": 2 float16 parts of 11 bits, each column scaled by a power of two into float16's range (2^-23)

`matmul(x, w)` is x @ w for a `SplitInput` x; the network uses it through `layers.Linear`.
"""
from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

DTYPES = {"bf16": jnp.bfloat16, "fp16": jnp.float16}


@functools.lru_cache(maxsize=None)
def converts(kind: str) -> bool:
    """Whether XLA can compile float32 -> the parts' format on the default backend. XLA:CPU compiles a float16
    conversion to a call of __truncsfhf2 where the CPU (or XLA_FLAGS=--xla_cpu_max_isa, e.g. SSE4_2) lacks
    F16C, and its JIT does not link that routine: "Symbols not found: [ __truncsfhf2 ]" (JAX 0.10.2, measured).
    bfloat16 conversion is plain integer arithmetic and compiles everywhere."""
    try:
        jax.jit(lambda x: x.astype(DTYPES[kind]))(np.ones(2, np.float32)).block_until_ready()
        return True
    except jax.errors.JaxRuntimeError:
        return False


@flax.struct.dataclass
class SplitInput:
    """Inputs every value of which is exact in the parts' 16-bit format (raw 0..255 pixels are), for
    `matmul`.

    x: (N, D) in bfloat16 or float16; x_cat: (N, parts * D), x repeated `parts` times along the features. Both
    are stored once: the forward is one matmul of x_cat with the kernel's parts stacked along K, and the weight
    gradient reads x without slicing it out of x_cat every epoch."""
    x: jax.Array
    x_cat: jax.Array

    @property
    def parts(self) -> int:
        return self.x_cat.shape[-1] // self.x.shape[-1]

    @property
    def kind(self) -> str:
        return "fp16" if self.x.dtype == jnp.float16 else "bf16"

    @property
    def shape(self):
        return self.x.shape


def _bf16_head(a):
    """The leading 8 significant bits of float32 `a` (truncated): a float32 that is exactly a bfloat16.

    A bit mask, not a float32 -> bfloat16 -> float32 round trip, which a compiler allowed excess precision may
    drop, silently making every later part zero."""
    bits = jax.lax.bitcast_convert_type(a, jnp.uint32) & jnp.uint32(0xFFFF0000)
    return jax.lax.bitcast_convert_type(bits, jnp.float32)


def bf16_parts(a, parts: int) -> list:
    """float32 `a` as `parts` bfloat16 arrays summing to it: with 3, exactly (8 + 8 + 8 >= 24 significant bits;
    only below |a| ~ 1e-33, where a part would be a subnormal that XLA flushes to zero, is the error up to
    1.2e-38); with 2, to 2^-16 relative (bf16x3 precision)."""
    out = []
    for _ in range(parts - 1):
        head = _bf16_head(a)
        out.append(head.astype(jnp.bfloat16))   # exact: the low 16 bits are zero
        a = a - head                              # exact (Sterbenz): the bits the head left out
    return out + [a.astype(jnp.bfloat16)]


def _pow2(k_int32):
    """2.0 ** k as float32, built from its exponent bits (exact; k in -126..127)."""
    return jax.lax.bitcast_convert_type((k_int32 + 127) << 23, jnp.float32)


# Column maxima are scaled into [2^14, 2^15): far below fp16's largest finite value (65504), so no part overflows,
# and the low part of every entry within 2^-17 of its column's maximum stays a normal fp16 number.
FP16_TOP_EXPONENT = 14


def column_scale(a_NxF):
    """(scale, 1 / scale), each (1, F): powers of two that put each column's largest |a| in [2^14, 2^15)."""
    m_1xF = jnp.max(jnp.abs(a_NxF), axis=0, keepdims=True)
    e_1xF = ((jax.lax.bitcast_convert_type(m_1xF, jnp.int32) >> 23) & 0xFF) - 127   # floor(log2 m); -127 for 0
    k_1xF = jnp.clip(FP16_TOP_EXPONENT - e_1xF, -126, 126)
    return _pow2(k_1xF), _pow2(-k_1xF)


def _fp16_head(a):
    """float32 `a` rounded to 11 significant bits (to nearest, ties away from zero), as float32.

    Integer arithmetic on the bits, which no compiler folds away (a float32 -> float16 -> float32 round trip may
    be dropped under excess precision, leaving the low part zero)."""
    bits = jax.lax.bitcast_convert_type(a, jnp.uint32)
    return jax.lax.bitcast_convert_type((bits + jnp.uint32(0x1000)) & jnp.uint32(0xFFFFE000), jnp.float32)


def fp16_parts(a):
    """float32 `a`, already scaled by `column_scale`, as two float16 arrays (head, low) whose sum is `a` to
    2^-23 relative: the head holds `a` rounded to 11 bits, so the low part |a - head| <= 2^-12 |a| needs at most
    12 bits and float16 keeps 11 of them. Entries below 2^-14 (2^-28 of their column's maximum) reach float16's
    subnormals, whose spacing is 2^-24: each part then rounds by up to 2^-25, an absolute error of at most 2^-24
    (2^-38 of the column maximum)."""
    head = _fp16_head(a)
    return [head.astype(jnp.float16), (a - head).astype(jnp.float16)]   # a - head is exact in float32


def _dot_f32(a, b):
    """16-bit x 16-bit -> float32 matmul. XLA:CPU has no such batched kernel, so there the operands are
    widened first (same values, same exact products); elsewhere the 16-bit operands go to the matmul units."""
    f32 = jnp.float32
    return jax.lax.platform_dependent(
        a, b, cpu=lambda a, b: jax.lax.dot(a.astype(f32), b.astype(f32), preferred_element_type=f32),
        default=lambda a, b: jax.lax.dot(a, b, preferred_element_type=f32))


@jax.custom_vjp
def matmul(x: SplitInput, w_DxF):
    """x @ w for inputs that are exact in 16 bits, as 16-bit tensor-core products with float32 accumulation.

    w is split into K = x.parts 16-bit parts; x @ w = [x, x, ...] @ [w_1; w_2; ...] is ONE matmul over K * D.
    Every product of x and a part is exact in float32 (8 x 8 bits for bfloat16, at most 11 x 11 for float16).
    bfloat16: with K = 3 (w split exactly) the result is the float32 matmul up to the order of summation, and
    with K = 2 it equals what bf16x3 ("high" precision) computes, since x's own low part is zero. float16: K = 2,
    each column of w scaled by a power of two into float16's range first (undone exactly on the output); w is
    carried to 2^-23 relative, the float32 rounding of a product being 2^-24. The weight gradient x^T g splits g
    the same way (K matmuls, outputs summed). There is no input gradient: this is a first layer."""
    if x.kind == "fp16":
        scale_1xF, unscale_1xF = column_scale(w_DxF)
        return _dot_f32(x.x_cat, jnp.concatenate(fp16_parts(w_DxF * scale_1xF), axis=0)) * unscale_1xF
    return _dot_f32(x.x_cat, jnp.concatenate(bf16_parts(w_DxF, x.parts), axis=0))


def _matmul_fwd(x, w_DxF):
    return matmul(x, w_DxF), x


def _matmul_bwd(x, g_NxF):
    if x.kind == "fp16":
        scale_1xF, unscale_1xF = column_scale(g_NxF)
        return None, sum(_dot_f32(x.x.T, g) for g in fp16_parts(g_NxF * scale_1xF)) * unscale_1xF
    return None, sum(_dot_f32(x.x.T, g) for g in bf16_parts(g_NxF, x.parts))


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def exact_in(x, kind: str) -> bool:
    """Every value of float32 array `x` is exact in the 16-bit format of split `kind` (bf16 | fp16)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if kind == "bf16":
        return not (x.view(np.uint32) & 0xFFFF).any()
    return bool(np.array_equal(x.astype(np.float16).astype(np.float32), x))


def split_input(x, parts: int, kind: str = "bf16") -> SplitInput:
    """SplitInput of float32 array `x` for `parts` parts of `kind` (bf16 | fp16; fp16 takes exactly 2);
    ValueError when some value of x is not exact in that 16-bit format."""
    if kind not in DTYPES:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {', '.join(DTYPES)}")
    if kind == "fp16" and parts != 2:
        raise ValueError(f"the fp16 split takes 2 parts, not {parts}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not exact_in(x, kind):
        raise ValueError(f"the {kind} split needs inputs that are exact in {DTYPES[kind].__name__} (raw 0..255 "
                         f"pixels are; standardised or unit-scaled ones are not)")
    x16 = jnp.asarray(x).astype(DTYPES[kind])
    return SplitInput(x16, jnp.concatenate([x16] * parts, axis=1))
