"""How long the store keeps what it holds, and the pruning that holds it to that.

A server or watcher running for months would otherwise keep every review, every message it
watched and the rows of every analyser version it ever ran. `keep_days` (`--keep-days`, or
`keep_days` in service.toml; 0 keeps everything) bounds finished jobs; rows of other analyser
versions go after GRACE (unless `keep_days` is 0, which prunes nothing); the watcher's messages and series
go once its grouping no longer reads them. `Pruner` prunes at start and then every EVERY
seconds on a thread of its own.
"""

from __future__ import annotations

import logging
import threading

from reviewbot.watch import WINDOW
from reviewbot_web.store import Pruned, Store

log = logging.getLogger(__name__)

DAY = 24 * 3600.0
KEEP_DAYS = 90
GRACE = 7 * DAY  # a rolling upgrade's old workers are long done by then
MESSAGES_KEPT = WINDOW + DAY  # the watcher reads WINDOW back; a day more for a late poll
EVERY = 3600.0


def prune(store: Store, keep_days: int, now: float | None = None) -> Pruned:
    """One prune of `store` keeping finished jobs `keep_days` days (0: nothing is pruned)."""
    if keep_days == 0:
        return Pruned()
    return store.prune(keep_days * DAY, GRACE, MESSAGES_KEPT, now)


def summary(pruned: Pruned) -> str:
    text = (f"{pruned.expired} reviews expired; {pruned.jobs} jobs of other versions, "
            f"{pruned.series} series and {pruned.messages} watched messages removed")
    return text + ("; the file gave its free space back" if pruned.vacuumed else "")


class Pruner:
    """Prunes a store at start and every `every` seconds until stopped (nothing with
    keep_days 0)."""

    def __init__(self, store: Store, keep_days: int, every: float = EVERY):
        self.store = store
        self.keep_days = keep_days
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reviewbot-prune", daemon=True)

    def start(self) -> None:
        if self.keep_days:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                try:
                    pruned = prune(self.store, self.keep_days)
                except Exception:  # a store out of reach now may answer within the hour
                    log.exception("pruning the store failed; trying again in %gs", self.every)
                else:
                    if pruned != Pruned():
                        log.info("store pruned: %s", summary(pruned))
                if self._stop.wait(self.every):
                    return
        finally:
            self.store.close()  # this thread's connection
