"""Learned styles: feed-forward networks trained with the engine's costs, applied with ONNX Runtime.

Modules: options (what a run asks for), network (the transformer), train (learning with
checkpoints), export (ONNX with a torch-vs-ONNX Runtime check), runtime (application, in tiles that share
the whole picture's statistics), agreement (tiled against whole, measured on the pictures),
library (the stored styles), api (the calls the CLI and the service share), cli (the subcommands).
"""
