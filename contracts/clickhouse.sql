-- clickhouse.sql: ci-tools log entries in ClickHouse, and views that answer
-- in SQL what ci-report answers from the files. Load it once:
--
--     clickhouse-client --multiquery < contracts/clickhouse.sql
--
-- then ship logs with ci-ship(1), or by hand:
--
--     ci-report --format clickhouse logs/ci-*.log |
--         clickhouse-client --query 'INSERT INTO ci.entries FORMAT JSONEachRow'
--
-- Every statement runs on ClickHouse 18.16 (Debian bookworm's package). It
-- avoids what came later: the JSON object type and Map (nested objects are
-- flattened into columns instead), DateTime64 (the time is ts_ms, UInt64
-- milliseconds, beside time, a DateTime in seconds), LowCardinality (still
-- experimental in 18.16: Enum8 and plain strings instead), DEFAULT
-- expressions for fields a JSON row leaves out (18.16 fills those with the
-- type's default, 0, '', [] or NULL, which is what an absent field means
-- here, so ci-report leaves out what an entry does not have), window
-- functions (the health views sort each series into an array and take
-- ranks of it, and find the latest run with a scalar subquery), and the
-- <clickhouse> root of newer config files (18.16 wants <yandex>). A MATERIALIZED time would save the rows a field, but
-- 18.16 refuses an insert through a Distributed table into a table with one.
--
-- Shipping twice never counts twice. The key of a row is a hash of the
-- entry's line (the same entry always gives the same key), the table is a
-- ReplacingMergeTree whose sorting key ends with that key, and every view
-- reads the table FINAL: rows that share run_id, ts_ms and key are one row
-- to the views at once, and become one row on disk when the parts merge.
-- A log that grew since it was shipped can be shipped whole again: the
-- entries already stored replace themselves. Two identical lines in a log
-- (the same run, millisecond, step, source line and message) are one entry
-- here, where ci-report counts two.
--
-- The views, each answering as ci-report does (the tests compare them):
--   ci.runs, ci.steps, ci.test_suites    per run, as ci-report --format json
--   ci.step_durations, ci.test_health    per step, per suite, across runs
--   ci.errors                            by source_file:line_number
--   ci.health                            per step and suite across runs, as
--                                        ci-report --trends: rates, p50, p95,
--                                        the latest run, regressions
--   ci.case_runs, ci.test_cases          test cases, per run and across runs
--
-- A cluster: see "Distributed variant" at the end of this file.

CREATE DATABASE IF NOT EXISTS ci;

-- One row per valid log entry (contracts/log-schema.json). The seed's
-- fields keep their names; the optional objects are flattened, with a has_
-- flag saying whether the entry carries one (absent fields read 0 or ''):
--   run_start       -> run_start_time, run_start_profile, run_start_triggered_by
--   test_execution  -> test_type and test_<field> for its other fields
--   pipeline_run    -> pipeline_<field>; steps_completed an Array(String)
--   test_execution.cases -> case_<field>: one Array column per field of a
--                      case, in the log's order, the i-th element of each
--                      the i-th case (an attempt has up to 10,000); its
--                      cases_omitted -> test_cases_omitted (a case's
--                      message_cut is not kept)
-- The cases stay in their entry's row, not in a table of their own: the
-- row's key, the engine and FINAL keep shipping twice from counting them
-- twice as they do for everything else, one insert stores them, and on a
-- cluster they land on their run's shard. ARRAY JOIN gives one row per case:
--
--     SELECT run_id, test_type, c, s FROM ci.entries FINAL
--     ARRAY JOIN case_name AS c, case_status AS s WHERE s = 'failed'
--
-- Partitioned by month of the entry's time. Sorted by run id first: a run id
-- starts with its UTC start time (run-YYYYMMDD-HHMMSS-xxxxxx), so the same
-- order serves per-run queries (a prefix of the key) and per-time queries
-- (month partitions, then run ids in time order).
CREATE TABLE IF NOT EXISTS ci.entries
(
    key UInt64,                     -- FNV-1a of the entry's line
    run_id String,
    timestamp String,               -- as written, with its fraction
    ts_ms UInt64,                   -- the same, Unix epoch milliseconds
    time DateTime('UTC'),           -- the same, whole seconds
    level Enum8('info' = 0, 'warn' = 1, 'error' = 2),
    message String,
    source_file String,
    line_number UInt32,
    function_name String,
    step_name String,
    duration_ms Nullable(UInt64),   -- completion entries only
    exit_code Nullable(UInt8),
    continued UInt8,
    has_run_start UInt8,
    run_start_time UInt32,
    run_start_profile String,
    run_start_triggered_by String,
    has_test_execution UInt8,
    test_type String,
    test_attempt_number UInt32,
    test_status String,             -- passed, failed, skipped
    test_duration UInt32,
    test_failure_count UInt32,
    test_started_at UInt32,
    test_completed_at UInt32,
    test_run_in_parallel UInt8,
    test_fallback_to_serial UInt8,
    test_cases_omitted UInt32,
    case_name Array(String),
    case_classname Array(String),   -- '' when the case has none (TAP)
    case_status Array(Enum8('passed' = 0, 'failed' = 1, 'skipped' = 2)),
    case_duration_ms Array(Nullable(UInt64)), -- NULL: the suite gave none
    case_message Array(String),     -- a failed case's first lines, or ''
    has_pipeline_run UInt8,
    pipeline_start_time UInt32,
    pipeline_end_time UInt32,
    pipeline_duration UInt32,
    pipeline_exit_code UInt8,
    pipeline_profile String,
    pipeline_triggered_by String,
    pipeline_steps_completed Array(String),
    -- contracts/entries.md: whether a completion entry's step succeeded
    -- (test_execution's status, else exit_code, else the level); -1 for an
    -- entry that closes no step.
    succeeded Int8 ALIAS if(isNull(duration_ms), -1,
        if(has_test_execution = 1, test_status = 'passed',
        if(isNotNull(exit_code), assumeNotNull(exit_code) = 0,
        level != 'error')))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (run_id, ts_ms, key);

-- The seed's Pipeline Run, one row per run, as ci-report --format json
-- gives it (contracts/report-schema.json): from the complete entry's
-- pipeline_run, else derived from the run's entries (start_time from the
-- init entry's run_start, else the earliest entry; steps_completed the
-- steps that succeeded, by time of first success); exit_code, profile and
-- triggered_by NULL when no entry gives them; first_ms the time of its first
-- entry.
CREATE VIEW IF NOT EXISTS ci.runs AS
SELECT
    run_id,
    toUInt64(if(has_start = 1, start_ts,
        if(has_pipeline = 1, p_start, intDiv(first_ms, 1000)))) AS start_time,
    toUInt64(if(has_pipeline = 1, p_end, intDiv(last_ms, 1000))) AS end_time,
    toUInt64(if(has_pipeline = 1, p_duration,
        greatest(toInt64(end_time) - toInt64(start_time), 0))) AS duration,
    if(has_pipeline = 1, p_exit, NULL) AS exit_code,
    if(has_start = 1, start_profile,
        if(has_pipeline = 1, p_profile, NULL)) AS profile,
    if(has_start = 1, start_trigger,
        if(has_pipeline = 1, p_trigger, NULL)) AS triggered_by,
    if(has_pipeline = 1, p_steps,
        arrayFilter((s, i) -> indexOf(ok_steps, s) = i,
            ok_steps, arrayEnumerate(ok_steps))) AS steps_completed,
    has_pipeline AS complete,
    if(has_pipeline = 0, 'incomplete',
        if(p_exit = 0, 'passed', 'failed')) AS result,
    entries,
    error_count,
    warning_count,
    first_ms
FROM
(
    SELECT
        run_id,
        max(has_run_start) AS has_start,
        argMinIf(run_start_time, ts_ms, has_run_start = 1) AS start_ts,
        argMinIf(run_start_profile, ts_ms, has_run_start = 1) AS start_profile,
        argMinIf(run_start_triggered_by, ts_ms, has_run_start = 1)
            AS start_trigger,
        max(has_pipeline_run) AS has_pipeline,
        argMaxIf(pipeline_start_time, ts_ms, has_pipeline_run = 1) AS p_start,
        argMaxIf(pipeline_end_time, ts_ms, has_pipeline_run = 1) AS p_end,
        argMaxIf(pipeline_duration, ts_ms, has_pipeline_run = 1) AS p_duration,
        argMaxIf(pipeline_exit_code, ts_ms, has_pipeline_run = 1) AS p_exit,
        argMaxIf(pipeline_profile, ts_ms, has_pipeline_run = 1) AS p_profile,
        argMaxIf(pipeline_triggered_by, ts_ms, has_pipeline_run = 1)
            AS p_trigger,
        argMaxIf(pipeline_steps_completed, ts_ms, has_pipeline_run = 1)
            AS p_steps,
        arrayMap(x -> tupleElement(x, 2),
            arraySort(groupArrayIf((ts_ms, step_name), succeeded = 1)))
            AS ok_steps,
        min(ts_ms) AS first_ms,
        max(ts_ms) AS last_ms,
        count() AS entries,
        countIf(level = 'error') AS error_count,
        countIf(level = 'warn') AS warning_count
    FROM ci.entries FINAL
    GROUP BY run_id
);

-- The steps of each run, as in ci-report's report (init and complete, which
-- open and close a run, left out): passed when a completion entry
-- succeeded, failed when none did (skipped when it is the step test-TYPE of
-- a suite TYPE that never ran: every attempt skipped), unfinished when it
-- has none; the
-- durations of its completions added; the exit code of its last completion
-- that has one; how many of its completions failed.
CREATE VIEW IF NOT EXISTS ci.steps AS
SELECT
    run_id,
    name,
    if(oks > 0, 'passed', if(completions > 0,
        if(suite_attempts > 0 AND suite_ran = 0, 'skipped', 'failed'),
        'unfinished')) AS status,
    toUInt64(if(completions > 0 AND c_start < first_ms, c_start, first_ms))
        AS start_ms,
    if(completions > 0, c_end, NULL) AS end_ms,
    if(completions > 0, total_ms, NULL) AS duration_ms,
    if(has_exit = 1, last_exit, NULL) AS exit_code,
    completions,
    failures
FROM
(
    SELECT
        run_id,
        step_name AS name,
        countIf(succeeded = 1) AS oks,
        countIf(succeeded >= 0) AS completions,
        countIf(succeeded = 0) AS failures,
        toInt64(min(ts_ms)) AS first_ms,
        minIf(greatest(toInt64(ts_ms) - toInt64(assumeNotNull(duration_ms)),
            0), succeeded >= 0) AS c_start,
        maxIf(ts_ms, succeeded >= 0) AS c_end,
        sumIf(assumeNotNull(duration_ms), succeeded >= 0) AS total_ms,
        max(succeeded >= 0 AND isNotNull(exit_code)) AS has_exit,
        argMaxIf(assumeNotNull(exit_code), ts_ms,
            succeeded >= 0 AND isNotNull(exit_code)) AS last_exit,
        countIf(is_suite) AS suite_attempts,
        countIf(is_suite AND test_status != 'skipped') AS suite_ran
    FROM
    (
        SELECT *, has_test_execution = 1 AND isNotNull(duration_ms)
            AND substring(step_name, 1, 5) = 'test-'
            AND test_type = substring(step_name, 6) AS is_suite,
            succeeded
        FROM ci.entries FINAL
    )
    WHERE step_name NOT IN ('init', 'complete')
    GROUP BY run_id, step_name
);

-- Percentiles are nearest rank, as in ci-report --trends: the p-th
-- percentile of n values is the value at rank ceil(p * n / 100) of them
-- sorted, a value that was seen, the smallest with at least p% of the
-- values at or below it (for two runs the p50 is the shorter). Not
-- quantileExact, which takes the value at rank floor(p * n / 100) + 1 (for
-- two runs the longer), nor quantile, which samples: each view sorts the
-- values (arraySort of groupArray) and takes the rank, in whole numbers,
-- intDiv(n * p + 99, 100).

-- Step durations across runs: in how many runs each step completed, and
-- the median (p50), p95 and longest of its duration in a run.
CREATE VIEW IF NOT EXISTS ci.step_durations AS
SELECT
    name,
    runs,
    arrayElement(d, intDiv(runs * 50 + 99, 100)) AS p50_ms,
    arrayElement(d, intDiv(runs * 95 + 99, 100)) AS p95_ms,
    arrayElement(d, runs) AS max_ms
FROM
(
    SELECT name, count() AS runs,
        arraySort(groupArray(assumeNotNull(duration_ms))) AS d
    FROM ci.steps
    WHERE completions > 0
    GROUP BY name
);

-- Test suites of each run, as in ci-report's report: attempts, retries, the
-- status of the last attempt, flaky (passed on a retry after a failed
-- attempt), whether an attempt fell back to serial execution, the failures
-- its attempts counted, the durations of its attempts added.
CREATE VIEW IF NOT EXISTS ci.test_suites AS
SELECT
    run_id,
    test_type,
    status,
    attempts,
    attempts - 1 AS retries,
    toUInt8(failed_attempts > 0 AND status = 'passed') AS flaky,
    fallback_to_serial,
    failures,
    total_ms AS duration_ms
FROM
(
    SELECT
        run_id,
        test_type,
        argMax(test_status, (test_attempt_number, ts_ms)) AS status,
        count() AS attempts,
        countIf(test_status = 'failed') AS failed_attempts,
        max(test_fallback_to_serial) AS fallback_to_serial,
        sum(test_failure_count) AS failures,
        sum(assumeNotNull(duration_ms)) AS total_ms
    FROM ci.entries FINAL
    WHERE has_test_execution = 1 AND isNotNull(duration_ms)
    GROUP BY run_id, test_type
);

-- Test suites across runs: the runs that ran each suite, its attempts, how
-- many runs it was flaky in, fell back to serial in, and failed in, and
-- the failure rate (runs it failed in / runs that ran it).
CREATE VIEW IF NOT EXISTS ci.test_health AS
SELECT
    test_type,
    count() AS runs,
    sum(attempts) AS attempts,
    sum(flaky) AS flaky,
    sum(fallback_to_serial) AS serial_fallbacks,
    countIf(status = 'failed') AS failed,
    failed / runs AS failure_rate
FROM ci.test_suites
GROUP BY test_type;

-- Where errors come from: error entries by source_file:line_number, with
-- the runs they were seen in, the first and last time, the last message.
CREATE VIEW IF NOT EXISTS ci.errors AS
SELECT
    concat(source_file, ':', toString(line_number)) AS location,
    source_file,
    line_number,
    count() AS errors,
    uniqExact(run_id) AS runs,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    argMax(message, ts_ms) AS last_message
FROM ci.entries FINAL
WHERE level = 'error'
GROUP BY source_file, line_number;

-- Health across runs, as ci-report --trends gives it (its "steps" and
-- "suites"): for each step and each test suite, the runs it was seen in,
-- those it failed in (a step none of whose completions succeeded, a suite
-- whose last attempt failed) and was flaky in (a step with a failed and a
-- successful completion, a suite that failed, then passed), their rates,
-- the p50 and p95 of its duration in a run (nearest rank), its duration in
-- the latest run (NULL when that run did not have it), and regression: the
-- latest run's duration is above both the p95 and 1.2 times the median of
-- at least 5 earlier runs. Runs are in the order they started (start_time,
-- in seconds); runs that started in the same second are in the order of
-- their first entries (first_ms), then of their ids, where ci-report takes
-- them in the order it read them: the same order for logs read oldest
-- first, as logs/ci-*.log sorts them. No window function is
-- needed (18.16 has none): the latest run is a scalar subquery, and each
-- series' durations are sorted in an array.
CREATE VIEW IF NOT EXISTS ci.health AS
SELECT
    kind,
    name,
    runs,
    failed,
    flaky,
    failed / runs AS failure_rate,
    flaky / runs AS flaky_rate,
    arrayElement(d, intDiv(runs * 50 + 99, 100)) AS p50_ms,
    arrayElement(d, intDiv(runs * 95 + 99, 100)) AS p95_ms,
    if(in_latest = 1, latest, NULL) AS latest_ms,
    toUInt8(in_latest = 1 AND length(e) >= 5
        AND latest > arrayElement(e, intDiv(length(e) * 95 + 99, 100))
        AND latest > 1.2 * arrayElement(e, intDiv(length(e) * 50 + 99, 100)))
        AS regression
FROM
(
    SELECT
        kind,
        name,
        count() AS runs,
        sum(f) AS failed,
        sum(fl) AS flaky,
        arraySort(groupArray(ms)) AS d,
        max(run_id = latest_run) AS in_latest,
        anyIf(ms, run_id = latest_run) AS latest,
        arraySort(groupArrayIf(ms, run_id != latest_run)) AS e
    FROM
    (
        SELECT 'step' AS kind, name, run_id, toUInt8(status != 'passed') AS f,
            toUInt8(status = 'passed' AND failures > 0) AS fl,
            toUInt64(assumeNotNull(duration_ms)) AS ms,
            (SELECT argMax(run_id, (start_time, first_ms, run_id)) FROM ci.runs)
                AS latest_run
        FROM ci.steps
        WHERE completions > 0
        UNION ALL
        SELECT 'suite' AS kind, test_type AS name, run_id,
            toUInt8(status = 'failed') AS f, toUInt8(flaky) AS fl,
            toUInt64(duration_ms) AS ms,
            (SELECT argMax(run_id, (start_time, first_ms, run_id)) FROM ci.runs)
                AS latest_run
        FROM ci.test_suites
    )
    GROUP BY kind, name
);

-- Test cases of each run: one row per case of a suite (its full name,
-- classname.name, or name alone), over the suite's attempts: how many of
-- them had it, its status on the last of them, whether it failed on any,
-- flaky (failed on an attempt, passed on the last), its duration on the
-- last (NULL when the suite gave none), and when the run started (its
-- start_time and first_ms, for the order of runs).
CREATE VIEW IF NOT EXISTS ci.case_runs AS
SELECT
    run_id,
    test_type,
    name,
    attempts,
    status,
    failed_attempts,
    toUInt8(failed_attempts > 0 AND status != 'failed') AS flaky,
    if(ms < 0, NULL, ms) AS duration_ms,
    start_time,
    first_ms
FROM
(
    SELECT
        run_id,
        test_type,
        if(c_class = '', c_name, concat(c_class, '.', c_name)) AS name,
        count() AS attempts,
        argMax(c_status, (test_attempt_number, ts_ms, i)) AS status,
        countIf(c_status = 'failed') AS failed_attempts,
        argMax(ifNull(toInt64(c_ms), -1), (test_attempt_number, ts_ms, i))
            AS ms
    FROM ci.entries FINAL
    ARRAY JOIN case_name AS c_name, case_classname AS c_class,
        case_status AS c_status, case_duration_ms AS c_ms,
        arrayEnumerate(case_name) AS i
    WHERE has_test_execution = 1 AND isNotNull(duration_ms)
    GROUP BY run_id, test_type, name
)
ANY LEFT JOIN (SELECT run_id, start_time, first_ms FROM ci.runs) USING run_id;

-- Test cases across runs, as ci-report --trends counts them: the runs that
-- had each case, those it failed in (on its last attempt) and was flaky in,
-- their rates, the p50 and p95 of its duration over the runs that gave one
-- (NULL when none did), and, for a case that failed in the latest run,
-- latest_kind: 'new failure' (it never failed, on any attempt, in an
-- earlier run), 'already failing' (it failed in the last earlier run that
-- had it) or 'flaky'; NULL for the others. The latest run and the order of
-- runs are those of ci.health.
CREATE VIEW IF NOT EXISTS ci.test_cases AS
SELECT
    test_type,
    name,
    runs,
    failed,
    flaky,
    failed / runs AS failure_rate,
    flaky / runs AS flaky_rate,
    if(length(d) = 0, NULL, arrayElement(d, intDiv(length(d) * 50 + 99, 100)))
        AS p50_ms,
    if(length(d) = 0, NULL, arrayElement(d, intDiv(length(d) * 95 + 99, 100)))
        AS p95_ms,
    if(latest_failed = 0, NULL,
        if(ever_failed = 0, 'new failure',
        if(last_failed = 1, 'already failing', 'flaky'))) AS latest_kind
FROM
(
    SELECT
        test_type,
        name,
        count() AS runs,
        countIf(status = 'failed') AS failed,
        sum(flaky) AS flaky,
        arraySort(groupArrayIf(assumeNotNull(duration_ms),
            isNotNull(duration_ms))) AS d,
        max(run_id = latest_run AND status = 'failed') AS latest_failed,
        max(run_id != latest_run AND failed_attempts > 0) AS ever_failed,
        argMaxIf(status = 'failed', (start_time, first_ms, run_id),
            run_id != latest_run) AS last_failed
    FROM
    (
        SELECT *,
            (SELECT argMax(run_id, (start_time, first_ms, run_id)) FROM ci.runs)
                AS latest_run
        FROM ci.case_runs
    )
    GROUP BY test_type, name
);

-- Distributed variant, for a cluster. Load this file on every server, then
-- run on every server:
--
--     RENAME TABLE ci.entries TO ci.entries_local;
--     CREATE TABLE ci.entries AS ci.entries_local
--     ENGINE = Distributed(CLUSTER, ci, entries_local, cityHash64(run_id));
--
-- with CLUSTER the name of the cluster in the servers' remote_servers
-- section. Each server keeps its shard in ci.entries_local; ci.entries
-- spreads the rows it is given over the shards by run id, so that every
-- copy of an entry lands on the same shard, where FINAL (which 18.16 applies
-- on each shard) sees it once: the sharding key must be the run id, or the
-- entry key, never rand(). The views, unchanged, read ci.entries, so each
-- answers for the whole cluster on any server; ci-ship ships to any server.
-- The tests run this on a cluster of one shard. For replicas, create
-- ci.entries_local instead with the engine
-- ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ci/entries',
-- '{replica}') and the same PARTITION BY and ORDER BY (it needs ZooKeeper).
