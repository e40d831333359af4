"""Animations: every frame styled, steady from frame to frame (Ruder, Dosovitskiy and Brox 2016)."""
