"""`python -m bot.cli ARGS` is `quorum ARGS`."""

from bot.cli import main

if __name__ == "__main__":
    main()
