"""Superset configuration for the transcript (tests/clients/superset/superset_transcript.py).

The metadata database is a SQLite file in a temporary directory that the script makes;
nothing is cached between runs, so each run starts with an empty Superset.
"""
import os

SECRET_KEY = "strata-superset-transcript"  # a test instance on loopback only
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.environ["SUPERSET_META_DB"]
# The REST API is driven through Flask's test client (no CSRF token in its requests).
WTF_CSRF_ENABLED = False
TALISMAN_ENABLED = False
# No cache anywhere: every chart query reaches the server.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
