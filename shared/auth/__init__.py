"""App-only tokens for customer tenants: the partner app's credentials, MSAL, and Entra ID errors.

Within ``shared``, may import only ``shared.platform`` and ``shared.domain`` (and itself).
"""
