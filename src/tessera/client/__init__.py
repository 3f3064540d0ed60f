"""Python clients shipped with the Tessera package."""
