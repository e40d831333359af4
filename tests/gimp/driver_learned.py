# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_learned.py, like driver_cases.py:
# lists the learned-style procedures as the PDB sees them, learns a style through plug-in-nst-learn-style
# (a few steps), then applies it with plug-in-nst-apply-learned-style to a few layers, all NON-INTERACTIVELY,
# and writes what it observed as JSON to params["results"]. The assertions are in pytest.
# ruff: noqa: F821
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

APPLY = "plug-in-nst-apply-learned-style"
LEARN = "plug-in-nst-learn-style"
PROC = APPLY  # driver_common's run_case() calls PROC


def describe(name):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        return {"found": False}
    return {"found": True, "arguments": [[a.get_name(), a.value_type.name] for a in proc.get_arguments()],
            "menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths()),
            "image_types": proc.get_image_types(), "blurb": proc.get_blurb()}


try:
    RESULTS["procedures"] = {name: describe(name) for name in (APPLY, LEARN)}
except Exception:  # noqa: BLE001
    RESULTS["procedures_error"] = traceback.format_exc()
save()


def learn(case, **props):
    entry = RESULTS["cases"][case] = {}
    try:
        img = Gimp.Image.new(32, 32, Gimp.ImageBaseType.RGB)
        proc = Gimp.get_pdb().lookup_procedure(LEARN)
        cfg = proc.create_config()
        cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
        cfg.set_property("image", img)
        for name, value in props.items():
            if name in ("style-file", "photos-folder"):
                value = Gio.File.new_for_path(value)
            cfg.set_property(name, value)
        res = proc.run(cfg)
        message = res.index(1) if res.length() > 1 else None
        entry["call"] = {"status": res.index(0).value_nick,
                         "message": message if isinstance(message, str) else repr(message)}
        img.delete()
    except Exception:  # noqa: BLE001
        entry["driver_error"] = traceback.format_exc()
    save()


LEARNED = {"style-file": P["style"], "photos-folder": P["photos"], "steps": 3, "training-size": 64}
learn("learn", **LEARNED, **{"style-name": P["style_name"]})
learn("learn_too_few", **{**LEARNED, "photos-folder": P["few_photos"]}, **{"style-name": "few"})

# An RGBA layer with transparency and offsets between two others.
img, bg = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                    Gimp.ImageType.RGB_IMAGE)
sprite = Gimp.Layer.new(img, "Sprite", 40, 32, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
img.insert_layer(sprite, None, 0)
sprite.set_offsets(30, -5)
fill(sprite, alpha_pattern=True)
top = Gimp.Layer.new(img, "Top", 16, 16, Gimp.ImageType.RGBA_IMAGE, 50.0, Gimp.LayerMode.NORMAL)
img.insert_layer(top, None, 0)
fill(top)
run_case("rgba_offsets", img, sprite, **{"style-name": P["style_name"], "strength": 0.8})
# The same source again: the new result goes on top of the first, not under it (issue 23, point 5).
run_case("rgba_offsets_again", img, sprite, **{"style-name": P["style_name"], "strength": 0.5})

# A 16-bit layer larger than the training crops, with a selection: full size, a mask.
img16, layer16 = new_image(300, 200, Gimp.ImageBaseType.RGB, Gimp.Precision.U16_NON_LINEAR, "Photo 16",
                           Gimp.ImageType.RGB_IMAGE)
img16.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 50, 100, 100)  # holds the centre
run_case("rgb16_selection", img16, layer16, **{"style-name": P["style_name"], "strength": 1.0})

# A style the engine does not have: an error, the image unchanged.
run_case("unknown_style", img16, layer16, **{"style-name": "no such style", "strength": 1.0})

RESULTS["finished"] = True
save()
for image in Gimp.get_images():
    image.delete()
