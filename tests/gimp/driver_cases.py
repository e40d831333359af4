# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_plugin.py:
#   gimp-console-3.0 -i --batch-interpreter=python-fu-eval \
#       -b "NST_PARAMS='/tmp/nst-test-X/params.json'; exec(open('/tmp/nst-test-X/driver_cases.py').read())"
# It builds test images, calls plug-in-neural-style-transfer NON-INTERACTIVELY on each case and writes
# what it observed (layer stack, names, sizes, offsets, alpha, masks, pixel hashes, parasites, status,
# error messages) as JSON to params["results"]. The assertions are in pytest, not here.
# python-fu-eval's globals already hold Gimp, Gegl, GLib, Gio; NST_PARAMS is set by the -b command.
# ruff: noqa: F821
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

STYLE = P["style"]
BASE = {"style-file": STYLE, "max-size": 0, "quality": "draft", "seed": 3}

# --- 1. the procedure as the PDB lists it ---------------------------------------------------------
try:
    proc = Gimp.get_pdb().lookup_procedure(PROC)
    RESULTS["procedure"] = {
        "found": proc is not None,
        "arguments": [[a.get_name(), a.value_type.name] for a in proc.get_arguments()],
        "menu_label": proc.get_menu_label(),
        "menu_paths": list(proc.get_menu_paths()),
        "image_types": proc.get_image_types(),
        "sensitivity": int(proc.get_sensitivity_mask()),
        "sensitivity_drawable": int(Gimp.ProcedureSensitivityMask.DRAWABLE),
        "blurb": proc.get_blurb(),
        "help": proc.get_help(),
        "authors": proc.get_authors(),
        "copyright": proc.get_copyright(),
        "date": proc.get_date(),
    }
    cfg = proc.create_config()
    RESULTS["procedure"]["quality_choices"] = [
        n for n in ("draft", "standard", "high", "bogus")
        if Gimp.param_spec_choice_get_choice(cfg.find_property("quality")).is_valid(n)
    ]
    RESULTS["procedure"]["defaults"] = {
        name: (repr(cfg.get_property(name)) if name.startswith("style-file") else cfg.get_property(name))
        for name, _t in RESULTS["procedure"]["arguments"][3:]
    }
except Exception:  # noqa: BLE001
    RESULTS["procedure_error"] = traceback.format_exc()
save()
write_engine_json("ok")

# --- 2. RGB 8-bit image, RGBA layer with transparency and offsets, above a background ---------------
img, bg = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                    Gimp.ImageType.RGB_IMAGE)
sprite = Gimp.Layer.new(img, "Sprite", 40, 32, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
img.insert_layer(sprite, None, 0)
sprite.set_offsets(30, -5)  # sticks out of the canvas on the right and at the top
fill(sprite, alpha_pattern=True)
top = Gimp.Layer.new(img, "Top", 16, 16, Gimp.ImageType.RGBA_IMAGE, 50.0, Gimp.LayerMode.NORMAL)
img.insert_layer(top, None, 0)
fill(top)
run_case("rgba_offsets", img, sprite, **{**BASE, "style-file-2": P["style2"], "style-blend": 0.25,
                                         "style-strength": 2.0, "preserve-colors": True, "style-scale": 1.5})

# --- 3. 16-bit RGB, no alpha ------------------------------------------------------------------------
img16, layer16 = new_image(48, 40, Gimp.ImageBaseType.RGB, Gimp.Precision.U16_NON_LINEAR, "Photo 16",
                           Gimp.ImageType.RGB_IMAGE)
run_case("rgb16", img16, layer16, **{**BASE, "max-size": 32})  # worked at 32 px, result is 48x40

# --- 4. float linear RGB with alpha -----------------------------------------------------------------
imgf, layerf = new_image(40, 40, Gimp.ImageBaseType.RGB, Gimp.Precision.FLOAT_LINEAR, "Float",
                         Gimp.ImageType.RGBA_IMAGE)
run_case("rgbfloat", imgf, layerf, **BASE)

# --- 5. grayscale 8-bit without alpha, and 16-bit grayscale with alpha and offsets -------------------
imgg, layerg = new_image(48, 36, Gimp.ImageBaseType.GRAY, Gimp.Precision.U8_NON_LINEAR, "Gray",
                         Gimp.ImageType.GRAY_IMAGE)
run_case("gray", imgg, layerg, **BASE)
imgga = Gimp.Image.new_with_precision(50, 40, Gimp.ImageBaseType.GRAY, Gimp.Precision.U16_NON_LINEAR)
layerga = Gimp.Layer.new(imgga, "Gray alpha", 36, 32, Gimp.ImageType.GRAYA_IMAGE, 100.0,
                         Gimp.LayerMode.NORMAL)
imgga.insert_layer(layerga, None, 0)
layerga.set_offsets(7, 3)
fill(layerga, alpha_pattern=True)
run_case("gray_alpha16", imgga, layerga, **BASE)

# --- 6. a selection -> layer mask -----------------------------------------------------------------
imgs, layers_ = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                          Gimp.ImageType.RGB_IMAGE)
imgs.select_rectangle(Gimp.ChannelOps.REPLACE, 16, 12, 32, 24)
run_case("selection", imgs, layers_, **BASE)

# --- 7. failures: missing/corrupt style, unreachable engine, not installed, malformed engine.json ---
imge, layere = new_image(40, 32, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                         Gimp.ImageType.RGB_IMAGE)
run_case("missing_style", imge, layere, **{**BASE, "style-file": P["missing_style"]})
run_case("corrupt_style", imge, layere, **{**BASE, "style-file": P["corrupt_style"]})
write_engine_json("unreachable")
run_case("unreachable", imge, layere, **BASE)
write_engine_json("not_installed")
run_case("not_installed", imge, layere, **BASE)
with open(P["engine_json"], "w") as fh:  # a typo while editing url: the closing quote is missing
    fh.write(P["engine_json_malformed"])
run_case("malformed_config", imge, layere, **BASE)
write_engine_json("ok")

# --- 8. no URL configured: the plug-in starts the engine itself, reuses it, and via flatpak-spawn -----
imgx, layerx = new_image(40, 32, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                         Gimp.ImageType.RGB_IMAGE)
write_engine_json("self")
run_case("self_started", imgx, layerx, **BASE)
run_case("self_reused", imgx, layerx, **BASE)
write_engine_json("flatpak")
run_case("flatpak_started", imgx, layerx, **BASE)
write_engine_json("ok")

RESULTS["finished"] = True
save()
for image in Gimp.get_images():
    image.delete()
