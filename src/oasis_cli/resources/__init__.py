"""Resource families, one module each: its node builders and its kinds together.

Each kind observes, plans (purely, in `base.plan`), creates, updates and deletes one
kind of resource; `kinds.KINDS` maps a node's kind to it, and `oasis_cli.graphs`
composes the families' node builders into each command's graph.
"""
