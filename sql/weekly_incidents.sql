-- kind: table
-- Incidents per ISO week (Monday start), governorate, district and event type, with the sums of their figures.
SELECT
    CAST(w.week_start AS DATE)                          AS week_start,
    CAST(isoyear(w.week_start) AS BIGINT)               AS iso_year,
    CAST(week(w.week_start) AS BIGINT)                  AS iso_week,
    CAST(w.admin1 AS VARCHAR)                           AS admin1,
    CAST(w.admin2 AS VARCHAR)                           AS admin2,
    CAST(w.event_type AS VARCHAR)                       AS event_type,
    CAST(count(*) AS BIGINT)                            AS incidents,
    CAST(coalesce(sum(w.fatalities_low), 0) AS BIGINT)  AS fatalities_low,
    CAST(coalesce(sum(w.fatalities_best), 0) AS BIGINT) AS fatalities_best,
    CAST(coalesce(sum(w.fatalities_high), 0) AS BIGINT) AS fatalities_high,
    CAST(coalesce(sum(w.wounded_best), 0) AS BIGINT)    AS wounded,
    CAST(coalesce(sum(w.n_reports), 0) AS BIGINT)       AS n_reports
FROM (
    SELECT
        CAST(date_trunc('week', i.event_date) AS DATE) AS week_start,
        i.admin1, i.admin2, i.event_type,
        i.fatalities_low, i.fatalities_best, i.fatalities_high, i.wounded_best, i.n_reports
    FROM incidents AS i
    WHERE i.event_date IS NOT NULL
      -- rows the quality gate held back (critical) are never aggregated
      AND NOT EXISTS (
          SELECT 1 FROM quarantine AS q
          WHERE q.table_name = 'incidents' AND q.row_id = i.incident_id AND q.severity = 'critical'
      )
) AS w
GROUP BY w.week_start, w.admin1, w.admin2, w.event_type
ORDER BY week_start, admin1 NULLS LAST, admin2 NULLS LAST, event_type
