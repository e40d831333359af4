# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_plugin.py (full_size_results):
# a photo-sized layer (2048x1365) stylised NON-INTERACTIVELY at the default working resolution (0 = the
# layer's size). Its own GIMP start, so that its minutes of CPU work cannot time out the other cases.
# ruff: noqa: F821
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())


def fill_quickly(layer):
    """A gradient with a checker, as 8-bit RGBA built with byte slices (fill() is too slow for megapixels)."""
    w, h = layer.get_width(), layer.get_height()
    data = bytearray(w * h * 4)
    data[0::4] = bytes(x * 255 // (w - 1) for x in range(w)) * h
    data[1::4] = b"".join(bytes([y * 255 // (h - 1)]) * w for y in range(h))
    data[2::4] = b"".join(bytes(200 * ((x // 64 + y // 64) % 2) for x in range(w)) for y in range(h))
    data[3::4] = b"\xff" * (w * h)
    layer.get_buffer().set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A u8", bytes(data))
    layer.get_buffer().flush()
    layer.update(0, 0, w, h)


write_engine_json("ok")
img = Gimp.Image.new_with_precision(2048, 1365, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR)
layer = Gimp.Layer.new(img, "Photo", 2048, 1365, Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
img.insert_layer(layer, None, 0)
fill_quickly(layer)
run_case("full_size", img, layer, **{"style-file": P["style"], "quality": "standard", "max-size": 0, "seed": 3})
RESULTS["finished"] = True
save()
img.delete()
