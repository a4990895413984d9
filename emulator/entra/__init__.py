"""Emulated Entra ID: the login hosts (``login``), client authentication at the token endpoint
(``client_auth``), its error answers (``errors``), and the signed access tokens (``tokens``) that Entra
issues and the emulated APIs, Key Vault and the managed identity endpoint verify.
"""
