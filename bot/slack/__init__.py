"""Slack: the `/agent` command and @-mentions in, progress threads and approval buttons out."""
