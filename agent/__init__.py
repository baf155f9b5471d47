"""The agent: LLM arms, the pipeline, and the interfaces people use (CLI, REST, Slack)."""
