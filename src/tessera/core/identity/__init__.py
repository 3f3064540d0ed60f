"""Accounts, sessions, tokens, API keys and admin (seed 004)."""
