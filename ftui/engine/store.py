"""Durable engine state in SQLite (WAL): files, jobs, events, checkpoints and fine-tuned models.

The service and the trainer process both write here; WAL plus a busy timeout lets them do so safely, and every
change is one transaction, so a crash of either never leaves half a record.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL, status TEXT NOT NULL, status_details TEXT, path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, model TEXT NOT NULL, created_at INTEGER NOT NULL,
    finished_at INTEGER, status TEXT NOT NULL, training_file TEXT NOT NULL, validation_file TEXT,
    suffix TEXT, seed INTEGER NOT NULL, method TEXT NOT NULL, metadata TEXT, fine_tuned_model TEXT,
    trained_tokens INTEGER, error TEXT, estimated_finish INTEGER, result_files TEXT NOT NULL DEFAULT '[]',
    control TEXT, trainer_pid INTEGER, resume_from TEXT, step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER, attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL, type TEXT NOT NULL, data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, created_at INTEGER NOT NULL, step_number INTEGER NOT NULL,
    metrics TEXT NOT NULL, path TEXT NOT NULL, model_name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY, base_model TEXT NOT NULL, job_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    adapter_path TEXT NOT NULL
);
"""

JSON_COLUMNS = {"method", "metadata", "error", "result_files", "data", "metrics"}


class FileRecord(BaseModel):
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    status: str
    status_details: str | None = None
    path: str


class JobRecord(BaseModel):
    id: str
    seq: int
    model: str
    created_at: int
    finished_at: int | None = None
    status: str
    training_file: str
    validation_file: str | None = None
    suffix: str | None = None
    seed: int
    method: dict[str, Any]
    metadata: dict[str, str] | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: dict[str, Any] | None = None
    estimated_finish: int | None = None
    result_files: list[str] = []
    control: str | None = None
    trainer_pid: int | None = None
    resume_from: str | None = None
    step: int = 0
    total_steps: int | None = None
    attempts: int = 0


class EventRecord(BaseModel):
    seq: int
    id: str
    job_id: str
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any] | None = None


class CheckpointRecord(BaseModel):
    id: str
    job_id: str
    created_at: int
    step_number: int
    metrics: dict[str, Any]
    path: str
    model_name: str


class ModelRecord(BaseModel):
    id: str
    base_model: str
    job_id: str
    created_at: int
    adapter_path: str


def now() -> int:
    return int(time.time())


def _encode(column: str, value: Any) -> Any:
    return orjson.dumps(value).decode() if column in JSON_COLUMNS and value is not None else value


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    return {
        key: orjson.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
        for key in row.keys()  # noqa: SIM118 (a Row iterates over values)
    }


class Store:
    """A thin data-access layer; one SQLite connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connection().executescript(SCHEMA)  # executescript manages its own transaction

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [_decode(row) for row in self._connection().execute(query, args).fetchall()]

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as db:
            db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", [_encode(k, v) for k, v in values.items()])

    def _update(
        self, table: str, key: str, changes: dict[str, Any], where: str = "", where_args: tuple[Any, ...] = ()
    ) -> bool:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self.transaction() as db:
            cursor = db.execute(
                f"UPDATE {table} SET {assignments} WHERE id = ? {where}",
                [*(_encode(k, v) for k, v in changes.items()), key, *where_args],
            )
            return cursor.rowcount > 0

    # --- files ---------------------------------------------------------------------------------------------
    def add_file(self, record: FileRecord) -> None:
        self._insert("files", record.model_dump())

    def get_file(self, file_id: str) -> FileRecord | None:
        rows = self._rows("SELECT * FROM files WHERE id = ?", file_id)
        return FileRecord(**rows[0]) if rows else None

    def list_files(self, purpose: str | None = None) -> list[FileRecord]:
        if purpose:
            rows = self._rows("SELECT * FROM files WHERE purpose = ? ORDER BY created_at DESC, rowid DESC", purpose)
        else:
            rows = self._rows("SELECT * FROM files ORDER BY created_at DESC, rowid DESC")
        return [FileRecord(**row) for row in rows]

    def update_file(self, file_id: str, **changes: Any) -> None:
        self._update("files", file_id, changes)

    def delete_file(self, file_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0

    # --- jobs ----------------------------------------------------------------------------------------------
    def add_job(self, record: JobRecord) -> JobRecord:
        with self.transaction() as db:
            next_seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            values = record.model_dump() | {"seq": next_seq}
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            db.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", [_encode(k, v) for k, v in values.items()])
        return record.model_copy(update={"seq": next_seq})

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", job_id)
        return JobRecord(**rows[0]) if rows else None

    def list_jobs(self, *, after: str | None = None, limit: int = 20) -> tuple[list[JobRecord], bool]:
        """Newest first; ``after`` is the id of the last job of the previous page."""
        before_seq = None
        if after is not None:
            anchor = self.get_job(after)
            before_seq = anchor.seq if anchor else None
        if before_seq is None:
            rows = self._rows("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", limit + 1)
        else:
            rows = self._rows("SELECT * FROM jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?", before_seq, limit + 1)
        return [JobRecord(**row) for row in rows[:limit]], len(rows) > limit

    def jobs_with_status(self, *statuses: str) -> list[JobRecord]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._rows(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY seq", *statuses)
        return [JobRecord(**row) for row in rows]

    def update_job(self, job_id: str, *, only_if_status: tuple[str, ...] = (), **changes: Any) -> bool:
        """Apply ``changes``; with ``only_if_status``, only while the job is in one of those states."""
        if only_if_status:
            marks = ", ".join("?" for _ in only_if_status)
            return self._update("jobs", job_id, changes, f"AND status IN ({marks})", only_if_status)
        return self._update("jobs", job_id, changes)

    def job_control(self, job_id: str) -> str | None:
        row = self._connection().execute("SELECT control FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    # --- events --------------------------------------------------------------------------------------------
    def add_event(
        self,
        job_id: str,
        event_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        self._insert(
            "events",
            {
                "id": event_id,
                "job_id": job_id,
                "created_at": now(),
                "level": level,
                "message": message,
                "type": type,
                "data": data,
            },
        )

    def list_events(self, job_id: str, *, after: str | None = None, limit: int = 20) -> tuple[list[EventRecord], bool]:
        """Newest first; ``after`` is the id of the last (oldest) event of the previous page."""
        query = "SELECT * FROM events WHERE job_id = ?"
        args: list[Any] = [job_id]
        if after is not None:
            query += " AND seq < COALESCE((SELECT seq FROM events WHERE id = ?), -1)"
            args.append(after)
        rows = self._rows(query + " ORDER BY seq DESC LIMIT ?", *args, limit + 1)
        return [EventRecord(**row) for row in rows[:limit]], len(rows) > limit

    def metrics_events(self, job_id: str) -> list[EventRecord]:
        rows = self._rows("SELECT * FROM events WHERE job_id = ? AND type = 'metrics' ORDER BY seq", job_id)
        return [EventRecord(**row) for row in rows]

    # --- checkpoints and models -------------------------------------------------------------------------------
    def add_checkpoint(self, record: CheckpointRecord) -> None:
        self._insert("checkpoints", record.model_dump())

    def list_checkpoints(
        self, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> tuple[list[CheckpointRecord], bool]:
        query = "SELECT * FROM checkpoints WHERE job_id = ?"
        args: list[Any] = [job_id]
        if after is not None:
            query += " AND step_number < COALESCE((SELECT step_number FROM checkpoints WHERE id = ?), -1)"
            args.append(after)
        rows = self._rows(query + " ORDER BY step_number DESC LIMIT ?", *args, limit + 1)
        return [CheckpointRecord(**row) for row in rows[:limit]], len(rows) > limit

    def add_model(self, record: ModelRecord) -> None:
        self._insert("models", record.model_dump())

    def get_model(self, model_id: str) -> ModelRecord | None:
        rows = self._rows("SELECT * FROM models WHERE id = ?", model_id)
        if rows:
            return ModelRecord(**rows[0])
        checkpoint = self._rows("SELECT * FROM checkpoints WHERE model_name = ?", model_id)
        if checkpoint:
            job = self.get_job(checkpoint[0]["job_id"])
            return ModelRecord(
                id=model_id,
                base_model=job.model if job else "",
                job_id=checkpoint[0]["job_id"],
                created_at=checkpoint[0]["created_at"],
                adapter_path=checkpoint[0]["path"],
            )
        return None

    def list_models(self) -> list[ModelRecord]:
        return [ModelRecord(**row) for row in self._rows("SELECT * FROM models ORDER BY created_at, rowid")]

    def delete_model(self, model_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM models WHERE id = ?", (model_id,)).rowcount > 0
