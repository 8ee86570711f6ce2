"""The filterbank read and the retina against hand-computed references."""

import pytest
import torch
import torch.nn.functional as F

from lit_draw.models.attention import (
    FilterbankWindow,
    filterbank_read,
    gaussian_filterbank,
    integral_image,
    loc_to_pixels,
    retina,
    retina_level,
)


def _window(batch, gx, gy, sigma2, delta):
    full = lambda v: torch.full((batch,), float(v), dtype=torch.float64)  # noqa: E731
    return full(gx), full(gy), full(sigma2), full(delta)


def test_filterbank_rows_sum_to_one_even_off_canvas():
    gx = torch.tensor([5.0, -40.0, 300.0])
    fx, fy = gaussian_filterbank(
        gx, gx.flip(0), torch.tensor([2.0, 0.5, 1e-4]), torch.tensor([1.0, 3.0, 2.0]), 6, 20, 30
    )
    assert fx.shape == (3, 6, 30) and fy.shape == (3, 6, 20)
    on_canvas = fx[0].sum(-1)
    torch.testing.assert_close(on_canvas, torch.ones(6))
    assert torch.isfinite(fx).all() and torch.isfinite(fy).all()
    assert (fx.sum(-1) <= 1 + 1e-6).all()


def test_filterbank_equals_the_plain_formula_with_its_far_tails():
    """The filters cut to zero below exp(-80) (a fast path) match eqs. 19-20 written out plainly."""
    torch.manual_seed(3)
    gx, gy = torch.rand(256) * 140 - 20, torch.rand(256) * 140 - 20  # some windows off the canvas
    sigma2, delta = torch.rand(256) ** 3 * 20 + 1e-3, torch.rand(256) * 9  # narrow filters: long tails
    fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, 12, 100, 100)
    a = torch.arange(100.0)
    for f, g in ((fx, gx), (fy, gy)):
        mu = g[:, None] + (torch.arange(1, 13) - 6.5) * delta[:, None]
        plain = torch.exp(-((a - mu[..., None]) ** 2) / (2 * sigma2[:, None, None]))
        plain = plain / plain.sum(-1, keepdim=True).clamp_min(1e-8)
        assert (f == 0).float().mean() > 0.5  # the cut is exercised
        torch.testing.assert_close(f, plain, rtol=1e-5, atol=1e-6)


def test_filter_centres_are_symmetric_about_g():
    """mu_i = g + (i - N/2 - 0.5) delta: the mean of each row's Gaussian, symmetric about g."""
    n, width = 4, 64
    gx, gy, sigma2, delta = _window(1, 31.0, 31.0, 0.5, 5.0)
    fx, _ = gaussian_filterbank(gx, gy, sigma2, delta, n, width, width)
    centres = (fx[0] * torch.arange(width, dtype=torch.float64)).sum(-1)
    torch.testing.assert_close(centres, torch.tensor([23.5, 28.5, 33.5, 38.5], dtype=torch.float64))


def test_centred_stride_one_window_reads_image_back():
    size = 9
    image = torch.rand(2, size, size, dtype=torch.float64)
    centre = (size - 1) / 2
    gx, gy, sigma2, delta = _window(2, centre, centre, 1e-4, 1.0)
    fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, size, size, size)
    read = filterbank_read(image, fx, fy, torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(read, image)


def test_read_of_a_non_square_canvas_follows_rows_and_columns():
    image = torch.zeros(1, 5, 7, dtype=torch.float64)
    image[0, 1, 6] = 1.0  # row y = 1, column x = 6
    gx, gy, sigma2, delta = _window(1, 6.0, 1.0, 1e-4, 1.0)
    fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, 3, 5, 7)
    read = filterbank_read(image, fx, fy, torch.full((1,), 2.0, dtype=torch.float64))
    expected = torch.zeros(3, 3, dtype=torch.float64)
    expected[1, 1] = 2.0  # centre of the 3x3 grid, scaled by gamma
    torch.testing.assert_close(read[0], expected)


def test_mirroring_the_image_mirrors_the_read():
    size, n = 16, 5
    image = torch.rand(1, size, size, dtype=torch.float64)
    gx, gy, sigma2, delta = _window(1, 4.3, 9.1, 1.7, 2.2)
    mirrored_gx = (size - 1) - gx
    fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, n, size, size)
    read = filterbank_read(image, fx, fy, torch.ones(1, dtype=torch.float64))
    fx_m, fy_m = gaussian_filterbank(mirrored_gx, gy, sigma2, delta, n, size, size)
    read_m = filterbank_read(image.flip(-1), fx_m, fy_m, torch.ones(1, dtype=torch.float64))
    torch.testing.assert_close(read_m, read.flip(-1))


def test_gradients_reach_all_five_window_parameters():
    torch.manual_seed(0)
    window = FilterbankWindow(in_features=8, n=4, height=12, width=12)
    h = torch.randn(3, 8)
    gx, gy, sigma2, delta, gamma = window(h)
    for p in (gx, gy, sigma2, delta, gamma):
        p.retain_grad()
    fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, 4, 12, 12)
    image = torch.rand(3, 12, 12)
    (filterbank_read(image, fx, fy, gamma) * torch.randn(3, 4, 4)).sum().backward()
    for name, p in zip(("gx", "gy", "sigma2", "delta", "gamma"), (gx, gy, sigma2, delta, gamma), strict=True):
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert window.linear.weight.grad.abs().sum(1).gt(0).all()


def test_window_centre_from_zero_state_is_the_canvas_centre():
    window = FilterbankWindow(in_features=4, n=3, height=20, width=30)
    torch.nn.init.zeros_(window.linear.weight)
    torch.nn.init.zeros_(window.linear.bias)
    gx, gy, sigma2, delta, gamma = window(torch.zeros(1, 4))
    assert gx.item() == pytest.approx(14.5) and gy.item() == pytest.approx(9.5)
    assert delta.item() == pytest.approx(29 / 2) and sigma2.item() == 1 and gamma.item() == 1


def test_the_dram_filter_is_the_study_codes_gaussian_of_variance_two_sigma2_squared():
    # jlindsey15/DRAM: Fx = exp(-((a - mu) / (2 sigma2))^2), normalised over a; sigma2 = exp(log sigma2)
    window = FilterbankWindow(in_features=1, n=4, height=30, width=30, filter="dram")
    torch.nn.init.zeros_(window.linear.weight)
    with torch.no_grad():
        window.linear.bias.copy_(torch.tensor([0.1, -0.2, 0.7, -0.5, 0.0]))
    gx, gy, sigma2, delta, _ = window(torch.zeros(1, 1))
    fx, _ = gaussian_filterbank(gx, gy, sigma2, delta, 4, 30, 30)
    dram_sigma2 = torch.exp(torch.tensor(0.7))
    mu = gx + (torch.arange(1, 5) - 4 / 2 - 0.5) * delta  # the paper's centred grid, kept
    expected = torch.exp(-(((torch.arange(30.0) - mu[:, None]) / (2 * dram_sigma2)) ** 2))
    torch.testing.assert_close(fx[0], expected / expected.sum(-1, keepdim=True))
    assert sigma2.item() == pytest.approx(2 * dram_sigma2.item() ** 2)


def test_window_rejects_an_unknown_filter():
    with pytest.raises(ValueError, match="filter must be one of paper, dram"):
        FilterbankWindow(4, 3, 10, 10, filter="gauss")


def test_window_rejects_a_single_filter():
    with pytest.raises(ValueError, match="read_n must be >= 2"):
        FilterbankWindow(4, 1, 10, 10)


def test_retina_scales_are_hand_computed_block_averages():
    image = torch.arange(64.0).view(1, 8, 8)
    out = retina(image, torch.zeros(1, 2), patch=2, scales=3)
    assert out.shape == (1, 3, 2, 2)
    torch.testing.assert_close(out[0, 0], torch.tensor([[27.0, 28.0], [35.0, 36.0]]))
    # 4x4 square rows 2..5, cols 2..5, averaged in 2x2 blocks
    torch.testing.assert_close(out[0, 1], torch.tensor([[22.5, 24.5], [38.5, 40.5]]))
    # 8x8 square = the whole image, averaged in 4x4 blocks
    torch.testing.assert_close(out[0, 2], torch.tensor([[13.5, 17.5], [45.5, 49.5]]))


def test_retina_reads_zeros_outside_the_canvas_at_the_corners():
    image = torch.ones(1, 8, 8)
    out = retina(image, torch.tensor([[-1.0, -1.0]]), patch=2, scales=2)
    torch.testing.assert_close(out[0, 0], torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(out[0, 1], torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
    out = retina(image, torch.tensor([[1.0, 1.0]]), patch=2, scales=1)
    torch.testing.assert_close(out[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def _retina_reference(image, loc, patch, scales):
    """One canvas at a time, with explicit loops: the slow way the batch path replaces."""
    height, width = image.shape
    cx = (loc[0].item() + 1) * width / 2
    cy = (loc[1].item() + 1) * height / 2
    out = torch.zeros(scales, patch, patch)
    for k in range(scales):
        side, block = patch * 2**k, 2**k
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        for i in range(patch):
            for j in range(patch):
                total = 0.0
                for dy in range(block):
                    for dx in range(block):
                        y, x = y0 + i * block + dy, x0 + j * block + dx
                        if 0 <= y < height and 0 <= x < width:
                            total += image[y, x].item()
                out[k, i, j] = total / block**2
    return out


def _gather_retina(images, loc, patch, scales):
    """The retina lit_draw shipped before the summed-area table: gather each whole square, then pool.

    Kept as the reference the fast path must reproduce (vectorised, so it can check big batches).
    """
    batch, height, width = images.shape
    pad = patch * 2 ** (scales - 1)
    padded = F.pad(images, (pad, pad, pad, pad))
    edge = (loc.clamp(-1, 1) + 1) * loc.new_tensor([width, height]) / 2
    rows = torch.arange(batch)[:, None, None]
    out = []
    for k in range(scales):
        side = patch * 2**k
        start = torch.round(edge - side / 2).long() + pad
        xs = start[:, 0, None] + torch.arange(side)
        ys = start[:, 1, None] + torch.arange(side)
        square = padded[rows, ys[:, :, None], xs[:, None, :]]
        out.append(F.avg_pool2d(square[:, None], 2**k)[:, 0] if k else square)
    return torch.stack(out, 1)


def test_retina_batch_path_equals_per_sample_reference():
    torch.manual_seed(0)
    images = torch.rand(5, 1, 13, 17)
    loc = torch.rand(5, 2) * 2 - 1
    loc[0] = torch.tensor([-1.0, 1.0])
    out = retina(images, loc, patch=3, scales=3)
    for b in range(5):
        torch.testing.assert_close(out[b], _retina_reference(images[b, 0], loc[b], 3, 3))


@pytest.mark.parametrize("size, patch, scales", [(100, 12, 4), (60, 8, 3), (28, 8, 1), (37, 5, 5)])
def test_summed_area_retina_equals_the_gathering_retina(size, patch, scales):
    """The study's sizes and odd ones, locations everywhere including the clamped corners."""
    torch.manual_seed(size)
    images = torch.rand(64, size, size)
    loc = torch.rand(64, 2) * 2.4 - 1.2
    expected = _gather_retina(images, loc, patch, scales)
    torch.testing.assert_close(retina(images, loc, patch, scales), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(retina(integral_image(images), loc, patch, scales), expected, rtol=0, atol=1e-6)


def test_retina_level_reads_the_chosen_square_of_the_full_retina():
    torch.manual_seed(1)
    images = torch.rand(32, 1, 50, 50)
    loc = torch.rand(32, 2) * 2 - 1
    level = torch.randint(0, 3, (32,))
    full = _gather_retina(images[:, 0], loc, 6, 3)  # [B, 3, 6, 6]
    chosen = retina_level(integral_image(images), loc, 6, level)
    assert chosen.shape == (32, 6, 6)
    torch.testing.assert_close(chosen, full[torch.arange(32), level], rtol=0, atol=1e-6)


def test_rollouts_share_the_table_of_their_canvas():
    """Run-major locations ``[M B, 2]`` read canvas ``b`` at rows ``m B + b``, as from the repeated canvases."""
    torch.manual_seed(2)
    images = torch.rand(4, 1, 20, 20)
    loc = torch.rand(12, 2) * 2 - 1  # M = 3 rollouts of 4 canvases
    expected = _gather_retina(images[:, 0].repeat(3, 1, 1), loc, 4, 2)
    torch.testing.assert_close(retina(integral_image(images), loc, 4, 2), expected, rtol=0, atol=1e-6)
    level = torch.randint(0, 2, (12,))
    torch.testing.assert_close(
        retina_level(images, loc, 4, level), expected[torch.arange(12), level], rtol=0, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"retina.loc must have a multiple of 4 rows \(the table's canvases\), got 6"):
        retina(images, loc[:6], 4, 2)


def test_retina_passes_gradients_to_the_canvas_and_keeps_its_dtype():
    images = torch.rand(2, 1, 16, 16, requires_grad=True)
    out = retina(images, torch.zeros(2, 2), patch=4, scales=2)
    assert out.dtype == torch.float32
    out[:, 1].sum().backward()  # the 8x8 centre square, averaged: each of its pixels gets 1/4
    expected = torch.zeros(16, 16)
    expected[4:12, 4:12] = 0.25
    torch.testing.assert_close(images.grad[:, 0], expected.expand(2, -1, -1))


def test_loc_to_pixels_maps_corners_and_centre():
    loc = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(loc_to_pixels(loc, 10, 20), torch.tensor([[-0.5, -0.5], [9.5, 4.5], [19.5, 9.5]]))


def test_window_parameters_stay_float32_under_bf16_autocast():
    window = FilterbankWindow(in_features=4, n=12, height=100, width=100)
    torch.nn.init.zeros_(window.linear.weight)  # a centred window with every filter on the canvas
    torch.nn.init.zeros_(window.linear.bias)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gx, gy, sigma2, delta, gamma = window(torch.randn(3, 4))
        fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, 12, 100, 100)
    assert all(p.dtype == torch.float32 for p in (gx, gy, sigma2, delta, gamma, fx, fy))
    torch.testing.assert_close(fx.sum(-1), torch.ones(3, 12))
