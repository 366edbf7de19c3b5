"""ZSL Explorer's engine: zero-shot learning through cross-modal transfer (Socher et al., NIPS 2013).

numpy in, numpy out; never imports Streamlit. See docs/ARCHITECTURE.md for the module map.
"""

import os

# OpenMP threads that wait for work sleep instead of spinning (read once, when torch loads its OpenMP runtime,
# so it is set before any engine module imports torch; a value the user set wins). On a busy machine -- a
# classroom server with 30 sessions, a laptop also running the browser -- spinning threads burn the cores the
# other thread of the same product needs: a 2-thread fit of a new held-out set on the full CIFAR-10 features
# took 18-27 s wall (6-8 CPU s) at load 13-15, and 3.1-3.8 s (1.5-1.7 CPU s) with passive waiting
# (bench/bench_fit.py reports both wall and CPU seconds).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
