"""The glimpse network of the hard-attention models (RAM, WS-RAM).

Mnih, Heess, Graves, Kavukcuoglu (2014), "Recurrent Models of Visual Attention", sec. 4:
``h_g = ReLU(Linear(retina(x, l)))``, ``h_l = ReLU(Linear(l))``,
``g = ReLU(Linear(h_g) + Linear(h_l))``.
"""

from __future__ import annotations

from torch import Tensor, nn

from lit_draw.models.attention import IntegralImage, retina


class GlimpseNetwork(nn.Module):
    """Encodes *what* (the retina's patches) and *where* (the action) into one feature ``g``.

    Args:
        patch: retina patch side in pixels.
        scales: retina squares per glimpse.
        where_size: size of the ``where`` vector (2 for a location; more when it also carries,
            e.g., a one-hot scale choice).
        what_hidden: units of ``h_g`` (the paper's 128).
        where_hidden: units of ``h_l`` (the paper's 128).
        out_size: units of ``g`` (the paper's 256).
    """

    def __init__(
        self,
        patch: int,
        scales: int,
        where_size: int = 2,
        what_hidden: int = 128,
        where_hidden: int = 128,
        out_size: int = 256,
    ) -> None:
        super().__init__()
        self.patch, self.scales = patch, scales
        self.what = nn.Sequential(nn.Linear(scales * patch * patch, what_hidden), nn.ReLU())
        self.where = nn.Sequential(nn.Linear(where_size, where_hidden), nn.ReLU())
        self.what_out = nn.Linear(what_hidden, out_size)
        self.where_out = nn.Linear(where_hidden, out_size)

    def encode(self, patches: Tensor, where: Tensor) -> Tensor:
        """``patches [B, ...]`` (flattened to ``[B, scales * patch^2]``), ``where [B, where_size]`` -> ``g [B, out]``."""
        return (self.what_out(self.what(patches.flatten(1))) + self.where_out(self.where(where))).relu()

    def forward(
        self, images: Tensor | IntegralImage, loc: Tensor, where: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Read the retina at ``loc`` and encode it.

        Args:
            images: ``[B, 1, H, W]``, or their :func:`~lit_draw.models.attention.integral_image`
                (built once per forward, it spares each glimpse rebuilding it).
            loc: ``[B, 2]`` in ``[-1, 1]`` (see :func:`lit_draw.models.attention.retina`).
            where: ``[B, where_size]`` the action fed to ``h_l`` (default: ``loc``).

        Returns:
            ``g [B, out_size]`` and the patches ``[B, scales, patch, patch]``.
        """
        patches = retina(images, loc, self.patch, self.scales)  # [B, scales, patch, patch]
        return self.encode(patches, loc if where is None else where), patches
