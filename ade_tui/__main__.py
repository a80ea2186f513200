import sys

from ade_tui.app import main

sys.exit(main())
