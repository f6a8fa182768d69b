"""`raqib web`: a small, fast, self-hosted analyst workspace over raqib's own index.

app.py (routes and templates), queries.py (what the pages ask Elasticsearch, through
pipelines.search), render.py (article text and evidence as safe HTML), saved.py (saved
searches and the alert rules made from them), security.py (binding, auth, CSRF, CSP),
geo.py (the map), server.py (uvicorn in the foreground or inside `raqib run`).
"""
