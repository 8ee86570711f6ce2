"""The filterbank read and the retina against hand-computed references."""

import pytest
import torch

from lit_draw.models.attention import (
    FilterbankWindow,
    filterbank_read,
    gaussian_filterbank,
    loc_to_pixels,
    retina,
)


def _window(batch, gx, gy, sigma2, delta):
    full = lambda v: torch.full((batch,), float(v), dtype=torch.float64)  # noqa: E731
    return full(gx), full(gy), full(sigma2), full(delta)


def test_filterbank_rows_sum_to_one_even_off_canvas():
    gx = torch.tensor([5.0, -40.0, 300.0])
    fx, fy = gaussian_filterbank(gx, gx.flip(0), torch.tensor([2.0, 0.5, 1e-4]), torch.tensor([1.0, 3.0, 2.0]), 6, 20, 30)
    assert fx.shape == (3, 6, 30) and fy.shape == (3, 6, 20)
    on_canvas = fx[0].sum(-1)
    torch.testing.assert_close(on_canvas, torch.ones(6))
    assert torch.isfinite(fx).all() and torch.isfinite(fy).all()
    assert (fx.sum(-1) <= 1 + 1e-6).all()


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
    for name, p in zip(("gx", "gy", "sigma2", "delta", "gamma"), (gx, gy, sigma2, delta, gamma)):
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert window.linear.weight.grad.abs().sum(1).gt(0).all()


def test_window_centre_from_zero_state_is_the_canvas_centre():
    window = FilterbankWindow(in_features=4, n=3, height=20, width=30)
    torch.nn.init.zeros_(window.linear.weight)
    torch.nn.init.zeros_(window.linear.bias)
    gx, gy, sigma2, delta, gamma = window(torch.zeros(1, 4))
    assert gx.item() == pytest.approx(14.5) and gy.item() == pytest.approx(9.5)
    assert delta.item() == pytest.approx(29 / 2) and sigma2.item() == 1 and gamma.item() == 1


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


def test_retina_batch_path_equals_per_sample_reference():
    torch.manual_seed(0)
    images = torch.rand(5, 1, 13, 17)
    loc = torch.rand(5, 2) * 2 - 1
    loc[0] = torch.tensor([-1.0, 1.0])
    out = retina(images, loc, patch=3, scales=3)
    for b in range(5):
        torch.testing.assert_close(out[b], _retina_reference(images[b, 0], loc[b], 3, 3))


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
