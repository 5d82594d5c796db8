"""Exit codes, the same for every command (only the CLI turns errors into these)."""

OK = 0
FAILURE = 1  # operational failure: engine unreachable, image missing, port busy
USAGE = 2  # bad command line
REJECTED = 3  # policy rejected, or an exposure threshold exceeded
AUDIT_FAILED = 3  # `audit`: a server drifted from its plan, or scored above `--threshold`
