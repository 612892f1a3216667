"""The warehouse encrypted at rest: unreadable without the key, and dbt still builds."""

import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines import env
from pipelines.lib.warehouse import (
    WarehouseEncryptionError,
    connect,
    encrypt_copy,
    httpfs_extension,
)
from tests.conftest import DemoHome

KEY = "correct horse battery staple"


@pytest.fixture(scope="module")
def sealed(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An encrypted copy of the demo warehouse."""
    target = tmp_path_factory.mktemp("sealed") / "warehouse.duckdb"
    encrypt_copy(demo_home.warehouse, target, KEY)
    return target


def _count(path: Path) -> int:
    with connect(path, read_only=True) as con:
        return con.sql("select count(*) from marts.dim_persons").fetchone()[0]


def test_the_file_opens_with_the_key_only(
    demo_home: DemoHome, sealed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLEARLIST_ENCRYPTION_KEY", raising=False)
    plain_people = _count(demo_home.warehouse)
    assert plain_people > 0
    with pytest.raises(WarehouseEncryptionError, match="is encrypted"):
        _count(sealed)
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect(str(sealed), read_only=True)
    # Not even the names of the tables are readable in the file.
    assert b"dim_persons" in demo_home.warehouse.read_bytes()
    assert b"dim_persons" not in sealed.read_bytes()

    monkeypatch.setenv("CLEARLIST_ENCRYPTION_KEY", "not the key")
    with pytest.raises(WarehouseEncryptionError, match="Wrong encryption key"):
        _count(sealed)
    monkeypatch.setenv("CLEARLIST_ENCRYPTION_KEY", KEY)
    assert _count(sealed) == plain_people
    with pytest.raises(WarehouseEncryptionError, match="not encrypted"):
        _count(demo_home.warehouse)


def test_no_fallback_when_the_extension_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_package(name: str) -> None:
        raise ModuleNotFoundError(name)

    monkeypatch.setenv("CLEARLIST_ENCRYPTION_KEY", KEY)
    monkeypatch.setattr(importlib.resources, "files", no_package)
    httpfs_extension.cache_clear()
    target = tmp_path / "new.duckdb"
    try:
        with pytest.raises(WarehouseEncryptionError, match="duckdb-ext-httpfs"):
            with connect(target):
                pass
    finally:
        httpfs_extension.cache_clear()
    assert not target.exists()


def test_dbt_builds_on_the_encrypted_file(
    sealed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEARLIST_ENCRYPTION_KEY", KEY)
    with connect(sealed) as con:
        con.execute("drop table rules.disclosure_accounting")
    environment = {
        **os.environ,
        "CLEARLIST_WAREHOUSE": str(sealed),
        "CLEARLIST_HTTPFS_EXTENSION": str(httpfs_extension()),
    }
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [
            str(dbt),
            "seed",
            "--select",
            "disclosure_accounting",
            "--target",
            "duckdb_encrypted",
            "--project-dir",
            str(env.DBT_PROJECT_DIR),
            "--profiles-dir",
            str(env.DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    with connect(sealed, read_only=True) as con:
        purposes = con.sql("select count(*) from rules.disclosure_accounting")
        assert purposes.fetchone()[0] > 0
    monkeypatch.delenv("CLEARLIST_ENCRYPTION_KEY")
    with pytest.raises(WarehouseEncryptionError):
        _count(sealed)
