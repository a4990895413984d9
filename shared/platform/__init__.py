"""Process plumbing: settings and their checks, HTTP sessions, lazy singletons, Storage clients, secrets.

Within ``shared``, may import only ``shared.domain`` (and itself).
"""
