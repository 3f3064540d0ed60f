"""Product modules: each may import tessera.core and itself, never another module."""
