# Runs INSIDE the real GIMP 3 GUI (python-fu-eval), started by screenshots_regions.py (issue 20): opens a photo
# and a painting (the style, as an open image), selects an ellipse (feathered) on the photo, stylises it once
# NON-INTERACTIVELY inside the selection with the painting's layer as the style (the dialog then starts from
# these settings, stored on the result), then opens the dialog INTERACTIVELY for the screenshot.
# ruff: noqa: F821
import json
import os

from gi.repository import Gimp, Gio

W = os.path.dirname(NST_PARAMS)
P = json.load(open(NST_PARAMS))


def flag(name):
    open(os.path.join(W, name), "w").close()


painting = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(P["style"]))
painting.get_layers()[0].set_name("Painting")
Gimp.Display.new(painting)
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(P["photo"]))
layer = img.get_layers()[0]
layer.set_name("Chelsea")
img.select_ellipse(Gimp.ChannelOps.REPLACE, 150, 20, 240, 250)
Gimp.Selection.feather(img, 24)
Gimp.Selection.save(img).set_name("Cat")
Gimp.Display.new(img)
Gimp.displays_flush()

proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style-transfer")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [layer])
cfg.set_property("style-layer", painting.get_layers()[0])
for name, value in P["args"].items():
    cfg.set_property(name, value)
res = proc.run(cfg)
with open(os.path.join(W, "first-run.txt"), "w") as fh:
    fh.write(f"{res.index(0).value_nick} {res.index(1) if res.length() > 1 else ''}\n")
Gimp.displays_flush()
flag("result-ready")

img.set_selected_layers([layer])
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [layer])
res = proc.run(cfg)
flag("interactive-done")
