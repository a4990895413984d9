"""The relay's own model: errors, clouds, the catalogue, jobs, envelopes, machines, tenants, checkpoints.

May import nothing but the standard library and ``shared.domain`` itself.
"""
