"""`python -m bot` runs the bot, exactly like `quorum run`."""

from bot.cli import main

if __name__ == "__main__":
    main(["run"])
