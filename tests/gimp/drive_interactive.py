# Runs INSIDE the real GIMP 3 GUI (gimp-3.0 under Xvfb, python-fu-eval), started by
# tests/test_gimp_plugin.py, which clicks the dialogs with xdotool while this waits in proc.run():
#   no_style     INTERACTIVE on a fresh image, before any run stored values: no style is chosen, so OK is
#                off with a hint; the test clicks OK (nothing happens), then Escape
#   scratch      a non-interactive run on the same layer (its result layer carries the settings that
#                the dialog then offers)
#   dialog       INTERACTIVE: the test looks at the plug-in's dialog (thumbnail, recent styles, estimate),
#                clicks Preview, then a recent style, then closes the dialog with Escape (a cancel)
#   cancel       INTERACTIVE: OK in the procedure dialog, then Cancel in the progress window
#   stop_keep    INTERACTIVE: OK, then "Stop and keep" in the progress window
#   undo         after stop_keep: the test presses Ctrl+Z once in the image window; this waits until the
#                layer count changes (or 120 s pass) and records the image
#   repeat       RUN_WITH_LAST_VALS ("Repeat last filter"): GIMP supplies the values of the last
#                interactive run (it stores them only for interactive runs)
# ruff: noqa: F821
import os
import time

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

try:
    blank, blank_layer = new_image(40, 32, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Blank",
                                   Gimp.ImageType.RGB_IMAGE)
    run_case("no_style", blank, blank_layer, Gimp.RunMode.INTERACTIVE)
    img, layer = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                           Gimp.ImageType.RGB_IMAGE)
    Gimp.Display.new(img)
    Gimp.displays_flush()
    run_case("scratch", img, layer, **{"style-file": P["style"], "max-size": 0, "quality": "draft", "seed": 1})
    img.set_selected_layers([layer])
    run_case("dialog", img, layer, Gimp.RunMode.INTERACTIVE)
    run_case("cancel", img, layer, Gimp.RunMode.INTERACTIVE)
    run_case("stop_keep", img, layer, Gimp.RunMode.INTERACTIVE)
    entry = RESULTS["cases"]["undo"] = {"before": image_state(img)}
    save()
    flag("undo-now")
    deadline = time.monotonic() + 120
    while len(img.get_layers()) == len(entry["before"]["layers"]):
        if time.monotonic() > deadline:
            entry["driver_error"] = "the layer count did not change within 120 s of asking for Ctrl+Z"
            break
        time.sleep(0.2)
    entry["after"] = image_state(img)
    save()
    run_case("repeat", img, layer, Gimp.RunMode.WITH_LAST_VALS)
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
RESULTS["finished"] = True
save()
flag("finished")
