"""The `userops` command: demo | check | load | parquet | publish | run | export | triggers | demo-responses.

userops demo --users 20000 --months 12 --seed 7 --out data/demo
userops check data/demo [--params params/default.yaml] [--mapping mapping.yaml] [--encoding gbk]
userops load data/demo --warehouse data/warehouse.duckdb [--params ...] [--mapping ...] [--encoding ...] [--quarantine]
             [--parquet-out data/warehouse.parquet]
userops parquet --warehouse data/warehouse.duckdb --out data/warehouse.parquet  (a loaded warehouse's --parquet-out)
userops publish data/warehouse.parquet --database userops [--params ...]  (into a Spark catalog database)
userops run [--month 2026-10] [--params params/default.yaml] [--keep-going] [--pseudonymise] [--engine spark]
            [--lanes 2]
userops export outputs/2026-10/notebooks/02_new_user_retention.ipynb out.pdf
userops triggers --date 2026-10-15 [--params ...] [--warehouse ...] [--out outputs/triggers]

--warehouse defaults to $USEROPS_WAREHOUSE, else data/warehouse.duckdb.
userops demo-responses --date 2026-10-15 --days 7 [--data data/demo] [--out data/demo-responses]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from userops.db import DEFAULT_WAREHOUSE, warehouse_path

DEFAULT_PARAMS = "params/default.yaml"
WAREHOUSE_HELP = f"DuckDB warehouse file (default: $USEROPS_WAREHOUSE, else {DEFAULT_WAREHOUSE})"
EXIT_BUSY = 4  # another run of the month, or a load replacing the warehouse: nothing was run


def _cmd_demo(a: argparse.Namespace) -> int:
    from userops.demo import generate

    t0 = time.perf_counter()
    manifest = generate(a.out, users=a.users, months=a.months, seed=a.seed, start=a.start, fmt=a.format)
    counts = manifest.get("counts", {})
    print(
        f"demo data in {a.out}: {counts.get('users', a.users):,} users, {counts.get('orders', 0):,} orders "
        f"({time.perf_counter() - t0:.1f} s); planted effects in {Path(a.out) / 'planted.json'}"
    )
    return 0


def _print_problems(problems) -> None:
    print(f"{len(problems)} data contract problem(s):", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)


def _print_notices(notices) -> None:
    if notices:
        print(f"{len(notices)} notice(s) (how the chain's own values are read; adjust params if wrong):")
        for n in notices:
            print(f"  - {n}")


def _load_options(a: argparse.Namespace, quarantine: bool = False):
    """LoadOptions from --params (the default file may be missing: defaults) and --mapping."""
    from userops.load import LoadOptions
    from userops.load_input import encoding_name
    from userops.mapping import load_mapping
    from userops.params import Params, load_params

    default = a.params == DEFAULT_PARAMS
    params = Params() if default and not Path(a.params).exists() else load_params(a.params)
    mapping = load_mapping(a.mapping) if a.mapping else {}
    if a.encoding:
        encoding_name(a.encoding)  # an unknown name is a usage error (ValueError)
    parquet_out = Path(a.parquet_out) if getattr(a, "parquet_out", None) else None
    return LoadOptions(
        params=params, mapping=mapping, quarantine=quarantine, encoding=a.encoding, parquet_out=parquet_out
    )


def _cmd_check(a: argparse.Namespace) -> int:
    try:
        return _check(a)
    except KeyboardInterrupt:  # Ctrl-C, also while a query runs or a module loads
        print("userops check: interrupted", file=sys.stderr)
        return 130


def _cmd_load(a: argparse.Namespace) -> int:
    try:
        return _load(a)
    except KeyboardInterrupt:  # Ctrl-C, also while a query runs or a module loads
        print(f"userops load: interrupted; nothing loaded: {a.warehouse} is unchanged", file=sys.stderr)
        return 130


def _check(a: argparse.Namespace) -> int:
    import duckdb

    from userops.load import OutOfMemory, check_data
    from userops.mapping import MappingError
    from userops.params import ParamsError

    try:
        v = check_data(a.dir, _load_options(a))
    except (MappingError, ParamsError, ValueError, OutOfMemory) as e:
        print(f"userops check: {e}", file=sys.stderr)
        return 2
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    _print_notices(v.notices)
    if v.errors:
        _print_problems(v.errors)
        if any(p.quarantinable for p in v.errors):
            print("row-level problems can be set aside with `userops load --quarantine`", file=sys.stderr)
        return 1
    print(f"{a.dir}: all files meet the data contract")
    return 0


def _load(a: argparse.Namespace) -> int:
    import duckdb

    from userops.load import ContractError, OutOfDisk, OutOfMemory, load_dir
    from userops.locks import LockBusy
    from userops.mapping import MappingError
    from userops.params import ParamsError

    t0 = time.perf_counter()
    try:
        report = load_dir(a.dir, a.warehouse, _load_options(a, quarantine=a.quarantine))
    except (MappingError, ParamsError, ValueError) as e:
        print(f"userops load: {e}", file=sys.stderr)
        return 2
    except (OutOfMemory, OutOfDisk) as e:
        print(f"userops load: {e}\nnothing loaded: {a.warehouse} is unchanged", file=sys.stderr)
        return 2
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except ContractError as e:
        _print_notices(e.notices)
        _print_problems(e.problems)
        print(f"nothing loaded: {a.warehouse} is unchanged", file=sys.stderr)
        return 1
    except LockBusy as e:  # runs still reading the warehouse, or another load
        print(f"userops load: {e}", file=sys.stderr)
        return EXIT_BUSY
    _print_notices(report.notices)
    loaded = ", ".join(f"{k} {v:,}" for k, v in report.rows.items() if k not in report.absent)
    print(f"loaded {a.warehouse} in {time.perf_counter() - t0:.1f} s: {loaded}")
    if a.parquet_out:
        print(f"input tables as Parquet (for engine spark): {a.parquet_out}")
    if report.rejected:
        aside = ", ".join(f"{k} {v:,}" for k, v in report.rejected.items())
        print(f"set aside (--quarantine): {aside} rows; rows and reasons in {report.rejects_file}")
    if report.absent:
        print(f"optional tables absent (their report sections say so): {', '.join(report.absent)}")
    return 0


def _cmd_parquet(a: argparse.Namespace) -> int:
    """`userops parquet`: the Parquet folder `load --parquet-out` writes, from a loaded warehouse."""
    from userops import parquet_tables
    from userops.locks import LockBusy

    if _missing_warehouse(a):
        return 2
    out = Path(a.out) if a.out else parquet_tables.default_folder(a.warehouse)
    try:
        names = parquet_tables.write_warehouse(a.warehouse, out)
    except LockBusy as e:
        print(f"userops parquet: {e}", file=sys.stderr)
        return EXIT_BUSY
    print(f"{len(names)} tables as Parquet (for engine spark): {out}")
    return 0


def _cmd_publish(a: argparse.Namespace) -> int:
    """`userops publish`: a load's Parquet folder saved as tables of a Spark catalog database (the
    session of params spark: master, remote, conf), which params spark.database then reads."""
    from userops import engine, parquet_tables
    from userops.params import ParamsError, load_params

    folder = Path(a.folder)
    if not (folder / parquet_tables.file_name("_load_info")).is_file():
        print(
            f"userops publish: {folder} holds no load's Parquet tables: write them with "
            f"`userops load DIR --parquet-out {folder}` or `userops parquet --out {folder}`",
            file=sys.stderr,
        )
        return 2
    try:
        params = load_params(a.params)
    except ParamsError as e:
        print(f"userops publish: {e}", file=sys.stderr)
        return 2
    spark = engine.spark_session(params.spark)
    try:
        names = engine.publish_tables(spark, folder, a.database)
    except ValueError as e:  # not a database name
        print(f"userops publish: {e}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(
        f"{len(names)} tables saved in the catalog database {a.database}: set params spark.database: {a.database}"
    )
    return 0


def _missing_warehouse(a: argparse.Namespace) -> bool:
    """Say so (before any lock is taken beside it) when the warehouse file does not exist."""
    if Path(a.warehouse).is_file():
        return False
    print(
        f"userops {a.command}: warehouse {a.warehouse} not found: build it with `userops load DIR` "
        "(or `make demo`), or point --warehouse / USEROPS_WAREHOUSE at it",
        file=sys.stderr,
    )
    return True


def _cmd_run(a: argparse.Namespace) -> int:
    """`userops run`; ``--lang`` and ``--engine`` set the report language and the query engine of
    this run only (environment variables, which the notebooks' kernels inherit)."""
    from userops.i18n import ENV_LANGUAGE
    from userops.locks import LockBusy, reading
    from userops.params import ENGINE_ENV

    if _missing_warehouse(a):
        return 2
    given = {ENV_LANGUAGE: a.lang, ENGINE_ENV: a.engine}
    before = {k: os.environ.get(k) for k in given}
    os.environ.update({k: v for k, v in given.items() if v})
    try:
        with reading(a.warehouse):  # month chosen and every notebook run on one snapshot
            return _run_locked(a)
    except LockBusy as e:
        print(f"userops run: {e}", file=sys.stderr)
        return EXIT_BUSY
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_locked(a: argparse.Namespace) -> int:
    from userops import engine, vocabulary
    from userops.db import connect, require_derived_tables, resolve_month
    from userops.lanes import resolve_lanes
    from userops.params import ParamsError, load_params
    from userops.runner import NotebookFailed, RunIncomplete, SnapshotChanged, run_playbook

    try:
        params = load_params(a.params)  # fail before any notebook starts
        with connect(a.warehouse) as con:
            require_derived_tables(con)
            month = resolve_month(con, a.month)
            for notice in vocabulary.require(con, params):  # VocabularyError: names the data lacks
                print(f"userops run: notice: {notice}", file=sys.stderr)
            if params.engine == "spark":  # the Parquet tables Spark reads are this warehouse's load
                engine.check_parquet(con, a.warehouse, params)
    except (ParamsError, ValueError, FileNotFoundError) as e:
        print(f"userops run: {e}", file=sys.stderr)
        return 2
    try:
        out = run_playbook(
            month,
            Path(a.warehouse),
            Path(a.params),
            out_root=Path(a.out),
            notebooks_dir=Path(a.notebooks),
            pdf=not a.no_pdf,
            only=a.only,
            keep_going=a.keep_going,
            pseudonymise=a.pseudonymise or params.privacy.pseudonymise_lists,
            summary=not a.no_summary,
            # Spark: each local kernel is a JVM of its own; one lane unless asked for more
            lanes=resolve_lanes(a.lanes, params.run.lanes, 1 if params.engine == "spark" else None),
            duckdb_settings=params.duckdb.model_dump(),
            first_alone=params.engine == "spark",  # the first kernel builds the derived tables
        )
    except RunIncomplete as e:  # --keep-going: the rest is published
        print(f"userops run incomplete: {e}", file=sys.stderr)
        return 3
    except (NotebookFailed, SnapshotChanged) as e:
        print(f"userops run failed: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as e:  # no notebooks, unknown --only name
        print(f"userops run: {e}", file=sys.stderr)
        return 2
    print(f"done: {out}")
    _print_carried_failures(out)
    return 0


def _print_carried_failures(run_dir: Path) -> None:
    """After an --only run: the plays that still stand failed from an earlier run of the month."""
    from userops import run_status

    status = run_status.read(run_dir)
    still = [f["notebook"] for f in status["failed"] if f["notebook"] in status["carried_over"]]
    if still:
        print(
            f"still failed from an earlier run of the month (not re-run): {', '.join(still)}", file=sys.stderr
        )


def _cmd_export(a: argparse.Namespace) -> int:
    from userops.export import ExportError, notebook_to_pdf

    try:
        print(notebook_to_pdf(Path(a.notebook), Path(a.pdf)))
    except (ExportError, FileNotFoundError) as e:
        print(f"userops export: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_triggers(a: argparse.Namespace) -> int:
    import datetime as dt

    import duckdb

    from userops import engine
    from userops.db import connect, data_range
    from userops.locks import LockBusy, reading
    from userops.outputs import pseudonym_dir
    from userops.params import ParamsError, load_params
    from userops.triggers import build_triggers, measure_triggers, summary, write_triggers

    if _missing_warehouse(a):
        return 2
    try:
        date = dt.date.fromisoformat(a.date)
        params = load_params(a.params)
        if a.engine:
            params = params.model_copy(update={"engine": a.engine})
        if params.engine == "spark":  # the Parquet tables Spark reads are this warehouse's load
            with connect(a.warehouse) as duck:
                engine.check_parquet(duck, a.warehouse, params)
        with reading(a.warehouse), engine.open_engine(a.warehouse, params) as con:
            lo, hi = data_range(con)
            if not lo <= date <= hi:
                raise ValueError(f"date {a.date} is outside the data (orders run {lo} to {hi})")
            pseudonyms = pseudonym_dir(a.warehouse)  # monthly lists written with pseudonyms are read back
            run = build_triggers(
                con, date, params, out_root=Path(a.out), monthly_root=Path(a.monthly), pseudonyms=pseudonyms
            )
            measured = measure_triggers(con, params, as_of=hi) if a.measure else None
    except (ParamsError, ValueError, FileNotFoundError) as e:
        print(f"userops triggers: {e}", file=sys.stderr)
        return 2
    except LockBusy as e:
        print(f"userops triggers: {e}", file=sys.stderr)
        return EXIT_BUSY
    except duckdb.CatalogException as e:  # a warehouse built by an older loader (no id maps)
        print(f"userops triggers: {e}\nrebuild the warehouse with `userops load DIR`", file=sys.stderr)
        return 2
    masked = a.pseudonymise or params.privacy.pseudonymise_lists
    paths = write_triggers(run, Path(a.out), pseudonyms if masked else None)
    print(summary(run))
    print(f"written: {paths[0].parent}/ ({len(paths)} files)")
    if measured is not None:
        print("trigger lists in the warehouse, each against its own holdout:")
        print(measured.to_string(index=False) if len(measured) else "  none with a completed window")
    return 0


def _cmd_demo_responses(a: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from userops.demo_triggers import DEFAULT_LIFTS, simulate_responses
    from userops.params import ParamsError, load_params

    try:
        first = dt.date.fromisoformat(a.date)
        params = load_params(a.params)
        lifts = dict(DEFAULT_LIFTS)
        for item in a.lift or []:
            name, _, value = item.partition("=")
            if name not in lifts:
                raise ValueError(f"--lift {item}: the list must be one of {sorted(lifts)}")
            lifts[name] = float(value)
        dates = [first + dt.timedelta(days=i) for i in range(a.days)]
        truth = simulate_responses(a.data, a.warehouse, dates, a.out, params, lifts, seed=a.seed)
    except (ParamsError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"userops demo-responses: {e}", file=sys.stderr)
        return 2
    print(json.dumps(truth["lists"], indent=1))
    print(
        f"export with the responses in {a.out} (truth: {Path(a.out) / 'trigger_responses.json'}); next: "
        f"userops load {a.out} --warehouse ... && userops triggers --date {dates[-1]} --measure --warehouse ..."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="userops", description="Retail user-operations playbook")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="generate the seeded demo data set (with planted effects)")
    d.add_argument("--users", type=int, default=20000)
    d.add_argument("--months", type=int, default=12)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--start", default="2025-11-01", help="first day of the data (YYYY-MM-01)")
    d.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    d.add_argument("--out", default="data/demo")
    d.set_defaults(func=_cmd_demo)

    c = sub.add_parser("check", help="validate CSV/Parquet files against the data contract")
    ld = sub.add_parser("load", help="validate and (re)build the warehouse atomically")
    for sp in (c, ld):
        sp.add_argument("dir")
        sp.add_argument(
            "--params", default=DEFAULT_PARAMS, help="data.timestamp_min, vocabulary roles, hero products"
        )
        sp.add_argument("--mapping", help="YAML: per table, source file, column renames and value maps")
        sp.add_argument(
            "--encoding",
            help="encoding of the CSV files (default UTF-8), e.g. gbk or gb18030: converted on read",
        )
    c.set_defaults(func=_cmd_check)
    ld.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    ld.add_argument(
        "--quarantine",
        action="store_true",
        help="set row-level problems aside (<warehouse>.rejects.csv) and load the rest",
    )
    ld.add_argument(
        "--parquet-out",
        metavar="DIR",
        help="also write the loaded input tables as Parquet into DIR (what `run --engine spark` reads; "
        "its default place is <warehouse>.parquet)",
    )
    ld.set_defaults(func=_cmd_load)

    pq = sub.add_parser(
        "parquet",
        help="write a loaded warehouse's input tables as Parquet, as `load --parquet-out` does (engine spark)",
    )
    pq.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    pq.add_argument(
        "--out", metavar="DIR", help="the folder (default: <warehouse>.parquet, where spark looks)"
    )
    pq.set_defaults(func=_cmd_parquet)

    pb = sub.add_parser(
        "publish",
        help="save a load's Parquet folder as tables of a Spark catalog database (params spark.database)",
    )
    pb.add_argument("folder", help="the folder of `userops load --parquet-out` (or `userops parquet`)")
    pb.add_argument(
        "--database", required=True, help="catalog database, created when absent (replaced tables)"
    )
    pb.add_argument("--params", default=DEFAULT_PARAMS, help="spark: master or remote, conf")
    pb.set_defaults(func=_cmd_publish)

    r = sub.add_parser(
        "run",
        help="run the playbook for a month into outputs/<month>/",
        description="Run the playbook for a month into <out>/<month>/. Exit 0 done, 1 a notebook failed "
        "(previous outputs kept), 2 bad input, 3 --keep-going with failures, 4 busy: another run of "
        "the month is in progress or a load is replacing the warehouse (nothing run).",
    )
    r.add_argument("--month", default="", help="YYYY-MM; default: the last complete month in the data")
    r.add_argument("--params", default=DEFAULT_PARAMS)
    r.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    r.add_argument("--out", default="outputs")
    r.add_argument("--notebooks", default="notebooks")
    r.add_argument("--only", nargs="*", help="notebook name prefixes to run (e.g. 02)")
    r.add_argument(
        "--no-summary",
        action="store_true",
        help="with --only: run just those notebooks, not the brief (00) too; the previous brief is "
        "carried over unchanged (for timing one notebook, as `make bench` does)",
    )
    r.add_argument("--no-pdf", action="store_true", help="skip the PDF export")
    r.add_argument(
        "--lanes",
        type=int,
        help="plays executed at once, sharing DuckDB's memory limit and threads (default: "
        "$USEROPS_RUN_LANES, else params run.lanes, else the machine's cores, at most 4); 1 = one after the other",
    )
    r.add_argument(
        "--lang", choices=["zh", "en"], help="report language (default: params report.language, zh)"
    )
    r.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        help="where the metric SQL runs (default: params engine, duckdb); spark reads the Parquet tables "
        "of `userops load --parquet-out` (params spark.parquet, else <warehouse>.parquet)",
    )
    r.add_argument(
        "--keep-going",
        action="store_true",
        help="run every notebook even after one fails, publish the ones that succeeded, exit 3",
    )
    r.add_argument(
        "--pseudonymise",
        action="store_true",
        help="target lists carry salted hashes instead of user and referrer ids (params "
        "privacy.pseudonymise_lists); the salt and the mapping back stay beside the warehouse "
        "(<warehouse>.pseudonyms/)",
    )
    r.set_defaults(func=_cmd_run)

    e = sub.add_parser("export", help="export an executed notebook to a PDF (no code)")
    e.add_argument("notebook")
    e.add_argument("pdf")
    e.set_defaults(func=_cmd_export)

    t = sub.add_parser("triggers", help="the day's trigger lists a CRM can send, after one contact plan")
    t.add_argument(
        "--date", required=True, help="YYYY-MM-DD: lists from the data as it stands after this day"
    )
    t.add_argument("--params", default=DEFAULT_PARAMS)
    t.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    t.add_argument("--out", default="outputs/triggers", help="lists go to <out>/<date>/")
    t.add_argument(
        "--monthly",
        default="outputs",
        help="monthly runs' folder: last month's targets/ lists join the contact plan",
    )
    t.add_argument(
        "--measure", action="store_true", help="also report earlier trigger lists' effects against holdouts"
    )
    t.add_argument(
        "--pseudonymise",
        action="store_true",
        help="the lists carry salted hashes instead of user ids (params privacy.pseudonymise_lists); "
        "the mappings stay beside the warehouse (<warehouse>.pseudonyms/triggers-<date>/)",
    )
    t.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default=None,
        help="where the trigger SQL runs (default: params engine, duckdb); spark reads the Parquet "
        "tables of `userops load --parquet-out` (params spark.parquet, else <warehouse>.parquet)",
    )
    t.set_defaults(func=_cmd_triggers)

    dr = sub.add_parser(
        "demo-responses",
        help="demo: simulate responses to days of trigger lists with a planted lift per list",
    )
    dr.add_argument("--date", required=True, help="YYYY-MM-DD: the first day whose lists are built")
    dr.add_argument("--days", type=int, default=7, help="consecutive days of lists")
    dr.add_argument("--data", default="data/demo", help="the demo export the warehouse was loaded from")
    dr.add_argument("--warehouse", default=None, help=WAREHOUSE_HELP)
    dr.add_argument("--params", default=DEFAULT_PARAMS)
    dr.add_argument("--out", default="data/demo-responses", help="the export with the responses")
    dr.add_argument("--lift", action="append", help="LIST=VALUE: planted lift of a list (repeatable)")
    dr.add_argument("--seed", type=int, default=3)
    dr.set_defaults(func=_cmd_demo_responses)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "warehouse"):  # --warehouse, else $USEROPS_WAREHOUSE, else the default
        args.warehouse = str(warehouse_path(args.warehouse))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
