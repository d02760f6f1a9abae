"""L2 normalisation with a floor on the norm, shared by the prompt ensembles and the scores."""

from __future__ import annotations

from torch import Tensor


def l2_normalize(x: Tensor, dim: int = -1, eps: float = 1e-3) -> Tensor:
    """`x / max(||x||, eps)` along `dim`; any shape, same shape and dtype out.

    The floor is 1e-3 rather than the usual 1e-12 because the reference divides token and
    sentence embeddings by `norm.clamp(min=1e-3)`: a near-zero embedding stays near zero
    instead of being blown up into an arbitrary unit vector.
    """
    return x / x.norm(dim=dim, keepdim=True).clamp(min=eps)
