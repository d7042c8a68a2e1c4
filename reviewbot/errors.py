"""The one error type a user ever sees: it names the input and the problem."""


class InputError(Exception):
    """Bad input from the user: printed as one line, exit status 2, never a traceback."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem
