# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_animation.py: makes small
# animations (a layer per frame, "Frame N (Tms)" names, one frame smaller than the canvas and moved), calls the
# animation procedure on them and writes what it observed as JSON to params["results"]; the assertions are in
# pytest. With params["gui"] it runs in GIMP's GUI and, between cases, waits for the test to press Ctrl+Z and
# to click the dialog and "Stop and keep" (flag files in the params' folder).
# ruff: noqa: F821
import os
import time

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

ANIM = "plug-in-nst-animation"
LEARNED_ANIM = "plug-in-nst-apply-learned-style-animation"
ANIM_PARASITE = "neural-style-transfer-animation"
W, H = 48, 36


def describe(name):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        return {"found": False}
    return {"found": True, "arguments": [a.get_name() for a in proc.get_arguments()],
            "menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths())}


def record_of(item):
    p = item.get_parasite(ANIM_PARASITE)
    return json.loads(bytes(b & 0xFF for b in p.get_data()).decode("ascii")) if p is not None else None


def tree(items):
    """Top first, as GIMP lists them: name, group or not, size, offsets, pixels (on the canvas) and children."""
    out = []
    for item in items:
        _ok, ox, oy = item.get_offsets()
        entry = {"name": item.get_name(), "group": bool(item.is_group()), "offsets": [ox, oy],
                 "size": [item.get_width(), item.get_height()], "record": record_of(item)}
        if item.is_group():
            entry["children"] = tree(item.get_children())
        else:
            entry["pixels"] = digest(pixels(item, "R'G'B'A float"))
            entry["alpha"] = digest(pixels(item, "A float"))
            data = floats(pixels(item, "R'G'B'A float"))
            entry["mean"] = [sum(data[c::4]) / (len(data) // 4) for c in range(4)]
        out.append(entry)
    return out


def animation(frames=4, group=None):
    """An image whose layers are frames (bottom first): a square moving right over a gradient; frame 3 is a
    smaller layer moved into the canvas (its own pixels, transparent around)."""
    img = Gimp.Image.new_with_precision(W, H, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR)
    parent = None
    if group:
        parent = Gimp.GroupLayer.new(img, group)
        img.insert_layer(parent, None, 0)
    for i in range(1, frames + 1):
        small = i == 3
        w, h = (24, 20) if small else (W, H)
        name = f"Frame {i} ({100 * i}ms)" + (" (combine)" if i == 2 else " (replace)")
        layer = Gimp.Layer.new(img, name, w, h, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
        img.insert_layer(layer, parent, 0)  # each on top: the first frame ends at the bottom
        fill(layer)
        if small:
            layer.set_offsets(10, 8)
    return img, parent


def call_anim(case, img, drawables, run_mode=None, proc_name=ANIM, **props):
    entry = RESULTS["cases"][case] = {}
    try:
        img.clean_all()
        entry["before"] = tree(img.get_layers())
        flag(f"calling-{case}")
        proc = Gimp.get_pdb().lookup_procedure(proc_name)
        cfg = proc.create_config()
        cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE if run_mode is None else run_mode)
        cfg.set_property("image", img)
        cfg.set_core_object_array("drawables", drawables)
        for name, value in props.items():
            cfg.set_property(name, Gio.File.new_for_path(value) if name.startswith("style-file") else value)
        started = time.monotonic()
        res = proc.run(cfg)
        message = res.index(1) if res.length() > 1 else None
        entry["call"] = {"status": res.index(0).value_nick, "seconds": time.monotonic() - started,
                         "message": message if isinstance(message, str) else repr(message)}
        entry["after"] = tree(img.get_layers())
        entry["dirty"] = bool(img.is_dirty())
    except Exception:  # noqa: BLE001
        entry["driver_error"] = traceback.format_exc()
    save()
    return entry


STYLE = {"style-file": P["style"], "quality": "draft", "max-size": 32, "seed": 1, "steadiness": 0.6, "long-term": 3}
try:
    RESULTS["procedures"] = {name: describe(name) for name in (ANIM, LEARNED_ANIM)}
    img, _ = animation()
    if P.get("gui"):
        Gimp.Display.new(img)
        Gimp.displays_flush()
    call_anim("all", img, [img.get_layers()[0]], **STYLE)
    if P.get("gui"):  # one Ctrl+Z must take the whole group away
        entry = RESULTS["cases"]["undo"] = {"before": tree(img.get_layers())}
        save()
        flag("undo-now")
        deadline = time.monotonic() + 120
        while len(img.get_layers()) == len(entry["before"]):
            if time.monotonic() > deadline:
                entry["driver_error"] = "the layer count did not change within 120 s of asking for Ctrl+Z"
                break
            time.sleep(0.2)
        time.sleep(1.0)
        entry["after"] = tree(img.get_layers())
        save()
        img.set_selected_layers([img.get_layers()[0]])
        call_anim("stop_keep", img, [img.get_layers()[0]], Gimp.RunMode.INTERACTIVE)
    grouped, group = animation(frames=3, group="Walk")
    call_anim("group", grouped, [group], **STYLE)
    again = call_anim("again", grouped, [group], **STYLE)  # the first result is not taken as a frame
    call_anim("learned_unknown", grouped, [group], proc_name=LEARNED_ANIM,
              **{"style-name": "no such style", "strength": 1.0, "steadiness": 1.0, "long-term": 0})
    single = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)
    only = Gimp.Layer.new(single, "Only", W, H, Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    single.insert_layer(only, None, 0)
    call_anim("too_few", single, [only], **STYLE)
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
RESULTS["finished"] = True
save()
flag("finished")
