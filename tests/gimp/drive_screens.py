# Runs INSIDE the real GIMP 3 GUI (gimp-3.0 under Xvfb, python-fu-eval), started by screenshots.sh.
# 1. opens a photo in a display and stylises it NON-INTERACTIVELY (this also stores the values that
#    the dialog then offers), 2. calls the procedure INTERACTIVELY on the photo's layer, so that the
#    procedure dialog (and after OK, the progress window) appear for screenshots.sh to capture.
# NST_PARAMS is set by the -b command: params.json in the folder (inside the chroot) with photo, style
# and the flag files that tell screenshots.sh what is on screen.
# ruff: noqa: F821
import json
import os

from gi.repository import Gimp, Gio

W = os.path.dirname(NST_PARAMS)
P = json.load(open(NST_PARAMS))


def flag(name):
    open(os.path.join(W, name), "w").close()


img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(P["photo"]))
layer = img.get_layers()[0]
layer.set_name("Chelsea")
Gimp.Display.new(img)
Gimp.displays_flush()

proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style-transfer")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [layer])
cfg.set_property("style-file", Gio.File.new_for_path(P["style"]))
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
with open(os.path.join(W, "second-run.txt"), "w") as fh:
    fh.write(f"{res.index(0).value_nick} {res.index(1) if res.length() > 1 else ''}\n")
Gimp.displays_flush()
flag("interactive-done")
