-- kind: view
-- ACLED-compatible weekly aggregates: weeks start on Saturday; fatalities are the conservative (low) figures, as ACLED codes them.
SELECT
    CAST(w.week AS DATE)                               AS week,
    CAST(w.admin1 AS VARCHAR)                          AS admin1,
    CAST(w.event_type AS VARCHAR)                      AS event_type,
    CAST(w.sub_event_type AS VARCHAR)                  AS sub_event_type,
    CAST(count(*) AS BIGINT)                           AS events,
    CAST(coalesce(sum(w.fatalities_low), 0) AS BIGINT) AS fatalities,
    CAST(avg(w.lat) AS DOUBLE)                         AS centroid_latitude,
    CAST(avg(w.lon) AS DOUBLE)                         AS centroid_longitude
FROM (
    SELECT
        -- shift by two days so that Saturday falls on Monday, truncate to the ISO week, shift back
        CAST(date_trunc('week', i.event_date + INTERVAL 2 DAY) - INTERVAL 2 DAY AS DATE) AS week,
        i.admin1, i.event_type, i.sub_event_type, i.fatalities_low, i.lat, i.lon
    FROM incidents AS i
    WHERE i.event_date IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM quarantine AS q
          WHERE q.table_name = 'incidents' AND q.row_id = i.incident_id AND q.severity = 'critical'
      )
) AS w
GROUP BY w.week, w.admin1, w.event_type, w.sub_event_type
ORDER BY week, admin1 NULLS LAST, event_type, sub_event_type
