"""Pictures: reading and writing them (depth, alpha, gray), tensors, sizes, and the engine's reference image."""
