"""The crack model (no Dagster imports).

OpenMP threads that spin while waiting make a 2-thread torch job up to ~5x slower when the two
cores are shared with other work (measured on the shared dev machine); passive waiting costs
nothing on an idle machine. It only takes effect if torch has not been imported yet, and an
explicit setting in the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
