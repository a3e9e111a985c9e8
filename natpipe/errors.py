"""The errors a user sees as one line (scripts' run_main, the workflow's start)."""


class PipelineError(Exception):
    """A user-facing error: printed as one line naming the file, line or config key."""


class ConfigError(PipelineError, ValueError):
    """A config mistake, as one line `config key <dotted key>: <what is wrong>`."""
