# Runs INSIDE the real GIMP 3 GUI (gimp-3.0 under Xvfb, python-fu-eval), started by
# tests/test_gimp_settings.py, which presses the keys and buttons while this waits in proc.run():
#   first     a non-interactive run: the result layer above "Photo"
#   rerun     INTERACTIVE on the result (painted white, opacity 40, a mask): the test accepts "Update in place"
#             (Return), then OK in the procedure dialog; the result must be updated in place
#   undo      the test presses Ctrl+Z once; the result's pixels must be those before the re-run
# ruff: noqa: F821
import os
import time

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

try:
    img, photo = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Photo",
                           Gimp.ImageType.RGB_IMAGE)
    Gimp.Display.new(img)
    Gimp.displays_flush()
    run_case("first", img, photo, **{"style-file": P["style"], "max-size": 0, "quality": "draft", "seed": 1})
    result = img.get_layers()[0]
    result.fill(Gimp.FillType.WHITE)  # painted over since: the re-run must bring the stylised pixels back
    result.set_opacity(40.0)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 8, 8, 16, 12)
    result.add_mask(result.create_mask(Gimp.AddMaskType.SELECTION))
    Gimp.Selection.none(img)
    img.set_selected_layers([result])
    Gimp.displays_flush()
    run_case("rerun", img, result, Gimp.RunMode.INTERACTIVE)
    entry = RESULTS["cases"]["undo"] = {"before": image_state(img)}
    save()
    flag("undo-now")
    # Wait for the undo itself, then for two reads in a row to agree (not a fixed sleep): GIMP applies an
    # undo group between two PDB calls, so the first change seen is normally the whole of it.
    deadline = time.monotonic() + 120
    seen = [entry["before"]["layers"]]
    while seen[-1] == entry["before"]["layers"] or (len(seen) > 1 and seen[-1] != seen[-2]):
        if time.monotonic() > deadline:
            entry["driver_error"] = "the image did not change (or kept changing) within 120 s of asking for Ctrl+Z"
            break
        time.sleep(0.2)
        seen = [seen[-1], image_state(img)["layers"]]
    entry["after"] = image_state(img)
    save()
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
RESULTS["finished"] = True
save()
flag("finished")
