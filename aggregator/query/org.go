package query

// orgCredentials selects the credentials of the organization bound twice:
// those the registry names it for, and those whose pages were seen on its
// hosts that the registry names no organization for. Only the rollups
// with a credential column can be kept to it, so an organization's queries
// read those.
const orgCredentials = `SELECT id FROM credentials GROUP BY id HAVING argMax(organization, version) = ?
UNION ALL
SELECT credential FROM credential_hosts
WHERE url_host IN (SELECT arrayJoin(hosts) FROM organizations FINAL WHERE id = ? AND deleted_at = toDateTime(0))
AND credential NOT IN (SELECT id FROM credentials GROUP BY id HAVING argMax(organization, version) != '')`
