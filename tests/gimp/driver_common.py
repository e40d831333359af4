# Helpers shared by the drivers that run INSIDE the real GIMP 3 (python-fu-eval): executed by them with
# exec(), so it sees NST_PARAMS and python-fu-eval's globals. Reports go to params["results"] as JSON.
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


def call(img, layer, run_mode=None, **props):
    proc = Gimp.get_pdb().lookup_procedure(PROC)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE if run_mode is None else run_mode)
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


def flag(name):
    open(os.path.join(os.path.dirname(NST_PARAMS), name), "w").close()


def run_case(name, img, layer, run_mode=None, **props):
    """Snapshot the image, clean its dirty flag, call the procedure, snapshot again."""
    entry = RESULTS["cases"][name] = {}
    try:
        img.clean_all()
        entry["source_index"] = img.get_item_position(layer)
        entry["source_name"] = layer.get_name()
        entry["before"] = image_state(img)
        flag(f"calling-{name}")
        entry["call"] = call(img, layer, run_mode, **props)
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


