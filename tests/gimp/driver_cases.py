# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_plugin.py:
#   gimp-console-3.0 -i --batch-interpreter=python-fu-eval \
#       -b "NST_PARAMS='/tmp/nst-test-X/params.json'; exec(open('/tmp/nst-test-X/driver_cases.py').read())"
# It builds test images, calls plug-in-neural-style-transfer NON-INTERACTIVELY on each case and writes
# what it observed (layer stack, names, sizes, offsets, alpha, masks, pixel hashes, parasites, status,
# error messages) as JSON to params["results"]. The assertions are in pytest, not here.
# python-fu-eval's globals already hold Gimp, Gegl, GLib, Gio; NST_PARAMS is set by the -b command.
# ruff: noqa: F821
import hashlib
import json
import os
import struct
import traceback

from gi.repository import Gegl, Gimp, Gio

P = json.load(open(NST_PARAMS))
PROC = "plug-in-neural-style-transfer"
PARASITE = "neural-style-transfer-settings"
RESULTS = {"cases": {}}


def save():
    with open(P["results"] + ".tmp", "w") as fh:
        json.dump(RESULTS, fh, indent=1, sort_keys=True)
    os.replace(P["results"] + ".tmp", P["results"])


def pixels(drawable, fmt):
    w, h = drawable.get_width(), drawable.get_height()
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, fmt, Gegl.AbyssPolicy.CLAMP))


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def floats(data):
    return list(struct.unpack(f"{len(data) // 4}f", data))


def fill(layer, alpha_pattern=False, bits=8):
    """A deterministic gradient; with alpha_pattern, alpha varies from 0 to 1 across the layer."""
    w, h = layer.get_width(), layer.get_height()
    vals = []
    for y in range(h):
        for x in range(w):
            r = (x + 0.5) / w
            g = (y + 0.5) / h
            b = ((x * 7 + y * 13) % 17) / 16.0 + 1.0 / 4099.0  # not representable in 8 bits
            a = ((x + y) % 5) / 4.0 if alpha_pattern else 1.0
            vals += [r, g, min(b, 1.0), a]
    data = struct.pack(f"{len(vals)}f", *vals)
    layer.get_buffer().set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A float", data)
    layer.get_buffer().flush()
    layer.update(0, 0, w, h)


def parasite_record(item):
    p = item.get_parasite(PARASITE)
    if p is None:
        return None
    data = bytes(b & 0xFF for b in p.get_data())
    try:
        return json.loads(data.decode("ascii"))
    except Exception as exc:  # noqa: BLE001
        return {"undecodable": repr(exc), "raw": data[:200].decode("latin-1")}


def layer_info(layer):
    _ok, ox, oy = layer.get_offsets()
    mask = layer.get_mask()
    info = {
        "name": layer.get_name(),
        "offsets": [ox, oy],
        "size": [layer.get_width(), layer.get_height()],
        "has_alpha": bool(layer.has_alpha()),
        "is_gray": bool(layer.is_gray()),
        "is_rgb": bool(layer.is_rgb()),
        "visible": bool(layer.get_visible()),
        "opacity": layer.get_opacity(),
        "pixels": digest(pixels(layer, "R'G'B'A float")),
        "alpha": digest(pixels(layer, "A float")),
        "alpha_min_max": None,
        "mask": None,
        "parasite": parasite_record(layer),
    }
    a = floats(pixels(layer, "A float"))
    info["alpha_min_max"] = [min(a), max(a)]
    if mask is not None:
        m = floats(pixels(mask, "Y float"))
        w = mask.get_width()
        info["mask"] = {"size": [mask.get_width(), mask.get_height()],
                        "digest": digest(pixels(mask, "Y float")),
                        "corner": m[0], "center": m[(mask.get_height() // 2) * w + w // 2]}
    return info


def image_state(img):
    ok, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(img)
    return {
        "size": [img.get_width(), img.get_height()],
        "precision": img.get_precision().value_nick,
        "base_type": img.get_base_type().value_nick,
        "dirty": bool(img.is_dirty()),
        "selection": [bool(non_empty), x1, y1, x2, y2],
        "selection_digest": digest(pixels(img.get_selection(), "Y float")),
        "layers": [layer_info(layer) for layer in img.get_layers()],
    }


def call(img, layer, **props):
    proc = Gimp.get_pdb().lookup_procedure(PROC)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [layer] if layer is not None else [])
    for name, value in props.items():
        if name.startswith("style-file"):
            value = Gio.File.new_for_path(value) if value else None
        cfg.set_property(name, value)
    res = proc.run(cfg)
    status = res.index(0)
    message = res.index(1) if res.length() > 1 else None
    return {"status": status.value_nick, "message": message if isinstance(message, str) else repr(message)}


def run_case(name, img, layer, **props):
    """Snapshot the image, clean its dirty flag, call the procedure, snapshot again."""
    entry = RESULTS["cases"][name] = {}
    try:
        img.clean_all()
        entry["source_index"] = img.get_item_position(layer)
        entry["source_name"] = layer.get_name()
        entry["before"] = image_state(img)
        entry["call"] = call(img, layer, **props)
        entry["after"] = image_state(img)
    except Exception:  # noqa: BLE001
        entry["driver_error"] = traceback.format_exc()
    save()
    return entry


def new_image(w, h, base, precision, name, layer_type):
    img = Gimp.Image.new_with_precision(w, h, base, precision)
    layer = Gimp.Layer.new(img, name, w, h, layer_type, 100.0, Gimp.LayerMode.NORMAL)
    img.insert_layer(layer, None, 0)
    fill(layer)
    return img, layer


def write_engine_json(variant):
    with open(P["engine_json"], "w") as fh:
        json.dump(P["engine_json_variants"][variant], fh)


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

# --- 7. failures: missing file, corrupt file, unreachable engine, engine not installed --------------
imge, layere = new_image(40, 32, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                         Gimp.ImageType.RGB_IMAGE)
run_case("missing_style", imge, layere, **{**BASE, "style-file": P["missing_style"]})
run_case("corrupt_style", imge, layere, **{**BASE, "style-file": P["corrupt_style"]})
write_engine_json("unreachable")
run_case("unreachable", imge, layere, **BASE)
write_engine_json("not_installed")
run_case("not_installed", imge, layere, **BASE)
write_engine_json("ok")

RESULTS["finished"] = True
save()
for image in Gimp.get_images():
    image.delete()
