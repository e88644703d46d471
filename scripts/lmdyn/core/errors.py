"""User-facing errors: one line that names the problem, no traceback."""


class UserError(Exception):
    """Bad input (config, corpus, model, revision). Rule scripts print only its message."""
