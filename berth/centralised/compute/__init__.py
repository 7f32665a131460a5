"""berth's compute API, shaped like Nova's: flavors, servers, server groups, availability zones.

`compute.db` keeps the plane's own state in SQL (servers, flavors, groups, compute services);
`compute.api` serves it as a small JSON API with an OpenAPI document.  The conductor and the
scheduler read and change the same tables through `compute.db.Repo`; agents register through
the API.  Used by `berth up --plane centralised` and the centralised tests.
"""
