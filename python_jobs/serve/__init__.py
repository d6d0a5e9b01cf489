"""The query layer the app and the API call: marts only, indexed keys, bound parameters.

`follows.top_films(conn, user_id)`: the top films of "me + the people I follow", computed on demand.
"""
