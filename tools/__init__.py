"""Developer tools (not shipped in the wheel): previews of what the bot posts."""
