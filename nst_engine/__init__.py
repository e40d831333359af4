"""Neural style transfer engine (Gatys et al. 2015) for the GIMP 3 plug-in."""

__version__ = "0.1.0"
