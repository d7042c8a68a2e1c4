"""Where reviews are kept and where jobs run, for every command that serves, watches or works.

The defaults are embedded: SQLite in the data directory and a pool of threads in the process.
`--store postgresql://...` and `--queue redis://HOST:PORT/N` (or the keys `store` and `queue` of
$XDG_CONFIG_HOME/reviewbot/service.toml) scale out: one PostgreSQL store seen by every process,
jobs on Redis for `reviewbot worker` processes on any machine. `keep_days` there (or
--keep-days) bounds how long finished reviews are kept (reviewbot_web.retention).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tomllib
import urllib.parse
from pathlib import Path

from reviewbot.errors import InputError
from reviewbot.knowledge.config import user_config_path
from reviewbot_web.jobs import JobQueue, Settings
from reviewbot_web.retention import KEEP_DAYS
from reviewbot_web.store import Store

SERVICE_KEYS = {"keep_days", "queue", "store"}


def service_config_path() -> Path:
    return user_config_path().with_name("service.toml")


def service_config() -> dict[str, str]:
    path = service_config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputError(str(path), f"cannot read it: {err}") from None
    unknown = set(data) - SERVICE_KEYS
    if unknown:
        raise InputError(str(path), f"unknown setting '{sorted(unknown)[0]}' "
                                    f"(known: {', '.join(sorted(SERVICE_KEYS))})")
    if not all(isinstance(value, str) for key, value in data.items() if key != "keep_days"):
        raise InputError(str(path), "queue and store are strings (URLs or a path)")
    days = data.get("keep_days", 0)
    if type(days) is not int or days < 0:
        raise InputError(str(path), "keep_days is a whole number of days (0: keep for ever)")
    return data


def keep_days(option: int | None) -> int:
    """Days a finished review is kept: --keep-days, else the config's, else KEEP_DAYS."""
    if option is not None:
        return option
    return service_config().get("keep_days", KEEP_DAYS)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "reviewbot"


def open_store(store: str | None = None, data: str | Path | None = None) -> Store:
    """The store `store` names (a postgresql:// URL or an SQLite file), else the config's,
    else reviews.sqlite3 in the data directory. A store it cannot use is an InputError."""
    location = store or service_config().get("store")
    if location is None:
        directory = Path(data or default_data_dir())
        location = directory / "reviews.sqlite3"
        where = str(directory)
    else:
        where = _safe(location)
    try:
        if isinstance(location, Path):
            location.parent.mkdir(parents=True, exist_ok=True)
        return Store(location)
    except (OSError, sqlite3.Error) as err:
        raise InputError(where, f"cannot keep reviews here: {getattr(err, 'strerror', None) or err}") from None
    except Exception as err:  # psycopg's errors: a server that is down, a wrong password
        if type(err).__module__.startswith("psycopg"):
            raise InputError(where, f"cannot use this store: {str(err).strip().splitlines()[0]}") from None
        raise


def open_queue(store: Store, settings: Settings, queue: str | None = None):
    """Jobs on Redis when `queue` (or the config) names it, else a pool of threads here."""
    url = queue or service_config().get("queue")
    if url is None:
        return JobQueue(store, settings)
    if urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise InputError(url, "the queue must be a redis:// URL")
    from redis.exceptions import RedisError

    from reviewbot_web.redisqueue import RedisQueue

    try:
        jobs = RedisQueue(store, settings, url)
        jobs.depth()  # reach the server now: a wrong URL is an error at start, not per job
    except (RedisError, ValueError) as err:
        raise InputError(_safe(url), f"cannot use this queue: {err}") from None
    return jobs


def _safe(url: str | Path) -> str:
    """A store or queue URL without its password, fit for a message."""
    parts = urllib.parse.urlsplit(str(url))
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urllib.parse.urlunsplit(parts)


class JSONLines(logging.Formatter):
    """Log records as one JSON object a line, for a log collector."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": record.created, "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JSONLines() if json_lines
                         else logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
