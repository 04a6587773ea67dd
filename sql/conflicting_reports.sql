-- kind: view
-- Each incident whose reports disagree on a figure, with every report's outlet, figures, qualifiers and evidence sentence side by side.
SELECT
    CAST(i.incident_id AS VARCHAR)            AS incident_id,
    CAST(i.event_date AS DATE)                AS event_date,
    CAST(i.location AS VARCHAR)               AS location,
    CAST(i.admin1 AS VARCHAR)                 AS admin1,
    CAST(i.event_type AS VARCHAR)             AS event_type,
    CAST(i.fatalities_low AS BIGINT)          AS fatalities_low,
    CAST(i.fatalities_best AS BIGINT)         AS fatalities_best,
    CAST(i.fatalities_high AS BIGINT)         AS fatalities_high,
    CAST(r.role AS VARCHAR)                   AS role,
    CAST(a.outlet AS VARCHAR)                 AS outlet,
    CAST(a.published_at AS DATE)              AS published_at,
    CAST(a.url AS VARCHAR)                    AS url,
    CAST(e.event_date AS DATE)                AS reported_date,
    CAST(e.date_precision AS VARCHAR)         AS reported_date_precision,
    CAST(e.fatalities AS BIGINT)              AS fatalities,
    CAST(e.fatalities_qualifier AS VARCHAR)   AS fatalities_qualifier,
    CAST(e.wounded AS BIGINT)                 AS wounded,
    CAST(e.wounded_qualifier AS VARCHAR)      AS wounded_qualifier,
    CAST(e.detained AS BIGINT)                AS detained,
    CAST(e.detained_qualifier AS VARCHAR)     AS detained_qualifier,
    CAST(e.evidence AS VARCHAR)               AS evidence,
    CAST(e.event_id AS VARCHAR)               AS event_id,
    CAST(e.article_id AS VARCHAR)             AS article_id
FROM incidents AS i
JOIN incident_reports AS r ON r.incident_id = i.incident_id
JOIN events AS e ON e.event_id = r.event_id
LEFT JOIN articles AS a ON a.article_id = r.article_id
WHERE i.conflicting
ORDER BY i.event_date NULLS LAST, i.incident_id, r.role, a.published_at NULLS LAST, a.outlet NULLS LAST, e.event_id
