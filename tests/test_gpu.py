"""The CUDA path: mixed precision, channels-last, out-of-memory recovery and tiling on a real GPU.

Every test here is marked `gpu` and skips, saying so, where torch sees no CUDA device (conftest.py);
benchmarks/gpu_check.sh runs them on a GPU machine, then the benchmark.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from nst_engine import api
from nst_engine.gatys import optimize
from nst_engine.pictures.images import resize_tensor, to_tensor
from nst_engine.settings import Settings

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def fresh_memory():
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    yield
    torch.cuda.set_per_process_memory_fraction(1.0)
    torch.cuda.empty_cache()


def cuda_settings(**overrides) -> Settings:
    return Settings.from_dict({"size": 256, "iterations": 20, "scales": 2, "device": "cuda", **overrides})


def objective_for(cache, cat, stain, settings: Settings, dtype: torch.dtype, channels_last: bool):
    model, _ = cache.get(settings, CUDA, channels_last)
    run_settings, beta = cache.calibrated(settings)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    content = resize_tensor(to_tensor(cat.rgb, CUDA), (256, 170)).contiguous(memory_format=layout)
    style = resize_tensor(to_tensor(stain.rgb, CUDA), (256, 256)).contiguous(memory_format=layout)
    autocast = optimize.make_autocast(CUDA, dtype)
    return optimize.Objective(model, content, [(style, 1.0)], run_settings, beta, autocast, layout), content


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_runs_the_network_in_half_and_the_costs_in_fp32(cache, cat, stain, precision):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    settings = cuda_settings(precision=precision)
    objective, content = objective_for(cache, cat, stain, settings, dtype, channels_last=True)
    with objective.autocast():
        activations = objective.model(content)
    assert all(a.dtype == dtype for a in activations.values())  # the network did run in half precision
    image = (content + 0.05 * torch.randn_like(content)).clamp(0, 1).contiguous().requires_grad_(True)
    J, parts = objective(image)
    J.backward()
    assert J.dtype == torch.float32 and all(p.dtype == torch.float32 for p in parts.values())
    assert all(torch.isfinite(p).item() for p in parts.values()) and torch.isfinite(image.grad).all()

    result = api.stylize(cat, [stain], settings, cache=cache)
    assert np.isfinite(result.picture.rgb).all()
    assert all(np.isfinite(v) for v in result.losses.values()), result.losses
    plain = api.stylize(cat, [stain], settings.replace(precision="fp32"), cache=cache)
    assert np.abs(result.picture.rgb - plain.picture.rgb).mean() < 0.05  # the same picture, roughly


def test_channels_last_gives_the_same_costs_gradient_and_picture(cache, cat, stain):
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        settings = cuda_settings(precision="fp32")
        values = []
        for channels_last in (False, True):
            objective, content = objective_for(cache, cat, stain, settings, torch.float32, channels_last)
            image = (content + 0.05 * torch.rand_like(content)).contiguous()
            image.requires_grad_(True)
            J, _ = objective(image)
            J.backward()
            values.append((float(J), image.grad.detach().flatten().clone()))
        (J0, g0), (J1, g1) = values
        assert J1 == pytest.approx(J0, rel=1e-4)
        assert float(torch.nn.functional.cosine_similarity(g0, g1, dim=0)) > 0.9999
        pictures = [
            api.stylize(cat, [stain], settings.replace(channels_last=layout, iterations=8), cache=cache).picture.rgb
            for layout in (False, True)
        ]
        assert np.abs(pictures[0] - pictures[1]).mean() < 2e-3
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def test_out_of_memory_at_run_time_retries_with_smaller_tiles(cache, cat, stain):
    """The planner is told 1 GiB; the allocator allows less, so the planned tiles fail and are retried."""
    limit = 2**30
    settings = cuda_settings(size=1536, iterations=4, scales=1, precision="bf16", memory_limit=limit)
    cache.get(settings, CUDA, True)  # the weights are in memory before the cap
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(CUDA).total_memory
    allowed = torch.cuda.memory_reserved(CUDA) + int(0.7 * limit)
    torch.cuda.set_per_process_memory_fraction(allowed / total, CUDA)
    result = api.stylize(cat, [stain], settings, cache=cache)
    assert result.plan is not None and result.plan.tiled
    assert np.isfinite(result.picture.rgb).all() and result.picture.size[0] == 1536
    # The note names the tiles it retried in, and they are the tiles that ran (optimize.run).
    retried = re.search(r"Ran out of memory at .*: retried in tiles of up to (\d+)x(\d+)\.", result.message or "")
    assert retried, result.message
    assert result.plan.steps[-1].region == (int(retried[1]), int(retried[2])), (result.plan.steps[-1], result.message)


def test_tiles_on_cuda_give_a_whole_picture_in_less_memory(cache, cat, stain):
    settings = cuda_settings(size=1024, iterations=6, scales=1, precision="bf16")
    torch.cuda.reset_peak_memory_stats()
    whole = api.stylize(cat, [stain], settings, cache=cache)
    whole_peak = torch.cuda.max_memory_allocated()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    tiled = api.stylize(cat, [stain], settings.replace(tile_size=384), cache=cache)
    tiled_peak = torch.cuda.max_memory_allocated()
    assert tiled.plan is not None and tiled.plan.tiled and not whole.plan.tiled
    assert tiled.picture.size == whole.picture.size and np.isfinite(tiled.picture.rgb).all()
    assert tiled_peak < whole_peak, (tiled_peak, whole_peak)
    assert np.abs(tiled.picture.rgb - whole.picture.rgb).mean() < 0.1
