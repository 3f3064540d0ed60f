"""The shared core: everything a module may use. Never imports `tessera.modules`."""
