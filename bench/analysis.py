"""How long `analyze_text` takes by text size (decides: event loop or worker thread).

Run: .venv/bin/python bench/analysis.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from app.services.analysis import analyze_text, language_identifier

SAMPLE = (Path(__file__).resolve().parents[1] / "docs" / "observability.md").read_text()
SIZES = (1_000, 10_000, 50_000, 125_000)
ROUNDS = 7


def main() -> None:
    language_identifier()  # loaded once per process; not part of a request
    print(f"{'chars':>8} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for size in SIZES:
        text = (SAMPLE * (size // len(SAMPLE) + 1))[:size]
        timings = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            analyze_text(text)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"{size:>8} {statistics.median(timings):>10.1f} {min(timings):>8.1f} "
            f"{max(timings):>8.1f}"
        )


if __name__ == "__main__":
    main()
