"""Connections to the DuckDB warehouse, encrypted at rest when a key is set.

With `CLEARLIST_ENCRYPTION_KEY` set, the warehouse file is opened through DuckDB's
database encryption (AES-GCM, `ATTACH ... (ENCRYPTION_KEY ...)`; 45 CFR
164.312(a)(2)(iv), R-SEC). DuckDB writes encrypted files only with the OpenSSL of its
httpfs extension, which the `duckdb-ext-httpfs` package ships; it is loaded from that
package's file, never downloaded. If it cannot load, the connection fails: there is no
fallback to an unencrypted or weaker mode.
"""

import importlib.resources
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT = "2GB"
ENCRYPTION_KEY_VAR = "CLEARLIST_ENCRYPTION_KEY"


class WarehouseEncryptionError(RuntimeError):
    """The warehouse cannot be opened with the encryption setting in force."""


@cache
def httpfs_extension() -> Path:
    """The httpfs extension file of the installed `duckdb-ext-httpfs` package.

    Raises:
        WarehouseEncryptionError: The package, or its build for this DuckDB version
            and platform, is not installed.
    """
    with duckdb.connect() as con:
        row = con.sql("pragma platform").fetchone()
    platform = row[0] if row else "unknown"
    try:
        base = importlib.resources.files("duckdb_ext")
    except ModuleNotFoundError:
        base = None
    path = (
        base
        / "extensions"
        / f"v{duckdb.__version__}"
        / platform
        / "httpfs.duckdb_extension"
        if base is not None
        else None
    )
    if path is None or not path.is_file():
        msg = (
            f"{ENCRYPTION_KEY_VAR} is set, but no httpfs extension for DuckDB"
            f" {duckdb.__version__} on {platform} is installed: install the"
            " duckdb-ext-httpfs package of the same version, or unset the key"
        )
        raise WarehouseEncryptionError(msg)
    return Path(str(path))


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    key = os.environ.get(ENCRYPTION_KEY_VAR)
    if not key:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.CatalogException as error:
            if "encrypted" not in str(error):
                raise
            msg = (
                f"the warehouse {path.name} is encrypted: set {ENCRYPTION_KEY_VAR}"
                " to its key"
            )
            raise WarehouseEncryptionError(msg) from None
    con = duckdb.connect(":memory:")
    try:
        extension = httpfs_extension()
        try:
            con.execute(f"load '{_literal(str(extension))}'")
        except duckdb.Error as error:
            msg = f"could not load the httpfs extension from {extension}: {error}"
            raise WarehouseEncryptionError(msg) from None
        options = f"encryption_key '{_literal(key)}'" + (
            ", read_only" if read_only else ""
        )
        try:
            con.execute(
                f"attach '{_literal(str(path))}' as \"{path.stem}\" ({options})"
            )
        except (duckdb.CatalogException, duckdb.IOException) as error:
            reason = str(error).splitlines()[0]
            msg = (
                f"cannot open the warehouse {path.name} with {ENCRYPTION_KEY_VAR}:"
                f" {reason}"
            )
            raise WarehouseEncryptionError(msg) from None
        con.execute(f'use "{path.stem}"')
    except BaseException:
        con.close()
        raise
    return con


def _literal(value: str) -> str:
    return value.replace("'", "''")


def encrypt_copy(source: Path, target: Path, key: str) -> None:
    """Write an encrypted copy of an unencrypted warehouse file.

    Raises:
        WarehouseEncryptionError: The httpfs extension cannot load.
        FileExistsError: `target` exists.
    """
    if target.exists():
        msg = f"{target} exists; encrypt into a new file"
        raise FileExistsError(msg)
    with duckdb.connect(":memory:") as con:
        con.execute(f"load '{_literal(str(httpfs_extension()))}'")
        con.execute(f"attach '{_literal(str(source))}' as plain (read_only)")
        con.execute(
            f"attach '{_literal(str(target))}' as sealed"
            f" (encryption_key '{_literal(key)}')"
        )
        con.execute("copy from database plain to sealed")


@contextmanager
def connect(
    path: Path, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse in UTC and close it when done.

    DuckDB allows one writing process at a time, so callers hold a connection only
    for the step that needs it. DuckDB's memory is capped at
    `CLEARLIST_DUCKDB_MEMORY_LIMIT` (default 2GB): a large batch spills to disk
    inside its transaction instead of growing with the batch. With
    `CLEARLIST_ENCRYPTION_KEY` set, the file is attached encrypted (see the module).

    Raises:
        WarehouseEncryptionError: The key does not open the file, the file is
            encrypted and no key is set, or the httpfs extension cannot load.
    """
    if read_only and not path.exists():
        msg = f"no warehouse at {path.name} yet: run `clearlist ingest` first"
        raise FileNotFoundError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only)
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(
            "set memory_limit = ?",
            [os.environ.get("CLEARLIST_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)],
        )
        yield con
    finally:
        con.close()
