"""Querysets compiled to SQL once per process, run many times with new key values.

Django compiles a queryset to SQL on every evaluation, and for the short, indexed reads of
the hot paths (a webhook request, a signal's processing) that compilation costs more CPU
than PostgreSQL spends answering: a select_related lookup or a filter with a few Q objects
takes 0.3-2 ms of Python to build and well under 0.2 ms to run. A ``CompiledQuery`` builds
its queryset once, with placeholder values for the keys that vary, keeps the SQL and where
the placeholders sit in its parameters, and from then on only substitutes the values,
executes, and turns the rows into model instances the way ``ModelIterable`` does
(the database's converters, ``Model.from_db``, select_related objects, annotations).

Only equality-style keys can be placeholders (``pk=``, ``symbol=``, ``price__gte=``): a
lookup that transforms its value (``contains``, ``iexact`` on some backends) would not
find it again. The builder is checked at first use: every placeholder must appear among
the compiled parameters, or the query refuses to compile.

Statements run through ``config.prepared.prepared_cursor``: on PostgreSQL each is also
prepared once per connection on the server (unless ``DB_PREPARED_STATEMENTS`` is off).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save

from config.prepared import prepared_cursor

_PLACEHOLDER_TEXT = "\x00compiled-query-placeholder-{}"
_MAX_COMPILED = 64  # per query: (database alias, connection) pairs kept


def _placeholder(kind: type, index: int):
    if kind is uuid.UUID:
        return uuid.UUID(int=(0xC0FFEE << 64) + index)
    if kind is Decimal:
        return Decimal(f"-987654321.{index:04d}")
    if kind is int:
        return -987_654_321 - index
    if kind is str:
        return _PLACEHOLDER_TEXT.format(index)
    raise TypeError(f"no placeholder for {kind!r}")


class _Compiled:
    def __init__(self, queryset: QuerySet, placeholders: dict[str, Any], alias: str):
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        self.sql, self.params = sql, list(params)
        # Where each key's value goes, and in which form (a UUID may be bound as its hex).
        self.slots: list[tuple[int, str, bool]] = []
        for name, value in placeholders.items():
            found = [i for i, p in enumerate(self.params) if p == value]
            as_hex = [
                i
                for i, p in enumerate(self.params)
                if isinstance(value, uuid.UUID) and p == value.hex
            ]
            if not found and not as_hex:
                raise ValueError(f"{name!r} does not appear in the compiled parameters")
            self.slots += [(i, name, False) for i in found] + [(i, name, True) for i in as_hex]
        self.alias = alias
        self.compiler = compiler
        select = compiler.select
        self.converters = compiler.get_converters([column for column, _, _ in select])
        klass_info = compiler.klass_info
        self.model = None
        if klass_info is not None:
            fields = klass_info["select_fields"]
            self.start, self.end = fields[0], fields[-1] + 1
            self.model = klass_info["model"]
            self.init_list = [
                column.target.attname for column, _, _ in select[self.start : self.end]
            ]
            self.populators = get_related_populators(klass_info, select, alias)
            self.annotations = dict(compiler.annotation_col_map or {})

    def rows(self, values: dict[str, Any]) -> list[tuple]:
        params = list(self.params)
        for index, name, as_hex in self.slots:
            value = values[name]
            params[index] = value.hex if as_hex else value
        with prepared_cursor(connections[self.alias]) as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters and rows:
            rows = list(self.compiler.apply_converters(rows, self.converters))
        return rows

    def objects(self, values: dict[str, Any]) -> list:
        found = []
        for row in self.rows(values):
            obj = self.model.from_db(self.alias, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, position in self.annotations.items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found


class CompiledQuery:
    """``CompiledQuery(lambda symbol, pk: Model.objects.filter(...), symbol=str, pk=uuid.UUID)``
    then ``.all(symbol=..., pk=...)`` / ``.first(...)`` / ``.value(...)``: the builder's
    queryset, compiled once per database alias and thread."""

    def __init__(self, build: Callable[..., QuerySet], **kinds: type):
        self.build = build
        self.kinds = kinds
        self._compiled: dict = {}
        self._lock = threading.Lock()

    def _for(self, alias: str) -> _Compiled:
        key = (alias, id(connections[alias]))
        compiled = self._compiled.get(key)
        if compiled is None:
            placeholders = {
                name: _placeholder(kind, index)
                for index, (name, kind) in enumerate(self.kinds.items())
            }
            compiled = _Compiled(self.build(**placeholders), placeholders, alias)
            with self._lock:
                if len(self._compiled) >= _MAX_COMPILED:
                    # Short-lived threads (a fan-out's pool) each had their own connection:
                    # forget theirs rather than keep them all.
                    self._compiled.clear()
                self._compiled[key] = compiled
        return compiled

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        if values.keys() != self.kinds.keys():
            raise TypeError(f"expected {sorted(self.kinds)}, got {sorted(values)}")
        out = {}
        for name, value in values.items():
            kind = self.kinds[name]
            if kind is uuid.UUID and not isinstance(value, uuid.UUID):
                value = uuid.UUID(str(value))
            out[name] = value
        return out

    def all(self, using: str = DEFAULT_DB_ALIAS, **values) -> list:
        return self._for(using).objects(self._values(values))

    def first(self, using: str = DEFAULT_DB_ALIAS, **values):
        found = self.all(using, **values)
        return found[0] if found else None

    def rows(self, using: str = DEFAULT_DB_ALIAS, **values) -> list[tuple]:
        """Plain rows, converted (for ``values_list`` querysets)."""
        return self._for(using).rows(self._values(values))


# -- writes ------------------------------------------------------------------------------


class Increment:
    """``update(..., attempts=Increment(1))``: ``attempts = attempts + 1`` in the statement."""

    def __init__(self, by: int = 1):
        self.by = by


_statements: dict = {}


def _statement(key, build: Callable[[], str]) -> str:
    sql = _statements.get(key)
    if sql is None:
        sql = _statements[key] = build()
    return sql


def update(model, *, where: dict[str, Any], using: str = DEFAULT_DB_ALIAS, **values) -> int:
    """``model.objects.filter(**where).update(**values)`` for plain equality (or ``IN``,
    given a tuple or list) filters on the model's own fields, with the statement built once
    per shape; values are prepared by their fields exactly as QuerySet.update does.
    Returns the number of rows updated."""
    connection = connections[using]
    meta = model._meta
    set_fields = [meta.get_field(name) for name in values]
    where_fields = [meta.pk if name == "pk" else meta.get_field(name) for name in where]
    shape = tuple(
        len(value) if isinstance(value, (tuple, list)) else None for value in where.values()
    )
    increments = tuple(isinstance(v, Increment) for v in values.values())
    key = ("update", model, using, tuple(values), increments, tuple(where), shape)

    def build() -> str:
        quote = connection.ops.quote_name
        assignments = [
            f"{quote(f.column)} = {quote(f.column)} + %s" if inc else f"{quote(f.column)} = %s"
            for f, inc in zip(set_fields, increments, strict=True)
        ]
        conditions = [
            f"{quote(f.column)} = %s"
            if size is None
            else f"{quote(f.column)} IN ({', '.join(['%s'] * size)})"
            for f, size in zip(where_fields, shape, strict=True)
        ]
        table, assigned, matched = (
            quote(meta.db_table),
            ", ".join(assignments),
            " AND ".join(conditions),
        )
        # Every name comes from the model's meta, quoted; every value is a parameter.
        return f"UPDATE {table} SET {assigned} WHERE {matched}"  # noqa: S608

    sql = _statement(key, build)
    params = []
    for field, value in zip(set_fields, values.values(), strict=True):
        if isinstance(value, Increment):
            params.append(value.by)
        else:
            params.append(field.get_db_prep_save(value, connection))
    for field, value in zip(where_fields, where.values(), strict=True):
        for item in value if isinstance(value, (tuple, list)) else (value,):
            params.append(field.get_db_prep_value(item, connection, prepared=False))
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert(obj, using: str = DEFAULT_DB_ALIAS) -> None:
    """``obj.save(force_insert=True)`` with the INSERT built once per model: values go
    through each field's pre_save and get_db_prep_save as in Model.save, an auto-increment
    key comes back through RETURNING. A model with its own save() or with pre/post_save
    receivers takes the ORM's path."""
    model = type(obj)
    connection = connections[using]
    meta = model._meta
    pk = meta.pk
    auto_pk = pk.db_returning and getattr(obj, pk.attname) is None
    if (
        model.save is not Model.save
        or pre_save.has_listeners(model)
        or post_save.has_listeners(model)
        or (auto_pk and not connection.features.can_return_columns_from_insert)
    ):
        obj.save(force_insert=True, using=using)
        return
    sql, fields = insert_statement(model, using, auto_pk=auto_pk)
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        if auto_pk:
            value = cursor.fetchone()[0]
            for converter in pk.get_db_converters(connection):
                value = converter(value, pk, connection)
            setattr(obj, pk.attname, value)
    obj._state.adding = False
    obj._state.db = using


def insert_statement(model, using: str = DEFAULT_DB_ALIAS, *, auto_pk: bool = False):
    """The INSERT ``insert()`` sends for ``model`` (built at first use; a web worker's
    warm-up builds the signal log's ahead), and the fields whose values it takes."""
    meta, connection = model._meta, connections[using]
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if not (auto_pk and f is pk)]

    def build() -> str:
        quote = connection.ops.quote_name
        table, columns = quote(meta.db_table), ", ".join(quote(f.column) for f in fields)
        values = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({values})"  # noqa: S608 (quoted names)
        return sql + f" RETURNING {quote(pk.column)}" if auto_pk else sql

    return _statement(("insert", model, using, auto_pk), build), fields
