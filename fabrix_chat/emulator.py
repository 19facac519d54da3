"""`python -m fabrix_chat.emulator --port 8765`: run the demo/test FabriX (see fabrix/emulator.py)."""

from fabrix_chat.fabrix.emulator import main

if __name__ == "__main__":
    main()
