# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_plugin_copy.py on a profile
# whose plug-ins/ holds a plain copy of gimp_plugin/neural_style_transfer (no installer, no engine.json).
# 1. Each procedure as the PDB lists it. 2. Complete copy: point it at the test engine with the settings
# procedure (as an artist would in its window), then stylise a layer. Incomplete copy: run each procedure.
# Writes what it saw as JSON to params["results"]; the assertions are in pytest.
# ruff: noqa: F821
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())


def describe(name):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        return {"found": False}
    return {"found": True, "menu_label": proc.get_menu_label(), "menu_paths": list(proc.get_menu_paths()),
            "sensitivity": int(proc.get_sensitivity_mask()), "image_types": proc.get_image_types(),
            "takes_image": "image" in [a.get_name() for a in proc.get_arguments()]}


def run_bare(name, img, layer, **props):
    """Call `name` non-interactively with only what every variant of it takes (and `props`)."""
    proc = Gimp.get_pdb().lookup_procedure(name)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    if "image" in [a.get_name() for a in proc.get_arguments()]:
        cfg.set_property("image", img)
        cfg.set_core_object_array("drawables", [layer])
    for key, value in props.items():
        cfg.set_property(key, Gio.File.new_for_path(value) if key.startswith("style-file") else value)
    res = proc.run(cfg)
    message = res.index(1) if res.length() > 1 else None
    return {"status": res.index(0).value_nick, "message": message if isinstance(message, str) else repr(message)}


try:
    RESULTS["procedures"] = {name: describe(name) for name in P["procedures"]}
    save()
    img, layer = new_image(32, 24, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "photo",
                           Gimp.ImageType.RGB_IMAGE)
    if P["complete"]:
        RESULTS["connect"] = run_bare(P["procedures"][1], None, None, action="use-remote",
                                      url=P["engine_url"], token=P["engine_token"])
        save()
        run_case("stylise", img, layer, **{"style-file": P["style"], "max-size": 0, "quality": "draft"})
    else:
        for name in P["procedures"]:
            RESULTS["cases"][name] = run_bare(name, img, layer)
            save()
    RESULTS["finished"] = True
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()
save()
