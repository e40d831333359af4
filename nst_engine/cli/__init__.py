"""`nst-engine` on the command line: main (the parser and the engine's subcommands), learned (learn-style,
apply, styles), common (the one error exit both use).
"""
