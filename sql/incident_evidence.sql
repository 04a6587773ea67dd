-- kind: view
-- Every figure behind an incident (killed, wounded, detained; one row per report and figure) with outlet, url and evidence sentence.
SELECT
    CAST(f.incident_id AS VARCHAR)   AS incident_id,
    CAST(f.role AS VARCHAR)          AS role,
    CAST(f.figure AS VARCHAR)        AS figure,
    CAST(f.value AS BIGINT)          AS value,
    CAST(f.qualifier AS VARCHAR)     AS qualifier,
    CAST(a.outlet AS VARCHAR)        AS outlet,
    CAST(a.url AS VARCHAR)           AS url,
    CAST(a.published_at AS DATE)     AS published_at,
    CAST(f.reported_date AS DATE)    AS reported_date,
    CAST(f.evidence AS VARCHAR)      AS evidence,
    CAST(f.evidence_start AS BIGINT) AS evidence_start,
    CAST(f.evidence_end AS BIGINT)   AS evidence_end,
    CAST(f.event_id AS VARCHAR)      AS event_id,
    CAST(f.article_id AS VARCHAR)    AS article_id
FROM (
    SELECT r.incident_id, r.role, r.article_id, e.event_id, e.event_date AS reported_date,
           e.evidence, e.evidence_start, e.evidence_end, fig.figure, fig.value, fig.qualifier
    FROM incident_reports AS r
    JOIN events AS e ON e.event_id = r.event_id
    CROSS JOIN LATERAL (
        SELECT 'fatalities' AS figure, e.fatalities AS value, e.fatalities_qualifier AS qualifier
        UNION ALL SELECT 'wounded', e.wounded, e.wounded_qualifier
        UNION ALL SELECT 'detained', e.detained, e.detained_qualifier
    ) AS fig
    WHERE fig.value IS NOT NULL OR fig.qualifier IS NOT NULL
) AS f
LEFT JOIN articles AS a ON a.article_id = f.article_id
ORDER BY f.incident_id, f.figure, f.role, a.published_at NULLS LAST, f.event_id
