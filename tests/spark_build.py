"""Build the dbt project on Spark (dbt-spark, session mode) from raw Parquet files.

Run by tests/test_spark.py in a child process whose working folder holds Spark's
metastore and warehouse, so that nothing of it outlives the test:

    python tests/spark_build.py RAW_DIR AS_OF OUT_DIR

Each `RAW_DIR/<table>.parquet` becomes `raw.<table>`; then `dbt build --target spark`
runs at `AS_OF`, and the models named in `COMPARED` are written to `OUT_DIR` as
Parquet for the test to compare with DuckDB's.
"""

import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
COMPARED = ("marts.eligibility", "marts.dim_persons")


def main(raw_dir: Path, as_of: str, out_dir: Path) -> None:
    """Load raw tables, build with dbt on Spark, and write the compared models."""
    # Imported here: pytest collects this folder with --doctest-modules.
    from dbt.cli.main import dbtRunner
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sql("create database if not exists raw")
    for path in sorted(raw_dir.glob("*.parquet")):
        spark.read.parquet(str(path)).write.mode("overwrite").saveAsTable(
            f"raw.{path.stem}"
        )
    os.environ["CLEARLIST_DBT_TARGET"] = "spark"
    # dbt-spark's session mode finds the session above through getOrCreate.
    result = dbtRunner().invoke(
        [
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target",
            "spark",
            "--target-path",
            str(Path.cwd() / "target"),
            "--log-path",
            str(Path.cwd() / "logs"),
            "--vars",
            json.dumps({"as_of": as_of}),
        ]
    )
    failed = [
        node.node.name
        for node in (result.result or [])
        if str(node.status) not in {"success", "pass"}
    ]
    (out_dir / "dbt.json").write_text(
        json.dumps({"success": result.success, "failed": failed})
    )
    for relation in COMPARED:
        spark.table(relation).write.mode("overwrite").parquet(
            str(out_dir / f"{relation}.parquet")
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
