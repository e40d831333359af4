"""What a learning run is asked for, checked before it is queued: no torch here, so the CLI starts fast."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from nst_engine.errors import SettingsError
from nst_engine.learned.sizes import WIDTHS
from nst_engine.settings import CHOICES


@dataclass
class LearnOptions:
    """What a learning run is asked to do; stored in the style's metadata as its training settings."""

    steps: int = 2000
    size: int = 256  # side of the square training crops, and long side of the style picture
    batch: int = 4  # crops per step: one crop's style cost is too noisy a guide (Johnson et al. used 4)
    style_strength: float = 1.0
    width: str = "small"
    learning_rate: float = 1e-3
    checkpoint_every: int = 200
    seed: int = 0
    device: str = "auto"

    def validate(self) -> None:
        if self.device not in CHOICES["device"]:
            raise SettingsError(f"device must be one of {', '.join(CHOICES['device'])}, not {self.device!r}.")
        if self.width not in WIDTHS:
            raise SettingsError(f"width must be one of {', '.join(WIDTHS)}, not {self.width!r}.")
        for name, low, high in (("steps", 1, 10_000_000), ("size", 64, 2048), ("batch", 1, 64),
                                ("checkpoint_every", 1, 10_000_000), ("seed", 0, 2**63 - 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SettingsError(f"{name} must be an integer between {low} and {high}, not {value!r}.")
        if not _number(self.style_strength) or not 0.0 <= self.style_strength <= 100.0:
            raise SettingsError(f"style strength must be a number between 0 and 100, not {self.style_strength!r}.")
        if not _number(self.learning_rate) or not 0.0 < self.learning_rate <= 1.0:
            raise SettingsError(f"learning rate must be a number in (0, 1], not {self.learning_rate!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: object) -> bool:
    """A real, finite number; true and false are not numbers here (JSON's true would pass as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
