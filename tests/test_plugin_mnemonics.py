"""Every dialog of the plug-in gives each control its own Alt-letter (issue 23, point 7): GIMP's log warns
about a duplicate, and Alt+letter then reaches only one of the two controls.

GimpUi.ProcedureDialog adds its own buttons (nst_logic.DIALOG_MNEMONICS); the controls' labels are the
procedures' argument nicks (nst_logic.ARGUMENTS for the filter, learned_procedures.py for the learned ones).
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"
sys.path.insert(0, str(PLUGIN))

import dialog_logic as D  # noqa: E402
import nst_logic as L  # noqa: E402


def mnemonic(label: str) -> str | None:
    """GTK's rule: the letter after the first single underscore ("__" is a literal underscore)."""
    match = re.search(r"(?<!_)_([^_])", label.replace("__", ""))
    return match.group(1).lower() if match else None


def duplicates(labels: list[str]) -> dict[str, int]:
    letters = [mnemonic(label) for label in labels] + list(L.DIALOG_MNEMONICS)
    assert None not in letters, f"a label without an Alt-letter: {labels}"
    return {letter: n for letter, n in Counter(letters).items() if n > 1}


def learned_nicks() -> dict[str, list[str]]:
    """The argument nicks learned_procedures.create_procedure gives each procedure (without importing GIMP)."""
    tree = ast.parse((PLUGIN / "learned_procedures.py").read_text(encoding="utf-8"))
    create = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "create_procedure")

    def nicks(nodes: list[ast.stmt]) -> list[str]:
        found = []
        for node in nodes:
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr.startswith("add_") and call.func.attr.endswith("_argument")):
                    found.append(ast.literal_eval(call.args[1]))
        return found

    apply_block = next(n for n in create.body if isinstance(n, ast.If) and "APPLY_PROC" in ast.unparse(n.test))
    rest = [n for n in create.body if n is not apply_block]
    return {"apply": nicks(apply_block.body), "learn": nicks(rest)}


def test_the_rule_finds_a_duplicate() -> None:
    assert mnemonic("_Style image") == "s" and mnemonic("Style _image") == "i" and mnemonic("a__b_c") == "c"
    assert duplicates(["_Style image"]) == {"s": 2}  # against GIMP's _Save Defaults


def test_filter_dialog_letters_are_unique() -> None:
    labels = [nick for _name, _kind, nick, _blurb, _extra in L.ARGUMENTS] + list(D.DIALOG_BUTTONS)
    assert duplicates(labels) == {}, labels


@pytest.mark.parametrize("procedure", ["apply", "learn"])
def test_learned_dialog_letters_are_unique(procedure: str) -> None:
    labels = learned_nicks()[procedure]
    assert len(labels) >= 2
    assert duplicates(labels) == {}, labels


def test_animation_dialog_letters_are_unique() -> None:
    """The animation dialog is the filter's style controls (without regions) with the steadiness controls added
    (animation_dialog.py)."""
    import animation_logic as A

    labels = [nick for _name, _kind, nick, _blurb, _extra in L.FRAME_ARGUMENTS] + list(D.DIALOG_BUTTONS)
    labels += [A.STEADINESS[1], A.LONG_TERM[1]]
    assert duplicates(labels) == {}, labels


def test_learned_animation_letters_are_unique() -> None:
    import animation_logic as A

    tree = ast.parse((PLUGIN / "animation_procedure.py").read_text(encoding="utf-8"))
    create = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "create_procedure")
    learned = next(n for n in create.body if isinstance(n, ast.If) and ast.unparse(n.test) == "learned")
    labels = [ast.literal_eval(call.args[1]) for node in learned.body for call in ast.walk(node)
              if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
              and call.func.attr.endswith("_argument")]
    assert len(labels) == 2
    assert duplicates([*labels, A.STEADINESS[1], A.LONG_TERM[1]]) == {}
