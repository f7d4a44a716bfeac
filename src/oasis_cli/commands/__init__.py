"""What each command does, below the command line: load the session, call the
deployment logic, render the outcome. `cli/` only parses options and calls one
function here (pipx's `main.py` -> `commands/` split); nothing here knows Typer.
A question for the user comes in as a `Confirm` callable, and a failure leaves as an
`OasisError`.
"""
