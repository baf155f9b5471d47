"""The bandit router that picks which LLM arm writes a call (see DESIGN.md)."""
