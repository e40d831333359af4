# Runs INSIDE the real GIMP 3 GUI (gimp-3.0 under Xvfb, python-fu-eval), started by tests/test_gimp_learn_dialog.py,
# which looks at and clicks the windows with xdotool while this waits in proc.run():
#   dialog       plug-in-nst-learn-style INTERACTIVELY on a fresh profile: the Learn window offers the style
#                painted with last (the recent styles); the test reads it (thumbnail, explanations, estimate),
#                types a folder's path, 3 steps and 64 px into it, clicks OK; learning runs in its window,
#                then the information message, which the test closes with Return
#   failed_ok    the main filter INTERACTIVELY with engine.json naming a closed port: the test picks the recent
#                style and clicks OK; the run fails after OK, so GIMP keeps no values
#   after        engine.json as it was; the main filter INTERACTIVELY again: the dialog offers the style picked
#                for the failed run; the test reads it and clicks OK; the progress window runs to the end
# ruff: noqa: F821
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

LEARN = "plug-in-nst-learn-style"


def learn(case, run_mode, **props):
    entry = RESULTS["cases"][case] = {}
    try:
        img = Gimp.Image.new(32, 32, Gimp.ImageBaseType.RGB)
        proc = Gimp.get_pdb().lookup_procedure(LEARN)
        cfg = proc.create_config()
        cfg.set_property("run-mode", run_mode)
        cfg.set_property("image", img)
        for name, value in props.items():
            if name in ("style-file", "photos-folder"):
                value = Gio.File.new_for_path(value)
            cfg.set_property(name, value)
        flag(f"calling-{case}")
        res = proc.run(cfg)
        message = res.index(1) if res.length() > 1 else None
        entry["call"] = {"status": res.index(0).value_nick,
                         "message": message if isinstance(message, str) else repr(message)}
        img.delete()
    except Exception:  # noqa: BLE001
        entry["driver_error"] = traceback.format_exc()
    save()


try:
    learn("dialog", Gimp.RunMode.INTERACTIVE)
    img, layer = new_image(64, 48, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Background",
                           Gimp.ImageType.RGB_IMAGE)
    write_engine_json("closed")
    run_case("failed_ok", img, layer, Gimp.RunMode.INTERACTIVE)
    write_engine_json("ok")
    run_case("after", img, layer, Gimp.RunMode.INTERACTIVE)
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
RESULTS["finished"] = True
save()
flag("finished")
