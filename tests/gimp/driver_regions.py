# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_regions.py (issue 20): a style taken
# from a layer of another open image, a selection and a channel driving regions. As driver_cases.py, it calls
# plug-in-neural-style-transfer NON-INTERACTIVELY and writes what it saw as JSON; pytest asserts on it.
# ruff: noqa: F821
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

BASE = {"max-size": 0, "quality": "draft", "seed": 3, "style-strength": 5.0}
RESULTS["arguments"] = [[a.get_name(), a.value_type.name]
                        for a in Gimp.get_pdb().lookup_procedure(PROC).get_arguments()]


def new_result(entry):
    """The pixels (float RGBA) of the layer the run added, and whether it has a mask."""
    img = entry.pop("_image")
    names_before = [layer["name"] for layer in entry["before"]["layers"]]
    new = [layer for layer in img.get_layers() if layer.get_name() not in names_before]
    if len(new) == 1:
        entry["new_floats"] = floats(pixels(new[0], "R'G'B'A float"))
        entry["new_has_mask"] = new[0].get_mask() is not None


def case(name, img, layer, **props):
    entry = run_case(name, img, layer, **{**BASE, **props})
    entry["_image"] = img
    try:
        entry["source_floats"] = floats(pixels(layer, "R'G'B'A float"))
        new_result(entry)
    except Exception:  # noqa: BLE001
        entry["driver_error"] = traceback.format_exc()
    save()
    return entry


# --- 1. a layer of another open image as the style (16-bit, with alpha) ---------------------------
paint, paint_layer = new_image(48, 40, Gimp.ImageBaseType.RGB, Gimp.Precision.U16_NON_LINEAR, "Brushes",
                               Gimp.ImageType.RGB_IMAGE)
paint_layer.add_alpha()
# A gradient in 16 bits (steps of 1/4099, which 8 bits cannot hold), alpha from 0.25 to 1 (never 0: GIMP's PNG
# export drops the colour of fully transparent pixels by default).
vals = []
for y in range(40):
    for x in range(48):
        vals += [(x * 40 + y) / 4099.0, ((x * 7 + y * 13) % 17) / 16.0 + 1.0 / 4099.0, y / 39.0,
                 0.25 + ((x + y) % 4) / 4.0]
paint_layer.get_buffer().set(Gegl.Rectangle.new(0, 0, 48, 40), "R'G'B'A float", struct.pack(f"{len(vals)}f", *vals))
paint_layer.get_buffer().flush()
exported = os.path.join(os.path.dirname(NST_PARAMS), "brushes.png")  # the same pixels as a file
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, paint, Gio.File.new_for_path(exported), None)
RESULTS["exported"] = os.path.isfile(exported)
img, layer = new_image(40, 32, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Photo",
                       Gimp.ImageType.RGB_IMAGE)
case("style_file", img, layer, **{"style-file": exported})
case("style_layer", img, layer, **{"style-file": None, "style-layer": paint_layer})
case("style_other", img, layer, **{"style-file": P["style"]})
case("style_layer_and_file", img, layer, **{"style-file": P["style"], "style-layer": paint_layer})
case("no_style", img, layer, **{"style-file": None, "style-layer": None})

# --- 2. a selection drives two regions ----------------------------------------------------------
imgs, layers_ = new_image(128, 64, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Scene",
                          Gimp.ImageType.RGB_IMAGE)
case("whole_1", imgs, layers_, **{"style-file": P["style"]})
case("whole_2", imgs, layers_, **{"style-file": P["style2"]})
case("no_selection", imgs, layers_, **{"style-file": P["style"], "where": "selection"})
imgs.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 64, 64)  # the left half
case("selection_photo", imgs, layers_, **{"style-file": P["style"], "where": "selection", "outside": "photo"})
case("selection_two", imgs, layers_, **{"style-file": P["style"], "style-file-2": P["style2"],
                                         "where": "selection", "outside": "second-style"})
case("selection_no_second", imgs, layers_, **{"style-file": P["style"], "where": "selection",
                                               "outside": "second-style"})

# --- 3. a saved channel drives a region, under an offset layer smaller than the image -------------
imgc = Gimp.Image.new_with_precision(160, 96, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR)
small = Gimp.Layer.new(imgc, "Small", 128, 64, Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
imgc.insert_layer(small, None, 0)
small.set_offsets(32, 16)
fill(small)
imgc.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 96, 96)  # image x < 96: the layer's x < 64
sky = Gimp.Selection.save(imgc)
sky.set_name("Sky")
Gimp.Selection.none(imgc)
RESULTS["channels"] = [c.get_name() for c in imgc.get_channels()]
case("channel_photo", imgc, small, **{"style-file": P["style"], "where": "channels", "channel-styles": "Sky=1",
                                       "outside": "photo"})
case("channel_missing", imgc, small, **{"style-file": P["style"], "where": "channels",
                                         "channel-styles": "Sea=1"})

RESULTS["finished"] = True
save()
for image in Gimp.get_images():
    image.delete()
