"""agentdesk: one keyboard-driven inbox in the terminal for every helpdesk an agent works in."""

__version__ = "0.1.0"
