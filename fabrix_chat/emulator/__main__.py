"""`python -m fabrix_chat.emulator --port 8765`: run the demo/test FabriX on its own."""

from fabrix_chat.emulator.server import main

main()
