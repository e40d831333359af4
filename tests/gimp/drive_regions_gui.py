# Runs INSIDE the real GIMP 3 GUI (under Xvfb, python-fu-eval), started by tests/test_gimp_regions.py (issue 20),
# which looks at the dialog and presses its keys while this waits in proc.run():
#   first   a non-interactive run inside the selection (the photo outside): its result records the regions
#   dialog  INTERACTIVE on the photo: the dialog starts from that record ("Inside the selection", the regions
#           drawn over the preview); the test presses OK
#   undo    the test presses Ctrl+Z once: the image must be as before the interactive run (one undo step)
#   layer_kept  after a run with a layer of another image as the style: the dialog offers that layer again
#               (the test reads what it shows and presses Escape)
#   layer_gone  the same once that image is closed: the dialog says so plainly (Escape again)
# ruff: noqa: F821
import os
import time

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

try:
    img, photo = new_image(128, 64, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Photo",
                           Gimp.ImageType.RGB_IMAGE)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 64, 64)
    Gimp.Display.new(img)
    Gimp.displays_flush()
    run_case("first", img, photo, **{"style-file": P["style"], "where": "selection", "outside": "photo",
                                     "quality": "draft", "seed": 1})
    img.set_selected_layers([photo])
    run_case("dialog", img, photo, Gimp.RunMode.INTERACTIVE)
    entry = RESULTS["cases"]["undo"] = {"before": image_state(img)}
    save()
    flag("undo-now")
    deadline = time.monotonic() + 120  # until the undo shows and two reads agree (as drive_rerun_gui.py)
    seen = [entry["before"]["layers"]]
    while seen[-1] == entry["before"]["layers"] or (len(seen) > 1 and seen[-1] != seen[-2]):
        if time.monotonic() > deadline:
            entry["driver_error"] = "the image did not change (or kept changing) within 120 s of asking for Ctrl+Z"
            break
        time.sleep(0.2)
        seen = [seen[-1], image_state(img)["layers"]]
    entry["after"] = image_state(img)
    save()
    painting, brushes = new_image(48, 40, Gimp.ImageBaseType.RGB, Gimp.Precision.U16_NON_LINEAR, "Painting",
                                  Gimp.ImageType.RGB_IMAGE)
    Gimp.Selection.none(img)
    run_case("with_layer", img, photo, **{"style-file": None, "style-layer": brushes, "where": "whole",
                                          "quality": "draft", "seed": 1})
    img.set_selected_layers([photo])
    run_case("layer_kept", img, photo, Gimp.RunMode.INTERACTIVE)
    painting.delete()
    run_case("layer_gone", img, photo, Gimp.RunMode.INTERACTIVE)
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
RESULTS["finished"] = True
save()
flag("finished")
