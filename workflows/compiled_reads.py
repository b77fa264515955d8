"""A read compiled to SQL once per thread, then run again with new ids.

Building a queryset with joins, annotations and ordering and compiling it to SQL costs several
times the CPU of running it; a read made on every run (the steps a run starts from) is compiled
once per thread and database alias, and its SQL run again with the new ids as parameters. Rows
become instances as Django's `ModelIterable` makes them (select_related, annotations).

Only for a queryset whose SQL does not depend on the ids' values: ids compared with `=`, each
passed to the database as a parameter. That is checked when compiling, so a queryset that breaks
it fails at once instead of reading other rows: it is built twice, with two sets of placeholder
ids; both must give the same SQL, their parameters must differ exactly where the ids go, and each
id must go somewhere. A tenant queryset must be scoped (`for_workspace`) when built, as for any
read.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators  # type: ignore[attr-defined]

_M = TypeVar("_M", bound=Model)

# Ids are 64-bit signed integers: one outside that range names no row (as Django answers for an
# `=` lookup on such a column, without a query).
_ID_RANGE = range(-(2**63), 2**63)
# Placeholder ids, one set per build: negative, so no row has them, and apart from any constant.
_PROBE_BASES = (-982_451_653, -715_827_883)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (parameter index, id name)
    model: type[Model]
    fields: slice  # the model's own columns in a row
    init_list: list[str]
    related_populators: list[Any]
    annotations: dict[str, int]
    converters: list[tuple[int, tuple[list[Callable[..., Any]], Any]]]
    columns: int | None  # a row's length, when the database returns extra columns


class CompiledRead(Generic[_M]):
    """`build(**ids)` returns the queryset for those ids (keyword-only, all of `names`);
    `read(**ids)` returns its rows as a list of instances, in one statement."""

    def __init__(self, build: Callable[..., "QuerySet[_M]"], *, names: tuple[str, ...]) -> None:
        self._build = build
        self._names = frozenset(names)
        # Per thread: what compiling binds (the converters) belongs to that thread's connection.
        self._local = threading.local()

    def read(self, *, using: str = DEFAULT_DB_ALIAS, **ids: int) -> list[_M]:
        if set(ids) != self._names or any(type(value) is not int for value in ids.values()):
            raise TypeError(f"Give each of {sorted(self._names)} as an int.")
        if any(value not in _ID_RANGE for value in ids.values()):
            return []
        cache: dict[str, _Compiled] = self._local.__dict__.setdefault("compiled", {})
        compiled = cache.get(using)
        if compiled is None:
            compiled = cache[using] = self._compile(using)
        params = list(compiled.params)
        for index, name in compiled.slots:
            params[index] = ids[name]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        instances: list[Any] = []
        for fetched in rows:
            row = list(fetched[: compiled.columns] if compiled.columns is not None else fetched)
            for position, (converters, expression) in compiled.converters:
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
            instance = compiled.model.from_db(using, compiled.init_list, row[compiled.fields])
            for populator in compiled.related_populators:
                populator.populate(row, instance)
            for name, position in compiled.annotations.items():
                setattr(instance, name, row[position])
            instances.append(instance)
        return instances

    def _compile(self, using: str) -> _Compiled:
        probes = [
            {name: base - offset for offset, name in enumerate(sorted(self._names))} for base in _PROBE_BASES
        ]
        (compiler, sql, params), (_, other_sql, other_params) = (self._sql(probe, using) for probe in probes)
        if sql != other_sql or len(params) != len(other_params):
            raise ValueError("The query's SQL depends on the ids' values: it cannot be reused.")
        slots = []
        for index, (first, second) in enumerate(zip(params, other_params, strict=True)):
            if first == second:
                continue
            names = [
                name for name in sorted(self._names) if (first, second) == (probes[0][name], probes[1][name])
            ]
            if len(names) != 1:
                raise ValueError(f"Parameter {index} of the query is not one of the ids.")
            slots.append((index, names[0]))
        if {name for _, name in slots} != self._names:
            raise ValueError("Every id must be a parameter of the query.")
        klass_info, select = compiler.klass_info, compiler.select
        selected = klass_info["select_fields"]
        columns = [column for column, _, _ in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("Composite fields are not supported.")
        return _Compiled(
            sql=sql,
            params=params,
            slots=tuple(slots),
            model=klass_info["model"],
            fields=slice(selected[0], selected[-1] + 1),
            init_list=[column.target.attname for column, _, _ in select[selected[0] : selected[-1] + 1]],
            related_populators=get_related_populators(klass_info, select, using),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=list(compiler.get_converters(columns).items()),
            columns=compiler.col_count if compiler.has_extra_select else None,
        )

    def _sql(self, ids: dict[str, int], using: str) -> tuple[Any, str, tuple[Any, ...]]:
        queryset = self._build(**ids).using(using)
        check_scoped = getattr(queryset, "_check_scoped", None)
        if check_scoped is not None:
            check_scoped()  # a tenant queryset fails closed here, as when it is read
        if (
            queryset._iterable_class is not ModelIterable
            or queryset._prefetch_related_lookups  # type: ignore[attr-defined]
            or queryset._known_related_objects  # type: ignore[attr-defined]
        ):
            raise ValueError("Only a plain read of model instances can be compiled once.")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        return compiler, sql, tuple(params)
