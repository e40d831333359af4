# Runs INSIDE the real GIMP 3 (python-fu-eval), started by tests/test_gimp_settings.py:
# 1. the settings procedure as the PDB lists it; 2. run NON-INTERACTIVELY: `status` with a closed engine
# port configured (must fail with a plain message), `use-remote` to the test engine, `status` again;
# 3. a non-destructive re-run: stylise a layer, change the result's stack position, mask, opacity, mode
# and visibility, then run the filter on the result with another strength: it must be updated in place.
# Writes what it saw as JSON to params["results"]; the assertions are in pytest.
# ruff: noqa: F821
import json
import os

exec(open(os.path.join(os.path.dirname(NST_PARAMS), "driver_common.py")).read())

SETTINGS = "plug-in-neural-style-transfer-settings"
BASE = {"style-file": P["style"], "max-size": 0, "quality": "draft", "seed": 3}


def settings_call(action, url="", token=""):
    proc = Gimp.get_pdb().lookup_procedure(SETTINGS)
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("action", action)
    cfg.set_property("url", url)
    cfg.set_property("token", token)
    res = proc.run(cfg)
    out = {"status": res.index(0).value_nick, "values": res.length()}
    second = res.index(1) if res.length() > 1 else None
    if isinstance(second, str):
        try:
            out["state"] = json.loads(second)
        except ValueError:
            out["message"] = second
    else:
        out["message"] = repr(second)
    try:
        with open(P["engine_json"]) as fh:
            out["engine_json"] = json.load(fh)
    except (OSError, ValueError) as exc:
        out["engine_json"] = repr(exc)
    return out


try:
    proc = Gimp.get_pdb().lookup_procedure(SETTINGS)
    RESULTS["procedure"] = {
        "found": proc is not None,
        "arguments": [[a.get_name(), a.value_type.name] for a in proc.get_arguments()],
        "return_values": [[a.get_name(), a.value_type.name] for a in proc.get_return_values()],
        "menu_label": proc.get_menu_label(),
        "menu_paths": list(proc.get_menu_paths()),
        "blurb": proc.get_blurb(),
    }
except Exception:  # noqa: BLE001
    RESULTS["procedure_error"] = traceback.format_exc()
save()

for name, action, kwargs in (("closed_port", "status", {}),
                             ("use_remote", "use-remote", {"url": P["engine_url"], "token": P["engine_token"]}),
                             ("status_ok", "status", {}),
                             ("bad_url", "use-remote", {"url": "ftp://nowhere", "token": "x"})):
    if name == "closed_port":
        with open(P["engine_json"], "w") as fh:
            json.dump(P["closed_port_json"], fh)
    try:
        RESULTS["cases"][name] = {"settings": settings_call(action, **kwargs)}
    except Exception:  # noqa: BLE001
        RESULTS["cases"][name] = {"driver_error": traceback.format_exc()}
    save()

# --- a non-destructive re-run (the engine configured by use-remote above) ---------------------------
try:
    with open(P["engine_json"], "w") as fh:
        json.dump(P["ok_json"], fh)
    img, photo = new_image(48, 40, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Photo",
                           Gimp.ImageType.RGB_IMAGE)
    first = run_case("first", img, photo, **BASE)
    result = img.get_layers()[0]
    top = Gimp.Layer.new(img, "Top", 16, 16, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    img.insert_layer(top, None, 0)
    img.reorder_item(result, None, 2)  # Top, Photo, result: a place in the stack of the artist's choosing
    result.set_opacity(40.0)
    result.set_mode(Gimp.LayerMode.MULTIPLY)
    result.set_visible(False)
    img.select_rectangle(Gimp.ChannelOps.REPLACE, 8, 8, 16, 12)
    result.add_mask(result.create_mask(Gimp.AddMaskType.SELECTION))
    Gimp.Selection.none(img)
    entry = run_case("rerun", img, result, **{**BASE, "style-strength": 4.0})
    entry["result_name_before"] = result.get_name()
    entry["result_valid"] = result.is_valid()
    entry["result_index"] = img.get_item_position(result)
    entry["mode"] = result.get_mode().value_nick
    entry["tattoo_same"] = img.get_layer_by_tattoo(result.get_tattoo()) == result
    save()
    # a result whose source was deleted is stylised as a layer of its own (a new layer)
    img2, photo2 = new_image(32, 32, Gimp.ImageBaseType.RGB, Gimp.Precision.U8_NON_LINEAR, "Gone",
                             Gimp.ImageType.RGB_IMAGE)
    run_case("orphan_first", img2, photo2, **BASE)
    orphan = img2.get_layers()[0]
    img2.remove_layer(photo2)
    run_case("orphan", img2, orphan, **BASE)
except Exception:  # noqa: BLE001
    RESULTS["driver_error"] = traceback.format_exc()

RESULTS["finished"] = True
save()
for image in Gimp.get_images():
    image.delete()
