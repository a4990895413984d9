"""Ingestion: sweep, worker, job runner, change source, checkpoint table, job queue, drain, and the sinks.

Within ``shared``, may import only itself and the packages below it (defender, auth, tenants, platform, domain).
"""
