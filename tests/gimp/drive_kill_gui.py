# Runs INSIDE the real GIMP 3 GUI (under Xvfb, python-fu-eval), started by tests/test_gimp_kill.py, which
# clicks and kills while this waits in proc.run():
#   first    a non-interactive run on "Photo" (stopped early by the test): its result layer carries the
#            values that the dialog then offers
#   killed   INTERACTIVE on "Photo": the test clicks OK and, once the job shows progress, kills the engine
#            with SIGKILL; the run must fail with a plain message and leave the image as it was
#   repeat   once the test has started a new engine: RUN_WITH_LAST_VALS (Filters > Repeat), which must
#            run with the killed run's values (the test stops it early once it shows progress)
# ruff: noqa: F821
import os
import time

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())


def wait_flag(name, timeout=300):
    path = os.path.join(os.path.dirname(NST_PARAMS), name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the test did not write {name} within {timeout} s")
        time.sleep(0.2)


try:
    img, photo = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Photo",
                           Gimp.ImageType.RGB_IMAGE)
    top = Gimp.Layer.new(img, "Sketch", 24, 20, Gimp.ImageType.RGBA_IMAGE, 70.0, Gimp.LayerMode.NORMAL)
    img.insert_layer(top, None, 0)
    top.set_offsets(5, 9)
    fill(top, alpha_pattern=True)
    Gimp.Display.new(img)
    Gimp.displays_flush()
    run_case("first", img, photo, **{"style-file": P["style"], "max-size": 0, "quality": "draft", "seed": 7,
                                     "style-strength": 3.0})
    img.set_selected_layers([photo])
    Gimp.displays_flush()
    entry = run_case("killed", img, photo, Gimp.RunMode.INTERACTIVE)
    entry["undo_enabled"] = bool(img.undo_is_enabled())
    save()
    flag("restart-engine")
    wait_flag("engine-restarted")
    run_case("repeat", img, photo, Gimp.RunMode.WITH_LAST_VALS)
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
RESULTS["finished"] = True
save()
flag("finished")
