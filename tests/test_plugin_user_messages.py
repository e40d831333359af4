"""Every sentence the plug-in shows the artist, read from its source: none names an internal id (`style1`),
a procedure argument (`style-file`) or an errno (issue 23, point 4).

Why from the source: the messages are built in many places (plugin_messages.py, the procedures, the
dialog, the windows); a list kept by hand would miss the next one. A message is any text given to
something that shows it (an error, GIMP's message, a label, a tooltip, a progress text) or returned by
the modules that build messages.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"
sys.path.insert(0, str(PLUGIN))

import nst_logic as L  # noqa: E402

# Calls whose text arguments reach the artist.
SINKS = {"PluginFailure", "PluginError", "EngineUnavailable", "EngineConfigError", "for_artist", "preview_error",
         "message", "set_text", "set_markup", "set_label", "_text", "set_tooltip_text", "Label", "MessageDialog",
         "progress_init", "progress_set_text", "add_button", "new_with_mnemonic", "set_title", "Dialog",
         "set_secondary_text"}
# Modules whose functions return texts for the artist.
BUILDERS = ("plugin_messages.py", "nst_logic.py", "engine_connection.py", "engine_status.py", "style_files.py",
            "placement.py", "dialog_logic.py", "learned_logic.py",
            "progress_model.py", "rerun.py", "connection_safety.py", "region_logic.py", "style_layer_logic.py")
LEARNED_ARGUMENTS = ("style-name", "photos-folder", "training-size", "keep-running", "style-strength")
FORBIDDEN = [re.compile(r"\bstyle\d\b"), re.compile(r"Errno"), re.compile(r"\bargument\b"),
             *(re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])") for name in L.ARGUMENT_NAMES + LEARNED_ARGUMENTS
               if "-" in name)]  # "quality", "seed": plain words too


def _texts(node: ast.AST) -> list[str]:
    """The literal text inside an expression: strings, and the fixed parts of f-strings (a placeholder as {})."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)]
    found: list[str] = []
    for child in ast.iter_child_nodes(node):
        found += _texts(child)
    return found


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def user_messages() -> dict[str, list[str]]:
    messages: dict[str, list[str]] = {}
    for path in sorted(PLUGIN.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (_name(node) in SINKS
                                               or (_name(node) == "append" and path.name in BUILDERS)):
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    found += _texts(arg)
            elif isinstance(node, ast.Return) and path.name in BUILDERS and node.value is not None:
                found += _texts(node.value)
            elif isinstance(node, ast.Assign) and path.name in BUILDERS and all(
                    isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
                found += _texts(node.value)  # module constants of the builders (UNCHANGED, STOPPING ...)
        messages[path.name] = [text for text in found if " " in text.strip()]  # sentences, not ids or keys
    return messages


def offences(text: str) -> list[str]:
    return [pattern.pattern for pattern in FORBIDDEN if pattern.search(text)]


def test_the_catalogue_is_found_and_the_rule_bites() -> None:
    messages = user_messages()
    assert sum(map(len, messages.values())) > 150, "the walk found too few messages to be the plug-in's"
    assert any("is not a picture" in text for text in messages["style_files.py"])
    assert any("stopped early" in text for text in messages["placement.py"])
    # the messages this issue removed would be refused:
    assert offences("Cannot read style image 1 (style1): it is not an image file")
    assert offences("Choose a style image (the style-file argument is empty).")
    assert offences("Cannot read the style image /x.png: [Errno 2] No such file")


def test_no_message_names_an_internal_id_an_argument_or_an_errno() -> None:
    bad = {f"{module}: {text!r}": offences(text) for module, texts in user_messages().items() for text in texts
           if offences(text)}
    assert bad == {}
