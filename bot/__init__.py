"""Quorum's composition roots: the Slack bot, the CLI and the scheduler."""
