"""The database handle: engine, sessions, migrations and health checks.

SQLite (the default, one file) and PostgreSQL (teams, several replicas) run the same
code. Driver errors are translated here into :class:`evals.errors.StorageError` with a
message that never contains the URL's password; the original stays chained for logs.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DisconnectionError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from evals.errors import ConfigError, DatabaseUnavailableError, StorageError

# Every table module, so that a session resolves a foreign key into another module's table
# (cases.source_run_id -> panel_runs) in a process that imported only one repository.
from storage import tables as _tables  # noqa: F401

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
#: Seconds to wait for a new PostgreSQL connection unless told otherwise.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: PostgreSQL advisory lock held while migrating ("Quorum" in ASCII).
MIGRATION_LOCK_KEY = 0x51756F72756D
_REVISION_LINE = re.compile(
    r"^(down_revision|revision)\b[^=]*=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", re.MULTILINE
)


class SchemaNotReadyError(ConfigError):
    """A PostgreSQL database is reachable but not at the schema this Quorum needs."""


def normalize_url(url: str) -> URL:
    """Parse a database URL, choosing psycopg 3 for PostgreSQL.

    Accepts ``postgres://`` and ``postgresql://`` (as hosting platforms hand them out)
    and ``sqlite:///relative/path.db`` (relative to the working directory).
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError as exc:
        raise ConfigError(
            "DATABASE_URL is not a valid database URL; expected e.g. "
            "sqlite:///quorum.db or postgresql://user:pass@host/db"
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        backend = "postgresql"
        if driver in ("", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError(
            f"DATABASE_URL uses the unsupported backend {backend!r}; "
            "Quorum supports sqlite and postgresql"
        )
    return parsed


def safe_url(url: URL) -> str:
    """The URL as text with its password hidden, safe for logs and errors."""
    return url.render_as_string(hide_password=True)


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class Database:
    """One engine per process. ``session()`` is the unit of work."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        statement_timeout_s: float | None = None,
    ) -> None:
        """``connect_timeout_s`` and ``statement_timeout_s`` (None: no limit) apply to
        every PostgreSQL connection; SQLite waits up to its busy timeout for a lock."""
        self.url = normalize_url(url)
        self.backend = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.backend == "sqlite":
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            }
            path = _sqlite_file(self.url)
            if path is None:
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(
                        f"cannot create the folder for the SQLite database {path}: {exc.strerror}"
                    ) from exc
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = _postgres_timeouts(
                self.url, connect_timeout_s, statement_timeout_s
            )
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError(f"cannot use the database URL {safe_url(self.url)}: {exc}") from exc
        if self.backend == "sqlite":
            in_memory = _sqlite_file(self.url) is None
            event.listen(self.engine, "connect", _sqlite_pragmas(wal=not in_memory))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({safe_url(self.url)!r})"

    # -- errors --------------------------------------------------------------------

    def storage_error(self, action: str, exc: BaseException) -> StorageError:
        """A StorageError for ``exc`` whose message names the action, never a password."""
        orig = getattr(exc, "orig", None) or exc
        detail = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        password = self.url.password
        if password:
            detail = detail.replace(str(password), "***")
        message = f"{action} failed on {safe_url(self.url)}: {type(orig).__name__}"
        if detail:
            message += f": {detail[:300]}"
        if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
            return DatabaseUnavailableError(message)
        return StorageError(message)

    # -- sessions ------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        Database errors come out as :class:`StorageError`; other errors pass through
        unchanged (after the rollback).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise self.storage_error("a database transaction", exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> bool:
        """True when the database answers a trivial query (for health checks)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("%s", self.storage_error("health check", exc))
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()

    # -- migrations ----------------------------------------------------------------

    def alembic_config(self) -> Config:
        """An Alembic config for the migrations shipped inside this package."""
        # Lazy: Alembic (with every dialect's DDL) takes ~0.3 s to import, and a command
        # whose database is already at head never needs it (fast CLI start).
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option(
            "sqlalchemy.url",
            self.url.render_as_string(hide_password=False).replace("%", "%%"),
        )
        return cfg

    def _scripts(self) -> ScriptDirectory:
        # Lazy: see alembic_config.
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.alembic_config())

    def _known_revisions(self) -> set[str]:
        return {rev.revision for rev in self._scripts().walk_revisions()}

    def head_revision(self) -> str | None:
        """The newest revision shipped with this code."""
        head = shipped_head()
        if head is not None:
            return head
        # Lazy: see alembic_config.
        from alembic.util import CommandError

        try:
            return self._scripts().get_current_head()
        except CommandError as exc:
            raise StorageError(
                f"the migrations shipped with Quorum are inconsistent: {exc}"
            ) from exc

    def current_revision(self) -> str | None:
        """The revision the database is at, or None when it has never been migrated."""
        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return None
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except SQLAlchemyError as exc:
            raise self.storage_error("reading the schema revision", exc) from exc
        if len(rows) > 1:
            raise StorageError(
                f"the database {safe_url(self.url)} has {len(rows)} schema revisions "
                "(branched migrations); Quorum's migrations are one linear chain"
            )
        return str(rows[0][0]) if rows else None

    def reachable_revision(self) -> str | None:
        """:meth:`current_revision` as a command's first contact: a database that cannot
        be reached or read comes out as a ConfigError saying what to check."""
        try:
            return self.current_revision()
        except DatabaseUnavailableError as exc:
            raise ConfigError(
                f"cannot reach the database ({exc}). "
                "Check DATABASE_URL and that the database server is running."
            ) from exc
        except StorageError as exc:
            raise ConfigError(
                f"cannot read the database ({exc}). Is DATABASE_URL pointing at a Quorum database?"
            ) from exc

    def prepare_schema(self) -> bool:
        """Make the database ready for a command; True if the schema changed.

        The embedded default (SQLite, one file) is brought to the newest schema on the
        spot. A PostgreSQL database is shared, so migrating it is an explicit step
        (`quorum db upgrade`, the Procfile's `release:`): a command finding it behind
        says so (SchemaNotReadyError) and changes nothing.
        """
        current = self.reachable_revision()
        if self.backend == "sqlite":
            return self._ensure_schema_from(current)
        head = self.head_revision()
        if current != head:
            if current is not None and current not in self._known_revisions():
                raise SchemaNotReadyError(
                    f"the database {safe_url(self.url)} is at schema revision {current}, "
                    "which this version of Quorum does not know (a newer Quorum migrated "
                    "it?). Upgrade Quorum."
                )
            state = f"at schema revision {current}" if current else "empty (no Quorum tables)"
            raise SchemaNotReadyError(
                f"the database {safe_url(self.url)} is {state}; this Quorum needs {head}. "
                "Run `quorum db upgrade` first."
            )
        return False

    def is_empty(self) -> bool:
        """True when the database has no tables (Alembic's own version table aside)."""
        try:
            with self.engine.connect() as conn:
                names = set(inspect(conn).get_table_names())
                return not (names - {"alembic_version"})
        except SQLAlchemyError as exc:
            raise self.storage_error("inspecting the database", exc) from exc

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (Alembic ``upgrade``)."""
        # Lazy: see alembic_config.
        from alembic import command

        self._migrate(lambda cfg: command.upgrade(cfg, revision), "upgrading the schema")

    def downgrade(self, revision: str) -> None:
        """Revert migrations down to ``revision`` (``"base"`` drops every table)."""
        # Lazy: see alembic_config.
        from alembic import command

        self._migrate(lambda cfg: command.downgrade(cfg, revision), "downgrading the schema")

    def ensure_schema(self) -> bool:
        """Bring an empty or outdated database to the newest schema; True if it changed."""
        return self._ensure_schema_from(self.current_revision())

    def _ensure_schema_from(self, current: str | None) -> bool:
        """:meth:`ensure_schema` for a database known to be at revision ``current``."""
        if current == self.head_revision():
            return False
        if current is not None and current not in self._known_revisions():
            raise StorageError(
                f"the database {safe_url(self.url)} is at schema revision {current!r}, which "
                "this version of Quorum does not know (was it migrated by a newer version?)",
                user_message="The database schema is newer than this Quorum; see the logs.",
            )
        if current is None and not self.is_empty():
            raise StorageError(
                f"the database {safe_url(self.url)} has tables but no Alembic revision; "
                "it is not a Quorum database (or was created by hand)",
                user_message="The database is not a Quorum database; see the logs.",
            )
        log.info("migrating %s from %s to head", safe_url(self.url), current or "empty")
        self.upgrade()
        return True

    def _migrate(self, step: Any, action: str) -> None:
        # Lazy: see alembic_config.
        from alembic.util import CommandError

        cfg = self.alembic_config()
        try:
            with self.engine.connect() as conn:
                self._before_migration(conn)
                try:
                    cfg.attributes["connection"] = conn
                    step(cfg)
                    conn.commit()
                    if self.backend == "sqlite":
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StorageError(
                                f"{action} left {len(broken)} rows with broken foreign keys"
                            )
                finally:
                    conn.rollback()
                    self._after_migration(conn)
        except SQLAlchemyError as exc:
            raise self.storage_error(action, exc) from exc
        except CommandError as exc:
            raise StorageError(f"{action} failed on {safe_url(self.url)}: {exc}") from exc

    def _before_migration(self, conn: Connection) -> None:
        if self.backend == "sqlite":
            # Batch migrations copy tables; with foreign keys on, dropping the old table
            # would cascade. Turn them off (outside a transaction) meanwhile.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            # Several processes may start at once: one migrates, the others wait, then
            # find the schema at head and do nothing.
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.commit()

    def _after_migration(self, conn: Connection) -> None:
        if self.backend == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        else:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.commit()


def shipped_head() -> str | None:
    """The head of the shipped migration chain, read from the revision files without
    importing Alembic; None when the files are not one simple chain (then Alembic decides).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict((m[0], m[1]) for m in _REVISION_LINE.findall(path.read_text("utf-8")))
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _postgres_timeouts(
    url: URL, connect_timeout_s: float, statement_timeout_s: float | None
) -> dict[str, Any]:
    """libpq's connect_timeout (whole seconds, at least 2) and a server-side
    statement_timeout, merged with any ``options`` the URL already carries."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:  # the URL's own value wins
        args["connect_timeout"] = max(2, math.ceil(connect_timeout_s))
    if statement_timeout_s is not None:
        options = url.query.get("options") or ""
        if not isinstance(options, str):
            options = " ".join(options)
        timeout = f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))}"
        args["options"] = f"{options} {timeout}".strip()
    return args


def _sqlite_pragmas(*, wal: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return on_connect
