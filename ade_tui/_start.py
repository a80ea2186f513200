"""Process start time for the time-to-ready measure; imported first by `app.py` (posting: `_start_time.py`)."""

import time

START = time.perf_counter()
