"""The LLM agent: a loop on the Anthropic Messages API whose only hands are tools run in a sandbox."""
