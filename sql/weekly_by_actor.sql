-- kind: view
-- Incidents per ISO week (Monday start), actor, governorate and event type; an incident counts once for each distinct actor it involves, so do not add up across actors.
SELECT
    CAST(w.week_start AS DATE)                          AS week_start,
    CAST(isoyear(w.week_start) AS BIGINT)               AS iso_year,
    CAST(week(w.week_start) AS BIGINT)                  AS iso_week,
    CAST(w.actor AS VARCHAR)                            AS actor,
    CAST(w.admin1 AS VARCHAR)                           AS admin1,
    CAST(w.event_type AS VARCHAR)                       AS event_type,
    CAST(count(*) AS BIGINT)                            AS incidents,
    CAST(coalesce(sum(w.fatalities_low), 0) AS BIGINT)  AS fatalities_low,
    CAST(coalesce(sum(w.fatalities_best), 0) AS BIGINT) AS fatalities_best,
    CAST(coalesce(sum(w.fatalities_high), 0) AS BIGINT) AS fatalities_high
FROM (
    SELECT DISTINCT
        i.incident_id,
        CAST(date_trunc('week', i.event_date) AS DATE) AS week_start,
        act.actor, i.admin1, i.event_type, i.fatalities_low, i.fatalities_best, i.fatalities_high
    FROM incidents AS i
    CROSS JOIN LATERAL (SELECT i.actor1 AS actor UNION ALL SELECT i.actor2) AS act
    WHERE i.event_date IS NOT NULL AND act.actor IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM quarantine AS q
          WHERE q.table_name = 'incidents' AND q.row_id = i.incident_id AND q.severity = 'critical'
      )
) AS w
GROUP BY w.week_start, w.actor, w.admin1, w.event_type
ORDER BY week_start, actor, admin1 NULLS LAST, event_type
