"""agentdesk's benchmark suite: `python -m bench [--quick] [--json PATH] [--only NAME]`."""
