# Runs INSIDE the real GIMP 3 GUI (python-fu-eval), started by tests/gimp/screenshots_animation.py: makes a
# four-frame animation of a photo panned to the right (a layer per frame, "Frame N (100ms)"), shows it, styles it
# NON-INTERACTIVELY with plug-in-nst-animation and flags "result-ready" for the screenshot of the Layers dock.
# ruff: noqa: F821
import json
import os

from gi.repository import Gimp, Gio

W = os.path.dirname(NST_PARAMS)
P = json.load(open(NST_PARAMS))


def flag(name, text=""):
    with open(os.path.join(W, name), "w") as fh:
        fh.write(text)


photo = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(P["photo"]))
source = photo.get_layers()[0]
width, height, step = P["width"], P["height"], P["step"]
img = Gimp.Image.new(width, height, Gimp.ImageBaseType.RGB)
for i in range(P["frames"]):  # each on top: the first frame at the bottom; the view pans right
    layer = Gimp.Layer.new_from_drawable(source, img)
    img.insert_layer(layer, None, 0)
    layer.set_name(f"Frame {i + 1} (100ms)")
    layer.set_offsets(-step * i, 0)
photo.delete()
Gimp.Display.new(img)
Gimp.displays_flush()
proc = Gimp.get_pdb().lookup_procedure("plug-in-nst-animation")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [img.get_layers()[0]])
cfg.set_property("style-file", Gio.File.new_for_path(P["style"]))
for name, value in P["args"].items():
    cfg.set_property(name, value)
res = proc.run(cfg)
img.set_selected_layers([img.get_layers()[0]])  # the new group: the Layers dock shows it, its frames below
img.clean_all()  # no "save?" question when the session ends
Gimp.displays_flush()
flag("result-ready", f"{res.index(0).value_nick} {res.index(1) if res.length() > 1 else ''}\n")
