# Runs INSIDE the real GIMP 3 GUI (gimp-3.0 under Xvfb, python-fu-eval), started by
# tests/gimp/screenshots_engine.py: 1. opens a photo with a transparent hole in a display and stylises it
# NON-INTERACTIVELY (the dialog then offers these values), 2. calls the filter INTERACTIVELY (the harness
# clicks OK and photographs the progress window), 3. opens the settings procedure INTERACTIVELY (the
# harness photographs it and presses Escape). Flag files tell the harness what is on screen.
# ruff: noqa: F821
import json
import os

from gi.repository import Gimp, Gio

W = os.path.dirname(NST_PARAMS)
P = json.load(open(NST_PARAMS))


def flag(name, text=""):
    with open(os.path.join(W, name), "w") as fh:
        fh.write(text)


def call(proc_name, run_mode, img=None, layer=None, **props):
    proc = Gimp.get_pdb().lookup_procedure(proc_name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", run_mode)
    if img is not None:
        cfg.set_property("image", img)
        cfg.set_core_object_array("drawables", [layer])
    for name, value in props.items():
        cfg.set_property(name, Gio.File.new_for_path(value) if name == "style-file" else value)
    res = proc.run(cfg)
    return f"{res.index(0).value_nick} {res.index(1) if res.length() > 1 else ''}"


img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(P["photo"]))
layer = img.get_layers()[0]
layer.set_name("Chelsea")
layer.add_alpha()
w, h = layer.get_width(), layer.get_height()
img.select_ellipse(Gimp.ChannelOps.REPLACE, w * 0.62, h * 0.08, w * 0.34, h * 0.42)
layer.edit_clear()  # a transparent hole: the progress window shows GIMP's checkerboard there
Gimp.Selection.none(img)
Gimp.Display.new(img)
Gimp.displays_flush()
flag("first-run.txt", call("plug-in-neural-style-transfer", Gimp.RunMode.NONINTERACTIVE, img, layer,
                           **{"style-file": P["style"], **P["args"]}))
img.set_selected_layers([layer])
Gimp.displays_flush()
flag("result-ready")
flag("second-run.txt", call("plug-in-neural-style-transfer", Gimp.RunMode.INTERACTIVE, img, layer))
flag("interactive-done")
flag("settings-run.txt", call("plug-in-neural-style-transfer-settings", Gimp.RunMode.INTERACTIVE))
flag("finished")
