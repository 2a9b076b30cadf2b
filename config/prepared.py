"""Server-side prepared statements for the few statements every webhook runs, and the
pipeline's per-signal statements (config/compiled.py).

Django sends PostgreSQL each statement as text with its values inlined (client-side
binding, no prepared statements: the safe default for connection poolers), so the server
parses, analyses and plans the webhook lookup and the signal log's INSERT anew on every
request. Run through ``prepared_cursor()``, the same SQL is bound server-side and
prepared once per connection (psycopg names it and reuses it), which took the
PostgreSQL CPU of an accepted webhook from ~0.49 to ~0.32 ms on the benchmark machine
(docs/benchmarks.md, Ingestion) with no more Python CPU; a signal's processing in the
worker went from ~9.3-13.2 to ~7.7-10.2 ms wall, and less CPU (bench/pipeline_cost.py,
interleaved runs).

Everything else keeps Django's defaults. ``settings.DB_PREPARED_STATEMENTS = False``
(env ``DB_PREPARED_STATEMENTS=false``) turns it off, for a transaction-mode
connection pooler that cannot keep prepared statements (PgBouncer before 1.21, or with
``max_prepared_statements = 0``). Other databases than PostgreSQL always use the plain
cursor.
"""

import functools

from django.conf import settings

ONLY_WHEN_ASKED = 2**31


def prepared_cursor(connection):
    """A cursor on ``connection`` (Django's wrapper: errors, query logging) whose
    ``execute`` binds server-side and prepares the statement; a plain ``cursor()`` when
    turned off or not on PostgreSQL. Use it as a context manager, as ``cursor()``."""
    cursor_class = _cursor_class() if connection.vendor == "postgresql" else None
    if cursor_class is None or not settings.DB_PREPARED_STATEMENTS:
        return connection.cursor()
    # What BaseDatabaseWrapper.cursor() does, with this cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's preparing off (None) for the whole connection. Asked
        # for (prepare=True) statements only: with a threshold no count reaches, other
        # cursors still never prepare anything (Django's client-bound ones cannot).
        raw.prepare_threshold = ONLY_WHEN_ASKED
    with connection.wrap_database_errors:
        cursor = cursor_class(raw)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return _debug_wrapper()(cursor, connection)
    return connection.make_cursor(cursor)


@functools.cache
def _cursor_class():
    try:
        from django.db.backends.postgresql.base import ServerBindingCursor
    except ImportError:  # psycopg2: no server-side binding
        return None

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor


@functools.cache
def _debug_wrapper():
    from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

    class TemplateDebugWrapper(CursorDebugWrapper):
        """Logs the statement as written (%s placeholders): Django's way of showing the
        executed query reads what a client-bound cursor sent, which a prepared one has
        not."""

        def execute(self, sql, params=None):
            with self.debug_sql(sql, params):
                return CursorWrapper.execute(self, sql, params)

    return TemplateDebugWrapper
