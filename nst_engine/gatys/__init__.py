"""The Gatys et al. optimisation: VGG-19 (model), the seed's costs, the objective and its optimiser (optimize),
tiles for scales too large for memory (tiling, canvas_style), and the warm network (cache).
"""
