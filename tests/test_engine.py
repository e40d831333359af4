"""stylize() end to end on synthetic VGG-19 weights and real photographs (small sizes: 2 CPU cores)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from nst_engine import api, device
from nst_engine.errors import Cancelled, OutOfMemory
from nst_engine.gatys import optimize
from nst_engine.pictures.images import Picture, load_picture, to_tensor
from nst_engine.planning import memory, planner, schedule
from nst_engine.settings import Settings


def small(**overrides) -> Settings:
    # time_budget 0: these runs need no estimate, so the device is never measured for them.
    values = {"size": 64, "iterations": 8, "scales": 2, "min_scale_size": 32, "device": "cpu", "time_budget": 0,
              **overrides}
    return Settings.from_dict(values)


def test_stylize_moves_the_image_towards_the_style(cache, cat, stain):
    settings = small(iterations=10)
    events: list[optimize.Progress] = []
    result = api.stylize(cat, [stain], settings, progress=events.append, cache=cache)

    assert result.picture.size == (64, 43)
    assert result.size == (64, 43)
    # The style cost of the result is far below that of the unchanged content at the same size.
    model, fmt = cache.get(settings, torch.device("cpu"), False)
    content_small = optimize.resize_tensor(to_tensor(cat.rgb), (64, 43))
    run_settings, style_weight = cache.calibrated(settings)  # the weights stylize ran with
    objective = optimize.Objective(
        model, content_small, [(optimize.resize_tensor(to_tensor(stain.rgb), (64, 64)), 1.0)], run_settings,
        style_weight, optimize.make_autocast(torch.device("cpu"), torch.float32),
    )
    with torch.no_grad():
        _, before = objective(content_small)
    assert result.losses["style"] < 0.5 * float(before["style"])
    assert np.abs(result.picture.rgb - optimize.resize_tensor(to_tensor(cat.rgb), (64, 43))[0]
                  .permute(1, 2, 0).numpy()).mean() > 0.01
    # Progress covers every iteration of both scales, coarse first.
    # The coarse scale runs half as many iterations as the final one (coarse_iterations' default).
    assert [(e.scale, e.iteration) for e in events] == [(1, i) for i in range(1, 6)] + [(2, i) for i in range(1, 11)]
    assert events[-1].step == events[-1].total_steps == 15
    assert events[0].size == (32, 22) and events[-1].size == (64, 43)


def test_same_seed_same_result_on_cpu(cache, cat, stain):
    first = api.stylize(cat, [stain], small(iterations=3, init="noise-blend", seed=7), cache=cache)
    second = api.stylize(cat, [stain], small(iterations=3, init="noise-blend", seed=7), cache=cache)
    third = api.stylize(cat, [stain], small(iterations=3, init="noise-blend", seed=8), cache=cache)
    np.testing.assert_array_equal(first.picture.rgb, second.picture.rgb)
    assert not np.array_equal(first.picture.rgb, third.picture.rgb)


def test_alpha_depth_and_gray_are_kept_at_content_size(cache, stain):
    rgb = np.random.default_rng(0).random((30, 50, 3), dtype=np.float32)
    alpha = np.zeros((30, 50), np.float32)
    alpha[5:25, 10:40] = 1.0
    alpha[:, :5] = 0.5
    content = Picture(rgb, alpha, bit_depth=16, grayscale=True)
    result = api.stylize(content, [stain], small(iterations=2, output="content"), cache=cache)
    assert result.picture.size == (50, 30)
    np.testing.assert_array_equal(result.picture.alpha, alpha)
    assert result.picture.bit_depth == 16 and result.picture.grayscale


def test_cancel_stops_within_one_iteration(cache, cat, stain):
    cancel = threading.Event()
    seen = []

    def on_progress(event):
        seen.append(event.step)
        if event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        api.stylize(cat, [stain], small(iterations=50), progress=on_progress, cancel=cancel, cache=cache)
    assert seen == [1, 2]


def test_stop_and_keep_returns_the_current_image(cache, cat, stain):
    stop = threading.Event()
    seen = []

    def on_progress(event):
        seen.append(event.step)
        if event.step == 3:
            stop.set()

    result = api.stylize(cat, [stain], small(iterations=50), progress=on_progress, stop=stop, cache=cache)
    assert seen == [1, 2, 3]
    assert result.stopped_early
    assert result.picture.size == (64, 43)  # at the requested size although stopped at the coarse scale


def test_blend_weights_select_styles(cache, cat, stain, photos):
    hubble = load_picture(photos["hubble"])
    alone = api.stylize(cat, [stain], small(iterations=3), cache=cache)
    blended = api.stylize(cat, [stain, hubble], small(iterations=3, style_blend=[1.0, 0.0]), cache=cache)
    mixed = api.stylize(cat, [stain, hubble], small(iterations=3, style_blend=[1.0, 1.0]), cache=cache)
    np.testing.assert_allclose(alone.picture.rgb, blended.picture.rgb, atol=1e-5)
    assert np.abs(alone.picture.rgb - mixed.picture.rgb).mean() > 1e-3


def test_preserve_colors_keeps_the_content_chroma(cache, cat, stain):
    from nst_engine.pictures.images import _yiq_matrices

    result = api.stylize(cat, [stain], small(iterations=4, preserve_colors=True, output="content"), cache=cache)
    to_yiq, _ = _yiq_matrices()
    got, want = result.picture.rgb @ to_yiq.T, cat.rgb @ to_yiq.T
    inside = (result.picture.rgb > 0.02).all(axis=2) & (result.picture.rgb < 0.98).all(axis=2)
    np.testing.assert_allclose(got[inside][:, 1:], want[inside][:, 1:], atol=2e-3)
    assert np.abs(got[..., 0] - want[..., 0]).mean() > 0.005  # the luminance did change


def test_adam_lowers_the_cost(cache, cat, stain):
    events = []
    api.stylize(cat, [stain], small(iterations=15, scales=1, optimizer="adam", learning_rate=4.0),
                progress=events.append, cache=cache)
    assert events[-1].losses["total"] < events[0].losses["total"]


def test_notebook_preset_is_the_seed_setup(cache, cat, stain):
    settings = Settings.from_dict({"preset": "notebook"})
    assert (settings.optimizer, settings.learning_rate, settings.iterations) == ("adam", 2.0, 200)
    assert (settings.init, settings.noise_ratio, settings.pooling, settings.scales) == ("noise-blend", 0.6, "avg", 1)
    assert (settings.content_weight, settings.style_weight, settings.content_layer) == (10.0, 40.0, "conv4_2")
    assert settings.style_layers == {f"conv{i}_1": 0.2 for i in range(1, 6)}
    quick = settings.replace(iterations=1, device="cpu")
    result = api.stylize(cat, [stain], quick, cache=cache)
    assert result.picture.size == (400, 300)


def _plan_size(content, settings, device, dtype_bytes):
    made = planner.make_plan(content.size, settings, device, dtype_bytes)
    return made.target, made.message


def test_working_size_caps(cat):
    cpu = torch.device("cpu")
    assert _plan_size(cat, Settings.from_dict({"size": 400, "max_long_side": 100}), cpu, 4)[0] == (100, 66)
    assert _plan_size(cat, Settings.from_dict({"size": 0}), cpu, 4)[0] == (451, 300)
    # A GIMP layer smaller than the preset's size is not worked on above its own size.
    assert _plan_size(cat, Settings.from_dict({"size": 1024, "output": "content"}), cpu, 4)[0] == (451, 300)


def test_coarse_iterations_can_be_set(cache, cat, stain):
    events = []
    api.stylize(cat, [stain], small(iterations=2, coarse_iterations=3), progress=events.append, cache=cache)
    assert [(e.scale, e.iteration, e.iterations) for e in events] == [
        (1, 1, 3), (1, 2, 3), (1, 3, 3), (2, 1, 2), (2, 2, 2)
    ]


def test_scale_schedule_halves_down_to_the_minimum():
    assert schedule.scale_sizes((512, 384), 3, 128) == [(128, 96), (256, 192), (512, 384)]
    assert schedule.scale_sizes((256, 192), 3, 128) == [(128, 96), (256, 192)]
    assert schedule.scale_sizes((100, 80), 3, 128) == [(100, 80)]
    assert schedule.scale_sizes((512, 384), 1, 128) == [(512, 384)]


def test_memory_plan_tiles_then_scales_down_or_refuses(monkeypatch, cat):
    """Short of memory, a scale runs in tiles; only when even the smallest tiles don't fit is it scaled down."""
    cpu = torch.device("cpu")
    # A whole 768-px run's memory: 1024 px fits only in tiles (besides a tile of at least 512 px, the whole
    # image's L-BFGS state).
    need_768 = memory.estimate_bytes(768, 511)
    monkeypatch.setattr(memory, "_device_bytes", lambda device: need_768)
    made = planner.make_plan(cat.size, Settings.from_dict({"size": 1024, "device": "cpu"}), cpu, 4)
    assert made.target == (1024, 681) and made.steps[-1].tile is not None and made.tiled
    assert "1024x681 (in" in made.describe() and made.message.startswith("Tiled to fit the")
    tiny = memory.estimate_bytes(128, 128)  # less than the smallest tile needs
    monkeypatch.setattr(memory, "_device_bytes", lambda device: tiny)
    size, message = _plan_size(cat, Settings.from_dict({"size": 1024, "device": "cpu"}), cpu, 4)
    assert max(size) < 1024 and "Scaled down from 1024 px" in message
    assert memory.fits(memory.estimate_bytes(*size), tiny)
    with pytest.raises(OutOfMemory) as refused:
        _plan_size(cat, Settings.from_dict({"size": 1024, "on_oom": "refuse"}), cpu, 4)
    assert refused.value.suggested_size == max(size)
    assert "at most" in refused.value.message
    monkeypatch.undo()
    small_size, no_message = _plan_size(cat, Settings.from_dict({"size": 256}), cpu, 4)
    assert small_size == (256, 170) and no_message is None


def test_memory_estimate_grows_with_pixels_and_shrinks_with_half_precision():
    assert memory.estimate_bytes(1024, 768) > 3 * memory.estimate_bytes(512, 384)
    assert memory.estimate_bytes(1024, 768, dtype_bytes=2) < memory.estimate_bytes(1024, 768)
    assert memory.activation_elements(64, 64, "conv1_1") == 64 * 64 * 64


def test_channels_last_layout_gives_the_same_result(cache, cat, stain):
    """CUDA's default layout; L-BFGS must still see a contiguous image (it flattens with view())."""
    plain = api.stylize(cat, [stain], small(iterations=3, precision="fp32"), cache=cache)
    cl = api.stylize(cat, [stain], small(iterations=3, precision="fp32", channels_last=True), cache=cache)
    # Measured max abs difference on the CPU: 0.0 (kernels default/avx2/avx512, oneDNN capped alike; 1 and 2
    # threads); CUDA's layouts take other kernels, hence the room.
    np.testing.assert_allclose(plain.picture.rgb, cl.picture.rgb, atol=2e-3)


def test_bf16_network_with_fp32_costs_tracks_fp32(cache, cat, stain):
    fp32 = api.stylize(cat, [stain], small(iterations=4, precision="fp32"), cache=cache)
    bf16 = api.stylize(cat, [stain], small(iterations=4, precision="bf16"), cache=cache)
    # Measured (kernels default/avx2/avx512, oneDNN capped alike; 1 and 2 threads): mean abs 0.0053-0.0056,
    # style cost 0.28-0.91 % apart: bounds ~4x and ~5x that.
    assert np.abs(fp32.picture.rgb - bf16.picture.rgb).mean() < 0.02
    assert bf16.losses["style"] == pytest.approx(fp32.losses["style"], rel=0.05)


def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: True)
    assert device.resolve_precision(Settings(), cpu) == torch.bfloat16
    assert device.resolve_precision(Settings(precision="fp32"), cpu) == torch.float32
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: False)
    assert device.resolve_precision(Settings(), cpu) == torch.float32
    assert device.resolve_precision(Settings(precision="fp16"), cpu) == torch.float16


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory"),
                                   RuntimeError("cuDNN error: out of memory while allocating workspace")])
def test_running_out_of_memory_names_a_smaller_size(monkeypatch, cache, cat, stain, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(optimize, "run", fail)
    with pytest.raises(OutOfMemory) as raised:
        api.stylize(cat, [stain], small(size=640), cache=cache)
    assert raised.value.suggested_size == 448 and "try 448 px or less" in raised.value.message


def test_other_runtime_errors_are_not_called_out_of_memory(monkeypatch, cache, cat, stain):
    monkeypatch.setattr(optimize, "run", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        api.stylize(cat, [stain], small(), cache=cache)
