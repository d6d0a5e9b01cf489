"""What every loader shares: one batch per file, quarantine, idempotent set-based upserts into raw.

A load runs in one transaction under an advisory lock (loads serialise, so batch ids commit in
order, which the incremental models' watermarks rely on). Rows are COPYed into a temporary stage
table, checked set-based in SQL, and merged into raw with `insert ... on conflict do update ...
where distinct`: a row that did not change keeps its old batch id, so loading the same data twice
changes nothing. A large first load into an empty table skips the per-row upsert: bulk_insert.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from python_jobs import warehouse
from python_jobs.warehouse import WarehouseError, log, table_name

LOAD_LOCK = "film_cohorts.load"
RAW_LINE_CHARS = 10_000  # a quarantined line is kept up to this length (a 10 MB garbage line is not evidence)


def file_sha256(path: Path | str, data: bytes | None = None) -> str:
    h = hashlib.sha256()
    if data is not None:
        h.update(data)
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Batch:
    """One row of ops.load_batches, open while its transaction runs."""

    conn: psycopg.Connection
    batch_id: int
    source: str
    entity: str
    file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0  # valid lines that changed nothing: raw already held them (or a newer version)

    def reject(self, rejects: pd.DataFrame) -> int:
        """Quarantine rows: a frame with columns line_no, raw_line, reason."""
        if rejects is None or len(rejects) == 0:
            return 0
        frame = pd.DataFrame(
            {
                "batch_id": self.batch_id,
                "source": self.source,
                "entity": self.entity,
                "file": self.file,
                "line_no": rejects["line_no"].astype("Int64"),
                "raw_line": rejects["raw_line"].astype("string").str.slice(0, RAW_LINE_CHARS),
                "reason": rejects["reason"].astype("string"),
            }
        )
        warehouse.copy_frame(self.conn, "ops.quarantine", frame)
        self.rows_rejected += len(frame)
        return len(frame)

    def reject_from_stage(self, stage: str, condition: sql.Composable, reason: str) -> int:
        """Move stage rows matching condition to ops.quarantine (SQL-side checks: unknown keys, duplicates)."""
        moved = self.conn.execute(
            sql.SQL(
                "with gone as (delete from {stage} where {cond} returning line_no, raw_line) "
                "insert into ops.quarantine (batch_id, source, entity, file, line_no, raw_line, reason) "
                "select %s, %s, %s, %s, line_no, left(raw_line, %s), %s from gone"
            ).format(stage=sql.Identifier(stage), cond=condition),
            (self.batch_id, self.source, self.entity, self.file, RAW_LINE_CHARS, reason),
        ).rowcount
        self.rows_rejected += moved
        return moved


def already_loaded(conn: psycopg.Connection, sha256: str, entity: str) -> int | None:
    row = conn.execute(
        "select batch_id from ops.load_batches where file_sha256 = %s and entity = %s and status = 'loaded' "
        "order by batch_id desc limit 1",
        (sha256, entity),
    ).fetchone()
    return row[0] if row else None


@contextmanager
def load_batch(
    conn: psycopg.Connection,
    *,
    source: str,
    entity: str,
    file: str,
    sha256: str | None,
    force: bool = False,
) -> Iterator[Batch | None]:
    """Open a batch in its own transaction; yields None when this exact file was loaded before.

    The batch is its own top-level transaction (pending work on conn is committed first).
    On an exception everything the batch wrote is rolled back and a 'failed' row is recorded
    (in a separate transaction) so the failure is visible in ops.load_batches.
    """
    started = warehouse.time.monotonic()
    nothing: NothingUsable | None = None
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        # A batch is a top-level transaction of its own (not a savepoint inside the caller's), so its
        # commit is real and its stage tables drop with it; what the caller read before is committed.
        conn.commit()
    try:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (LOAD_LOCK,))
            if sha256 and not force:
                prior = already_loaded(conn, sha256, entity)
                if prior is not None:
                    log(f"{entity}: {file} already loaded in batch {prior}; nothing to do")
                    yield None
                    return
            batch_id = conn.execute(
                "insert into ops.load_batches (source, entity, file, file_sha256) values (%s, %s, %s, %s) "
                "returning batch_id",
                (source, entity, file, sha256),
            ).fetchone()[0]
            batch = Batch(conn, batch_id, source, entity, file)
            status, nothing = "loaded", None
            try:
                yield batch
            except NothingUsable as exc:
                # keep the quarantine (the rows are the evidence), mark the batch failed, then report
                status, nothing = "failed", exc
            conn.execute(
                "update ops.load_batches set rows_read = %s, rows_loaded = %s, rows_rejected = %s, "
                "rows_skipped = %s, finished_at = clock_timestamp(), duration_s = %s, status = %s where batch_id = %s",
                (
                    batch.rows_read,
                    batch.rows_loaded,
                    batch.rows_rejected,
                    batch.rows_skipped,
                    warehouse.time.monotonic() - started,
                    status,
                    batch_id,
                ),
            )
    except Exception:
        with warehouse.connect(conn.info.dbname, autocommit=True) as book:
            book.execute(
                "insert into ops.load_batches (source, entity, file, file_sha256, finished_at, duration_s, status) "
                "values (%s, %s, %s, %s, clock_timestamp(), %s, 'failed')",
                (source, entity, file, sha256, warehouse.time.monotonic() - started),
            )
        raise
    if nothing is not None:
        raise WarehouseError(str(nothing))


class NothingUsable(Exception):
    """A file with no usable row: its rejects stay in quarantine, the batch is marked failed."""


def create_stage(conn: psycopg.Connection, name: str, columns: Sequence[tuple[str, str]]) -> str:
    """A temporary stage table (dropped at commit) with line_no and raw_line for quarantine."""
    cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns]
    cols += [sql.SQL("line_no bigint"), sql.SQL("raw_line text")]
    conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(name)))
    conn.execute(
        sql.SQL("create temporary table {} ({}) on commit drop").format(sql.Identifier(name), sql.SQL(", ").join(cols))
    )
    return name


def reject_duplicate_keys(batch: Batch, stage: str, keys: Sequence[str]) -> int:
    """The same key twice in one file: identical lines keep their first copy, conflicting ones all go."""
    key_list = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
    conn = batch.conn
    repeated = conn.execute(
        sql.SQL("select exists (select from {stage} group by {keys} having count(*) > 1)").format(
            keys=key_list, stage=sql.Identifier(stage)
        )
    ).fetchone()[0]
    if not repeated:  # one aggregate instead of a sort of the whole stage: the usual case
        return 0
    exact = conn.execute(
        sql.SQL(
            "with ranked as (select line_no, row_number() over (partition by {keys}, raw_line order by line_no) "
            "as copy_no from {stage}) select line_no from ranked where copy_no > 1"
        ).format(keys=key_list, stage=sql.Identifier(stage))
    ).fetchall()
    n = 0
    if exact:
        conn.execute("create temporary table if not exists _dup_lines (line_no bigint) on commit drop")
        conn.execute("truncate _dup_lines")
        warehouse.copy_rows(conn, "_dup_lines", ["line_no"], exact)
        n += batch.reject_from_stage(
            stage, sql.SQL("line_no in (select line_no from _dup_lines)"), "duplicate line (first copy kept)"
        )
    n += batch.reject_from_stage(
        stage,
        sql.SQL("({keys}) in (select {keys} from {stage} group by {keys} having count(*) > 1)").format(
            keys=key_list, stage=sql.Identifier(stage)
        ),
        f"conflicting rows for the same key ({', '.join(keys)}) in one file",
    )
    return n


def reject_unknown(batch: Batch, stage: str, column: str, target: str, target_column: str, what: str) -> int:
    """Stage rows whose column has no match in target(target_column) go to quarantine."""
    cond = sql.SQL("not exists (select 1 from {t} where {t}.{tc} = {s}.{c})").format(
        t=table_name(target), tc=sql.Identifier(target_column), s=sql.Identifier(stage), c=sql.Identifier(column)
    )
    return batch.reject_from_stage(stage, cond, f"unknown {what}")


def upsert_from_stage(
    batch: Batch,
    stage: str,
    target: str,
    keys: Sequence[str],
    columns: Sequence[str],
    *,
    only_newer: str | None = None,
    staged_rows: int = 0,
    counted: bool = True,
) -> int:
    """Merge stage rows into a raw table; only rows that really change get this batch's id.

    only_newer names a timestamp column: an incoming row older than the stored one is ignored
    (a late file cannot undo a newer update). staged_rows (the stage's size, when the caller knows
    it) of BULK_ROWS or more into an empty target takes the bulk path: see bulk_insert. counted:
    the stage holds the file's lines, so the rows written count as rows_loaded (derived rows, such
    as cohorts made from a users file, are not lines of the file).
    """
    cols = list(keys) + [c for c in columns if c not in keys]
    value_cols = [c for c in cols if c not in keys]
    set_clause = sql.SQL(", ").join(
        [sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in value_cols]
        + [sql.SQL("batch_id = excluded.batch_id")]
    )
    target_ident = table_name(target)
    if value_cols:
        changed = sql.SQL("({}) is distinct from ({})").format(
            sql.SQL(", ").join(sql.SQL("{}.{}").format(target_ident, sql.Identifier(c)) for c in value_cols),
            sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c)) for c in value_cols),
        )
        if only_newer:
            changed = sql.SQL("{} and excluded.{c} >= {t}.{c}").format(
                changed, c=sql.Identifier(only_newer), t=target_ident
            )
        conflict = sql.SQL("do update set {} where {}").format(set_clause, changed)
    else:
        conflict = sql.SQL("do nothing")
    insert = sql.SQL("insert into {target} ({cols}, batch_id) select {cols}, %s from {stage}").format(
        target=target_ident, cols=ident(cols), stage=sql.Identifier(stage)
    )
    if staged_rows >= BULK_ROWS and _lock_if_empty(batch.conn, target):
        n = bulk_insert(batch.conn, target, insert, (batch.batch_id,))
    else:
        stmt = sql.SQL("{insert} on conflict ({keys}) {conflict}").format(
            insert=insert, keys=ident(keys), conflict=conflict
        )
        n = batch.conn.execute(stmt, (batch.batch_id,)).rowcount
    if counted:
        batch.rows_loaded += n
    return n


def settle_lines(batch: Batch, staged: int, written: int) -> None:
    """Of `staged` valid lines (one raw row each), `written` changed raw; the rest changed nothing (skipped)."""
    batch.rows_skipped += staged - written


BULK_ROWS = 100_000


def _lock_if_empty(conn: psycopg.Connection, target: str) -> bool:
    """True, holding an exclusive lock on target until commit, when target has no rows."""
    empty = sql.SQL("select not exists (select from {})").format(table_name(target))
    if not conn.execute(empty).fetchone()[0]:
        return False
    conn.execute(sql.SQL("lock table {} in access exclusive mode").format(table_name(target)))
    return conn.execute(empty).fetchone()[0]


def bulk_insert(conn: psycopg.Connection, target: str, insert: sql.Composable, params: Sequence[Any]) -> int:
    """A first load into an empty table: drop its indexes and keys, insert, then build them again by sorting.

    Building a b-tree from sorted rows is several times cheaper than inserting millions of keys one at
    a time, and a plain insert skips the upsert's conflict check for each row. Every row is new (the
    table is empty and locked), so the rows are exactly what the upsert would write; a repeated key
    still fails, when the primary key is built again. Indexes and constraints come back from their own
    definitions (pg_get_indexdef, pg_get_constraintdef), whatever python_jobs/sql made; a key that a
    foreign key references stays in place. Readers of the table wait for the commit instead of seeing
    it empty.
    """
    rows = conn.execute(
        "select i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid) "
        "from pg_index as x join pg_class as i on i.oid = x.indexrelid "
        "left join pg_constraint as c on c.conindid = x.indexrelid and c.conrelid = x.indrelid "
        "where x.indrelid = %s::regclass "
        "and (c.oid is null or c.contype in ('p', 'u')) "
        "and not exists (select from pg_constraint as f where f.contype = 'f' and f.conindid = x.indexrelid) "
        "order by c.contype is null, i.relname",
        (target,),
    ).fetchall()
    schema = target.split(".")[0] if "." in target else "public"
    for index, _, constraint, _ in rows:
        if constraint:
            conn.execute(
                sql.SQL("alter table {} drop constraint {}").format(table_name(target), sql.Identifier(constraint))
            )
        else:
            conn.execute(sql.SQL("drop index {}.{}").format(sql.Identifier(schema), sql.Identifier(index)))
    n = conn.execute(insert, params).rowcount
    for _, index_def, constraint, constraint_def in rows:
        if constraint:
            conn.execute(
                sql.SQL("alter table {} add constraint {} {}").format(
                    table_name(target), sql.Identifier(constraint), sql.SQL(constraint_def)
                )
            )
        else:
            conn.execute(index_def)
    return n


def ident(names: Sequence[str]) -> sql.Composed:
    """A comma-separated list of quoted identifiers."""
    return sql.SQL(", ").join(sql.Identifier(c) for c in names)


def tombstone_missing(
    batch: Batch, stage: str, target: str, keys: Sequence[str], scope: sql.Composable, params: Sequence[Any] = ()
) -> int:
    """Mark target rows in scope that the stage no longer has as deleted (a tombstone, never a delete)."""
    key_list = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
    n = batch.conn.execute(
        sql.SQL(
            "update {t} set deleted = true, batch_id = %s where not deleted and ({scope}) "
            "and ({keys}) not in (select {keys} from {s})"
        ).format(t=table_name(target), scope=scope, keys=key_list, s=sql.Identifier(stage)),
        (batch.batch_id, *params),
    ).rowcount
    return n


def require_rows(n_good: int, path: str) -> None:
    if n_good == 0:
        raise NothingUsable(f"{path}: no usable rows (see ops.quarantine for the rejected ones)")


def describe_path(path: Path | str) -> str:
    return os.fspath(path)
